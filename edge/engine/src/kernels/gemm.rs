//! Bounds-checked strided single-precision matrix views and `C (+)= A·B` on the `gemm` crate.
//! The views can only be built through checked constructors: every element they name lies
//! inside their slice (extents computed with overflow checks) and every stride fits `isize`;
//! a destination view also names each element at most once (no zero or overlapping strides),
//! so gemm's parallel writes never race. [`matmul`] checks the shapes and makes the one raw
//! pointer call into `gemm`.

use candle_core::{Result, bail};

/// A read-only matrix view: element (i, j) is `data[i * rs + j * cs]`. Strides may be zero
/// (a broadcast row or column).
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// A mutable matrix view: element (i, j) is `data[i * rs + j * cs]`, and no two elements share
/// a place in `data`.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// Largest index a view touches plus one (0 for an empty view), or an error when a stride
/// does not fit `isize` or the extent overflows.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Result<usize> {
    if isize::try_from(rs).is_err() || isize::try_from(cs).is_err() {
        bail!("matrix view strides {rs}, {cs} exceed isize::MAX");
    }
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "matrix view {rows}x{cols} with strides {rs}, {cs} overflows usize"
            ))
        })
}

fn check_inside(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<()> {
    let need = extent(rows, cols, rs, cs)?;
    if need > len {
        bail!(
            "matrix view {rows}x{cols} with strides {rs}, {cs} needs {need} elements, buffer has {len}"
        );
    }
    Ok(())
}

impl<'a> MatRef<'a> {
    /// A view of `data` with row stride `rs` and column stride `cs`; refused when an element
    /// would lie outside `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        check_inside(data.len(), rows, cols, rs, cs)?;
        Ok(MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// A contiguous row-major `rows`×`cols` matrix at the start of `data`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        MatRef::new(data, rows, cols, cols, 1)
    }

    /// The transpose (a view, no copy; the same elements, so still inside `data`).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

impl<'a> MatMut<'a> {
    /// A view of `data` with row stride `rs` and column stride `cs`; refused when an element
    /// would lie outside `data` or two elements would share a place: a zero stride along a
    /// dimension of more than one element, or strides whose rows and columns interleave.
    pub fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Result<Self> {
        check_inside(data.len(), rows, cols, rs, cs)?;
        // Order the two dimensions by stride: the inner one's whole span must fit in one step
        // of the outer one (then i·inner + j·outer is unique). A dimension of one element
        // takes no step, so only the other's stride must be non-zero; an empty view writes
        // nothing.
        let mut dims = [(rs, rows), (cs, cols)];
        dims.sort_unstable();
        let [(inner_s, inner_n), (outer_s, outer_n)] = dims;
        let distinct = rows == 0
            || cols == 0
            || match (inner_n > 1, outer_n > 1) {
                (true, true) => inner_s > 0 && outer_s >= inner_s.saturating_mul(inner_n),
                (true, false) => inner_s > 0,
                (false, true) => outer_s > 0,
                (false, false) => true,
            };
        if !distinct {
            bail!(
                "destination view {rows}x{cols} with strides {rs}, {cs} may write an element twice \
                 (a zero stride, or rows and columns that interleave)"
            );
        }
        Ok(MatMut {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// A contiguous row-major `rows`×`cols` matrix at the start of `data`.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self> {
        MatMut::new(data, rows, cols, cols, 1)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
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
    // SAFETY: the constructors proved that every element of the three views lies inside its
    // slice (overflow-checked extents of non-negative strides) and that every stride fits
    // `isize`, so the casts below are exact; `dst` names each element at most once, so gemm's
    // threads write disjoint places; `dst` is a unique borrow, so it cannot alias `a` or `b`.
    // gemm computes dst = alpha·dst + beta·a·b with alpha = beta = 1: `read_dst = accumulate`
    // reads the old `dst` only when accumulating (it is initialised, being a `&mut [f32]`) and
    // overwrites it without reading otherwise. The shapes were checked above.
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
        let ar = MatRef::row_major(&a, m, k).unwrap();
        let br = MatRef::row_major(&b, k, n).unwrap();
        let want = naive(ar, br);
        for threads in [1, 2] {
            let mut c = vec![0.0f32; m * n];
            let btr = MatRef::row_major(&bt, n, k).unwrap().t();
            matmul(
                MatMut::row_major(&mut c, m, n).unwrap(),
                ar,
                btr,
                false,
                threads,
            )
            .unwrap();
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
            // Accumulate into a column-major destination.
            let mut cc = vec![1.0f32; m * n];
            let dst = MatMut::new(&mut cc, m, n, 1, m).unwrap();
            matmul(dst, ar, br, true, threads).unwrap();
            for i in 0..m {
                for j in 0..n {
                    assert!((cc[j * m + i] - 1.0 - want[i * n + j]).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn without_accumulate_the_old_destination_is_not_read() {
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [1.0f32, 0.0, 0.0, 1.0];
        let mut c = [f32::NAN; 4];
        let (ar, br) = (
            MatRef::row_major(&a, 2, 2).unwrap(),
            MatRef::row_major(&b, 2, 2).unwrap(),
        );
        matmul(MatMut::row_major(&mut c, 2, 2).unwrap(), ar, br, false, 1).unwrap();
        assert_eq!(c, a);
        matmul(MatMut::row_major(&mut c, 2, 2).unwrap(), ar, br, true, 1).unwrap();
        assert_eq!(c, [2.0, 4.0, 6.0, 8.0]);
    }

    fn rejected(r: Result<impl std::fmt::Debug>, want: &str) {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(want), "expected {want:?} in {e:?}");
    }

    #[test]
    fn rejects_views_outside_their_buffers() {
        let a = vec![0.0f32; 6];
        let mut c = vec![0.0f32; 4];
        rejected(
            MatRef::row_major(&a, 3, 3),
            "needs 9 elements, buffer has 6",
        );
        rejected(MatRef::new(&a, 2, 2, 5, 1), "needs 7");
        assert!(MatRef::new(&a, 2, 2, 4, 1).is_ok() && MatRef::new(&a, 2, 2, 3, 2).is_ok());
        rejected(
            MatMut::row_major(&mut c, 2, 3),
            "needs 6 elements, buffer has 4",
        );
        rejected(MatMut::new(&mut c, 2, 2, 1, 3), "needs 5");
    }

    #[test]
    fn rejects_extents_that_overflow() {
        let a = vec![0.0f32; 8];
        let mut c = vec![0.0f32; 8];
        // Unchecked, (rows-1)·rs and the sum wrap around to a small extent that would pass.
        let half = isize::MAX as usize;
        rejected(MatRef::new(&a, 4, 1, half, 1), "overflows");
        rejected(MatRef::new(&a, 2, 3, half, half), "overflows");
        rejected(MatRef::new(&a, 2, 2, 1, usize::MAX), "exceed isize::MAX");
        rejected(MatMut::new(&mut c, 1, 4, 1, half), "overflows");
        // A stride that does not fit isize is refused even where it is never stepped.
        rejected(
            MatMut::new(&mut c, 1, 2, usize::MAX, 1),
            "exceed isize::MAX",
        );
    }

    #[test]
    fn rejects_zero_and_aliasing_destination_strides() {
        let mut c = vec![0.0f32; 16];
        let twice = "may write an element twice";
        rejected(MatMut::new(&mut c, 2, 2, 0, 1), twice);
        rejected(MatMut::new(&mut c, 2, 2, 1, 0), twice);
        rejected(MatMut::new(&mut c, 3, 1, 0, 1), twice);
        rejected(MatMut::new(&mut c, 2, 2, 1, 1), twice);
        // Row-major rows that overlap by one element; strides 2 and 3, where element (3, 0)
        // is element (0, 2).
        rejected(MatMut::new(&mut c, 3, 4, 3, 1), twice);
        rejected(MatMut::new(&mut c, 4, 3, 2, 3), twice);
        // Distinct layouts pass: row- and column-major, padded rows, a strided column, and a
        // zero stride along a dimension of one element (never stepped).
        for (rows, cols, rs, cs) in [
            (3, 4, 4, 1),
            (3, 4, 1, 3),
            (3, 4, 5, 1),
            (4, 1, 3, 0),
            (1, 4, 0, 2),
        ] {
            assert!(
                MatMut::new(&mut c, rows, cols, rs, cs).is_ok(),
                "{rows}x{cols} {rs},{cs}"
            );
        }
        // Read views may broadcast.
        assert!(MatRef::new(&c, 4, 4, 0, 1).is_ok());
    }

    #[test]
    fn rejects_shapes_that_do_not_agree() {
        let a = vec![0.0f32; 6];
        let mut c = vec![0.0f32; 4];
        let ar = MatRef::row_major(&a, 2, 3).unwrap();
        let dst = MatMut::row_major(&mut c, 2, 2).unwrap();
        rejected(
            matmul(dst, ar, MatRef::row_major(&a, 2, 2).unwrap(), false, 1),
            "do not agree",
        );
    }
}
