//! Reflect-padded 2-D convolution with bias as one candle op: `ReflectionPad2d(k/2)` followed
//! by `Conv2d(stride, bias)` for 3×3 kernels (stride 1 or 2) and 1×1 kernels (stride 1), with
//! forward, input-gradient and weight/bias-gradient passes as GEMMs on the `gemm` crate.
//!
//! The padding is never materialised: im2col reads the reflected pixels directly, and the
//! input gradient's col2im scatters them back onto the pixels they mirror. im2col is done in
//! tiles of whole output rows, so the column buffer stays a few MB whatever the frame size.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::cpu::{Scratch, reflect, slice, with_slice, zeroed};
use super::gemm::{MatMut, MatRef, matmul, threads};

/// Elements of the im2col buffer per tile (8 MB of f32).
const TILE_ELEMS: usize = 1 << 21;

/// Geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geom {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    k: usize,
    stride: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    fn new(x: &[usize], wt: &[usize], stride: usize) -> Result<Self> {
        let (&[n, cin, h, w], &[cout, wcin, kh, kw]) = (x, wt) else {
            bail!("conv expects a 4-D input and weight, got {x:?} and {wt:?}");
        };
        if wcin != cin || kh != kw || !supported(kh, stride) {
            bail!("unsupported conv: input {x:?}, weight {wt:?}, stride {stride}");
        }
        let pad = kh / 2;
        if pad >= h || pad >= w {
            bail!("reflection padding {pad} needs sides longer than {pad}, got {h}x{w}");
        }
        let ho = (h + 2 * pad - kh) / stride + 1;
        let wo = (w + 2 * pad - kw) / stride + 1;
        Ok(Geom {
            n,
            cin,
            h,
            w,
            cout,
            k: kh,
            stride,
            ho,
            wo,
        })
    }

    /// Rows of the im2col matrix (= GEMM depth).
    fn kdim(&self) -> usize {
        self.cin * self.k * self.k
    }

    fn pad(&self) -> isize {
        (self.k / 2) as isize
    }

    fn is_pointwise(&self) -> bool {
        self.k == 1
    }

    /// Output rows per im2col tile.
    fn tile_rows(&self) -> usize {
        (TILE_ELEMS / (self.kdim() * self.wo).max(1)).clamp(1, self.ho)
    }
}

/// Whether [`conv2d_reflect`] has a kernel for this kernel size and stride.
pub fn supported(kernel: usize, stride: usize) -> bool {
    matches!((kernel, stride), (3, 1) | (3, 2) | (1, 1))
}

/// `Conv2d(ReflectionPad2d(k/2)(x), weight, bias, stride)` for f32 CPU tensors; `x` is
/// (N, Cin, H, W), `weight` (Cout, Cin, k, k), `bias` (Cout). Differentiable in all three.
pub fn conv2d_reflect(x: &Tensor, weight: &Tensor, bias: &Tensor, stride: usize) -> Result<Tensor> {
    Geom::new(x.dims(), weight.dims(), stride)?;
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        ReflectConv { stride },
    )
}

/// The candle op behind [`conv2d_reflect`].
#[derive(Debug, Clone, Copy)]
struct ReflectConv {
    stride: usize,
}

