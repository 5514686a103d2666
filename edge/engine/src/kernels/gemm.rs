//! Bounds-checked strided single-precision matrix views and `C (+)= A·B` on the `gemm` crate.
//! Every raw-pointer call into `gemm` goes through [`matmul`], which checks that each view
//! stays inside its slice before handing pointers over.

use candle_core::{Result, bail};

/// A read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// A mutable matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A contiguous row-major `rows`×`cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (a view, no copy).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

impl<'a> MatMut<'a> {
    /// A contiguous row-major `rows`×`cols` matrix.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        MatMut {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
}

/// Largest index a view touches plus one (0 for an empty view).
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `dst = a·b`, or `dst += a·b` with `accumulate`, on `threads` rayon threads (1 = this thread).
pub fn matmul(
    dst: MatMut<'_>,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    threads: usize,
) -> Result<()> {
    if a.rows != dst.rows || b.cols != dst.cols || a.cols != b.rows {
        bail!(
            "matmul shapes do not agree: dst {}x{}, a {}x{}, b {}x{}",
            dst.rows,
            dst.cols,
            a.rows,
            a.cols,
            b.rows,
            b.cols
        );
    }
    if extent(dst.rows, dst.cols, dst.rs, dst.cs) > dst.data.len()
        || extent(a.rows, a.cols, a.rs, a.cs) > a.data.len()
        || extent(b.rows, b.cols, b.rs, b.cs) > b.data.len()
    {
        bail!("matmul view exceeds its buffer");
    }
    if dst.rows == 0 || dst.cols == 0 {
        return Ok(());
    }
    if a.cols == 0 {
        if !accumulate {
            for i in 0..dst.rows {
                for j in 0..dst.cols {
                    dst.data[i * dst.rs + j * dst.cs] = 0.0;
                }
            }
        }
        return Ok(());
    }
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the three views were checked above to lie inside their slices (strides are
    // non-negative, so `extent` is the largest offset touched); `dst` is a unique borrow, so it
    // cannot alias `a` or `b`; with `read_dst = false` gemm never reads the old `dst`.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            a.cols,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// The thread count kernels hand to rayon-parallel GEMMs: rayon's pool size.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef, b: MatRef) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0.0f64;
                for k in 0..a.cols {
                    s += f64::from(a.data[i * a.rs + k * a.cs])
                        * f64::from(b.data[k * b.rs + j * b.cs]);
                }
                out[i * b.cols + j] = s as f32;
            }
        }
        out
    }

    #[test]
    fn strided_and_transposed_products_match_naive() {
        let (m, k, n) = (37, 53, 29);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104_729) % 97) as f32 / 48.0 - 1.0)
            .collect();
        // b given as its transpose buffer (n × k), viewed transposed.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let ar = MatRef::row_major(&a, m, k);
        let br = MatRef::row_major(&b, k, n);
        let want = naive(ar, br);
        for threads in [1, 2] {
            let mut c = vec![0.0f32; m * n];
            matmul(
                MatMut::row_major(&mut c, m, n),
                ar,
                MatRef::row_major(&bt, n, k).t(),
                false,
                threads,
            )
            .unwrap();
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
            // Accumulate into a column-major destination.
            let mut cc = vec![1.0f32; m * n];
            let dst = MatMut {
                data: &mut cc,
                rows: m,
                cols: n,
                rs: 1,
                cs: m,
            };
            matmul(dst, ar, br, true, threads).unwrap();
            for i in 0..m {
                for j in 0..n {
                    assert!((cc[j * m + i] - 1.0 - want[i * n + j]).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn rejects_views_outside_their_buffers() {
        let a = vec![0.0f32; 6];
        let b = vec![0.0f32; 5];
        let mut c = vec![0.0f32; 4];
        let e = matmul(
            MatMut::row_major(&mut c, 2, 2),
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            false,
            1,
        );
        assert!(e.is_err());
        let e = matmul(
            MatMut::row_major(&mut c, 2, 2),
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&a, 2, 2),
            false,
            1,
        );
        assert!(e.is_err());
    }
}