/// Copies `src[reflect(ox·s + off)]` into `dst[ox]`; the in-range middle as a plain copy.
#[inline]
fn gather_row(dst: &mut [f32], src: &[f32], s: usize, off: isize) {
    let (lo, hi) = inner_range(dst.len(), src.len(), s, off);
    for (ox, d) in dst.iter_mut().enumerate().take(lo) {
        *d = src[reflect(ox as isize * s as isize + off, src.len())];
    }
    if hi > lo {
        let start = (lo as isize * s as isize + off) as usize;
        if s == 1 {
            dst[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
        } else {
            // Whole `chunks_exact(s)` then the last element: no check per element, and the
            // strided loads vectorise as shuffles.
            let n = hi - lo;
            let (body, last) = dst[lo..hi].split_at_mut(n - 1);
            for (d, c) in body.iter_mut().zip(src[start..].chunks_exact(s)) {
                *d = c[0];
            }
            last[0] = src[start + (n - 1) * s];
        }
    }
    for ox in hi.max(lo)..dst.len() {
        dst[ox] = src[reflect(ox as isize * s as isize + off, src.len())];
    }
}

/// Copies `src[ox + off]` into `dst[ox]`, zero where that lies outside `src`.
#[inline]
fn gather_row_zero(dst: &mut [f32], src: &[f32], off: isize) {
    let (lo, hi) = inner_range(dst.len(), src.len(), 1, off);
    dst[..lo].fill(0.0);
    if hi > lo {
        let start = (lo as isize + off) as usize;
        dst[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
    }
    dst[hi.max(lo)..].fill(0.0);
}

/// Adds `src[ox]` onto `dst[reflect(ox·s + off)]`: the adjoint of [`gather_row`].
#[inline]
fn scatter_row(dst: &mut [f32], src: &[f32], s: usize, off: isize) {
    let (lo, hi) = inner_range(src.len(), dst.len(), s, off);
    let n = dst.len();
    for (ox, v) in src.iter().enumerate().take(lo) {
        dst[reflect(ox as isize * s as isize + off, n)] += v;
    }
    if hi > lo {
        let start = (lo as isize * s as isize + off) as usize;
        if s == 1 {
            for (d, v) in dst[start..start + hi - lo].iter_mut().zip(&src[lo..hi]) {
                *d += v;
            }
        } else {
            for (c, v) in dst[start..].chunks_mut(s).zip(&src[lo..hi]) {
                c[0] += v;
            }
        }
    }
    for (ox, v) in src.iter().enumerate().skip(hi.max(lo)) {
        dst[reflect(ox as isize * s as isize + off, n)] += v;
    }
}

/// The output positions `lo..hi` whose input `ox·s + off` lies inside `0..n_in`.
#[inline]
fn inner_range(n_out: usize, n_in: usize, s: usize, off: isize) -> (usize, usize) {
    let s_i = s as isize;
    let lo = if off < 0 {
        ((-off + s_i - 1) / s_i) as usize
    } else {
        0
    };
    let last = n_in as isize - 1 - off;
    let hi = if last < 0 {
        0
    } else {
        (last / s_i + 1) as usize
    };
    (lo.min(n_out), hi.min(n_out))
}

/// Fills `cols` (kdim × T, T = rows·wo) with the reflect-padded patches of output rows
/// `r0..r0+rows` of one image `x` (cin × h × w).
fn im2col(g: &Geom, x: &[f32], r0: usize, rows: usize, cols: &mut [f32]) {
    let t = rows * g.wo;
    let kk = g.k * g.k;
    let hw = g.h * g.w;
    cols.par_chunks_mut(kk * t)
        .enumerate()
        .for_each(|(c, chunk)| {
            let xc = &x[c * hw..(c + 1) * hw];
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let dst = &mut chunk[(ky * g.k + kx) * t..][..t];
                    for (r, drow) in dst.chunks_mut(g.wo).enumerate() {
                        let iy =
                            reflect(((r0 + r) * g.stride) as isize + ky as isize - g.pad(), g.h);
                        gather_row(
                            drow,
                            &xc[iy * g.w..(iy + 1) * g.w],
                            g.stride,
                            kx as isize - g.pad(),
                        );
                    }
                }
            }
        });
}

/// Adds the column gradients `dcols` (kdim × T) of output rows `r0..r0+rows` back onto the
/// input gradient `dx` (cin × h × w): the adjoint of [`im2col`].
fn col2im(g: &Geom, dcols: &[f32], r0: usize, rows: usize, dx: &mut [f32]) {
    let t = rows * g.wo;
    let kk = g.k * g.k;
    let hw = g.h * g.w;
    dx.par_chunks_mut(hw)
        .zip(dcols.par_chunks(kk * t))
        .for_each(|(dxc, chunk)| {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let src = &chunk[(ky * g.k + kx) * t..][..t];
                    for (r, srow) in src.chunks(g.wo).enumerate() {
                        let iy =
                            reflect(((r0 + r) * g.stride) as isize + ky as isize - g.pad(), g.h);
                        scatter_row(
                            &mut dxc[iy * g.w..(iy + 1) * g.w],
                            srow,
                            g.stride,
                            kx as isize - g.pad(),
                        );
                    }
                }
            }
        });
}

/// The (channels × t) view of the `t` pixels from output row `r0` on, in one image's
/// (channels × ho·wo) planes: the output gradient, or the input of a 1×1 stride-1 conv
/// (whose geometry is the output's).
fn output_rows<'a>(
    g: &Geom,
    y: &'a [f32],
    channels: usize,
    r0: usize,
    t: usize,
) -> Result<MatRef<'a>> {
    MatRef::new(&y[r0 * g.wo..], channels, t, g.ho * g.wo, 1)
}

/// Forward pass: `out` (n × cout × ho × wo) from `x`, `w` (cout × kdim), `b`.
fn forward(g: &Geom, x: &[f32], w: &[f32], b: &[f32]) -> Result<Vec<f32>> {
    let (hw_in, hw_out, kd) = (g.cin * g.h * g.w, g.ho * g.wo, g.kdim());
    let mut out = zeroed(g.n * g.cout * hw_out);
    let wm = MatRef::row_major(w, g.cout, kd)?;
    let tr = g.tile_rows();
    let mut cols = Scratch::take(if g.is_pointwise() { 0 } else { kd * tr * g.wo });
    for (xi, oi) in x.chunks(hw_in).zip(out.chunks_mut(g.cout * hw_out)) {
        oi.par_chunks_mut(hw_out)
            .zip(b.par_iter())
            .for_each(|(o, &bv)| o.fill(bv));
        if g.is_pointwise() {
            matmul(
                MatMut::row_major(oi, g.cout, hw_out)?,
                wm,
                MatRef::row_major(xi, kd, hw_out)?,
                true,
                threads(),
            )?;
            continue;
        }
        let mut r0 = 0;
        while r0 < g.ho {
            let rows = tr.min(g.ho - r0);
            let t = rows * g.wo;
            let cols = &mut cols[..kd * t];
            im2col(g, xi, r0, rows, cols);
            let dst = MatMut::new(&mut oi[r0 * g.wo..], g.cout, t, hw_out, 1)?;
            matmul(dst, wm, MatRef::row_major(cols, kd, t)?, true, threads())?;
            r0 += rows;
        }
    }
    Ok(out)
}

/// Weight and bias gradients: `dw` (cout × kdim), `db` (cout).
///
/// `dw` is small (cout × kdim) and the GEMM depth is the whole image, so instead of splitting
/// each tile's small product across threads (a hand-off per tile), every thread takes a band
/// of output rows with its own column buffer and partial `dw`, and the partials are summed.
fn weight_grad(g: &Geom, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
    let (hw_in, hw_out, kd) = (g.cin * g.h * g.w, g.ho * g.wo, g.kdim());
    let mut db = vec![0.0f32; g.cout];
    for dyi in dy.chunks(g.cout * hw_out) {
        db.par_iter_mut()
            .zip(dyi.par_chunks(hw_out))
            .for_each(|(d, c)| *d += c.iter().map(|&v| f64::from(v)).sum::<f64>() as f32);
    }
    let parts = threads().clamp(1, g.ho);
    let band = g.ho.div_ceil(parts);
    // The bands share the usual tile budget.
    let tr = (g.tile_rows() / parts).max(1);
    let partials = (0..parts)
        .into_par_iter()
        .map(|p| -> Result<Vec<f32>> {
            let (ra, rb) = (p * band, ((p + 1) * band).min(g.ho));
            let mut dw = vec![0.0f32; g.cout * kd];
            let mut cols = Scratch::take(if g.is_pointwise() { 0 } else { kd * tr * g.wo });
            for (xi, dyi) in x.chunks(hw_in).zip(dy.chunks(g.cout * hw_out)) {
                let mut r0 = ra;
                while r0 < rb {
                    let rows = if g.is_pointwise() {
                        rb - r0
                    } else {
                        tr.min(rb - r0)
                    };
                    let t = rows * g.wo;
                    let dyt = output_rows(g, dyi, g.cout, r0, t)?;
                    let xt = if g.is_pointwise() {
                        // The input pixels are the columns.
                        output_rows(g, xi, kd, r0, t)?
                    } else {
                        let cols = &mut cols[..kd * t];
                        im2col(g, xi, r0, rows, cols);
                        MatRef::row_major(cols, kd, t)?
                    };
                    matmul(
                        MatMut::row_major(&mut dw, g.cout, kd)?,
                        dyt,
                        xt.t(),
                        true,
                        1,
                    )?;
                    r0 += rows;
                }
            }
            Ok(dw)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut parts_iter = partials.into_iter();
    let mut dw = parts_iter
        .next()
        .unwrap_or_else(|| vec![0.0f32; g.cout * kd]);
    for p in parts_iter {
        dw.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    Ok((dw, db))
}

/// Input gradient of a 3×3 stride-1 convolution, as a forward convolution: the gradient on the
/// reflect-padded input is the output gradient, zero-padded by 2, correlated with the flipped
/// and transposed weights; the padded border is then folded back onto the pixels it mirrors.
/// The GEMM is then as deep as the forward's (cout·9); in the col2im form it is only cout deep,
/// and the 9× column buffer it writes and col2im reads back cost more than the arithmetic when
/// cout is small.
fn input_grad_3x3(g: &Geom, w: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    let (hw_in, hw_out) = (g.cin * g.h * g.w, g.ho * g.wo);
    // Padded input size; the "image" read by the im2col below is dy (cout × h × w).
    let (hp, wp) = (g.h + 2, g.w + 2);
    let kd = g.cout * 9;
    // wt[ci, (co, ky, kx)] = w[co, ci, 2 − ky, 2 − kx]
    let mut wt = vec![0.0f32; g.cin * kd];
    for co in 0..g.cout {
        for ci in 0..g.cin {
            let src = &w[(co * g.cin + ci) * 9..][..9];
            let dst = &mut wt[ci * kd + co * 9..][..9];
            for (t, d) in dst.iter_mut().enumerate() {
                *d = src[8 - t];
            }
        }
    }
    let wm = MatRef::row_major(&wt, g.cin, kd)?;
    let tr = (TILE_ELEMS / (kd * wp)).clamp(1, hp);
    let mut cols = Scratch::take(kd * tr * wp);
    let mut tile = Scratch::take(g.cin * tr * wp);
    let mut dx = zeroed(g.n * hw_in);
    for (dxi, dyi) in dx.chunks_mut(hw_in).zip(dy.chunks(g.cout * hw_out)) {
        let mut p0 = 0;
        while p0 < hp {
            let rows = tr.min(hp - p0);
            let t = rows * wp;
            let cols = &mut cols[..kd * t];
            cols.par_chunks_mut(9 * t)
                .zip(dyi.par_chunks(hw_out))
                .for_each(|(chunk, dyc)| {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let dst = &mut chunk[(ky * 3 + kx) * t..][..t];
                            for (r, drow) in dst.chunks_mut(wp).enumerate() {
                                let iy = (p0 + r + ky) as isize - 2;
                                if iy < 0 || iy >= g.h as isize {
                                    drow.fill(0.0);
                                } else {
                                    let iy = iy as usize;
                                    let src = &dyc[iy * g.wo..(iy + 1) * g.wo];
                                    gather_row_zero(drow, src, kx as isize - 2);
                                }
                            }
                        }
                    }
                });
            let tile = &mut tile[..g.cin * t];
            matmul(
                MatMut::row_major(tile, g.cin, t)?,
                wm,
                MatRef::row_major(cols, kd, t)?,
                false,
                threads(),
            )?;
            // Fold padded row p0 + r onto input row reflect(p0 + r − 1), columns likewise.
            dxi.par_chunks_mut(g.h * g.w)
                .zip(tile.par_chunks(t))
                .for_each(|(dxc, tc)| {
                    for (r, trow) in tc.chunks(wp).enumerate() {
                        let iy = reflect((p0 + r) as isize - 1, g.h);
                        scatter_row(&mut dxc[iy * g.w..(iy + 1) * g.w], trow, 1, -1);
                    }
                });
            p0 += rows;
        }
    }
    Ok(dx)
}

/// Input gradient `dx` (n × cin × h × w).
fn input_grad(g: &Geom, w: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    if g.k == 3 && g.stride == 1 {
        return input_grad_3x3(g, w, dy);
    }
    let (hw_in, hw_out, kd) = (g.cin * g.h * g.w, g.ho * g.wo, g.kdim());
    let mut dx = zeroed(g.n * hw_in);
    let wt = MatRef::row_major(w, g.cout, kd)?.t();
    let tr = g.tile_rows();
    let mut dcols = Scratch::take(if g.is_pointwise() { 0 } else { kd * tr * g.wo });
    for (dxi, dyi) in dx.chunks_mut(hw_in).zip(dy.chunks(g.cout * hw_out)) {
        if g.is_pointwise() {
            matmul(
                MatMut::row_major(dxi, kd, hw_out)?,
                wt,
                MatRef::row_major(dyi, g.cout, hw_out)?,
                false,
                threads(),
            )?;
            continue;
        }
        let mut r0 = 0;
        while r0 < g.ho {
            let rows = tr.min(g.ho - r0);
            let t = rows * g.wo;
            let dcols = &mut dcols[..kd * t];
            let dyt = output_rows(g, dyi, g.cout, r0, t)?;
            matmul(MatMut::row_major(dcols, kd, t)?, wt, dyt, false, threads())?;
            col2im(g, dcols, r0, rows, dxi);
            r0 += rows;
        }
    }
    Ok(dx)
}

impl CustomOp3 for ReflectConv {
    fn name(&self) -> &'static str {
        "reflect-conv2d"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(lx.dims(), lw.dims(), self.stride)?;
        if lb.dims() != [g.cout] {
            bail!("conv bias has shape {:?}, expected [{}]", lb.dims(), g.cout);
        }
        let out = forward(&g, slice(sx, lx)?, slice(sw, lw)?, slice(sb, lb)?)?;
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.cout, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = Geom::new(x.dims(), w.dims(), self.stride)?;
        let dev = x.device();
        with_slice(grad, |dy| {
            let dx = if x.track_op() {
                let dx = with_slice(w, |ws| input_grad(&g, ws, dy))?;
                Some(Tensor::from_vec(dx, x.shape(), dev)?)
            } else {
                None
            };
            let (dw, db) = with_slice(x, |xs| weight_grad(&g, xs, dy))?;
            Ok((
                dx,
                Some(Tensor::from_vec(dw, w.shape(), dev)?),
                Some(Tensor::from_vec(db, b.shape(), dev)?),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_range_covers_exactly_the_in_bounds_outputs() {
        for n_in in 2..9usize {
            for s in 1..3usize {
                for off in -1..=1isize {
                    let n_out = (n_in - 1) / s + 1;
                    let (lo, hi) = inner_range(n_out, n_in, s, off);
                    for ox in 0..n_out {
                        let i = ox as isize * s as isize + off;
                        let inside = i >= 0 && i < n_in as isize;
                        assert_eq!(
                            inside,
                            ox >= lo && ox < hi,
                            "n_in {n_in} s {s} off {off} ox {ox}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scatter_is_the_adjoint_of_gather() {
        // <gather(x), y> == <x, scatter(y)> for every stride/offset.
        for (n_in, s, off) in [(7, 1, -1), (7, 1, 1), (8, 2, -1), (7, 2, 0), (5, 2, 1)] {
            let n_out = (n_in - 1) / s + 1;
            let x: Vec<f32> = (0..n_in).map(|i| (i * i) as f32 * 0.5 - 3.0).collect();
            let y: Vec<f32> = (0..n_out).map(|i| 1.0 + i as f32).collect();
            let mut gx = vec![0.0; n_out];
            gather_row(&mut gx, &x, s, off);
            let mut sy = vec![0.0; n_in];
            scatter_row(&mut sy, &y, s, off);
            let a: f32 = gx.iter().zip(&y).map(|(a, b)| a * b).sum();
            let b: f32 = x.iter().zip(&sy).map(|(a, b)| a * b).sum();
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
