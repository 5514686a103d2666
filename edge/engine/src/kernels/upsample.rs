//! Bilinear ×2 upsampling with PyTorch's `align_corners = false` as one candle op: output 2i is
//! 0.75·x[i] + 0.25·x[i−1], output 2i+1 is 0.75·x[i] + 0.25·x[i+1], indices clamped at the
//! borders, in both spatial dims; the backward pass is its exact adjoint. Nothing is stored for
//! the backward pass (the weights are constants).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::cpu::{slice, with_slice, zeroed};

/// Bilinear ×2 upsampling (align_corners = false) of an (N, C, H, W) f32 CPU tensor.
pub fn upsample2x_bilinear(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Upsample2x)
}

#[derive(Debug, Clone, Copy)]
struct Upsample2x;

fn dims(d: &[usize]) -> Result<(usize, usize, usize)> {
    match d {
        &[n, c, h, w] if h > 0 && w > 0 => Ok((n * c, h, w)),
        _ => bail!("upsampling expects a non-empty (N, C, H, W) input, got {d:?}"),
    }
}

/// The two source indices of output `o` along a side of length `n` (weight 0.75, 0.25).
#[inline(always)]
fn taps(o: usize, n: usize) -> (usize, usize) {
    let i = o / 2;
    if o.is_multiple_of(2) {
        (i, i.saturating_sub(1))
    } else {
        (i, (i + 1).min(n - 1))
    }
}

/// One plane `x` (h × w) into `out` (2h × 2w), via a row-upsampled temporary `tmp` (h × 2w).
fn forward_plane(x: &[f32], h: usize, w: usize, tmp: &mut [f32], out: &mut [f32]) {
    let w2 = 2 * w;
    for (xr, tr) in x.chunks(w).zip(tmp.chunks_mut(w2)) {
        for (o, t) in tr.iter_mut().enumerate() {
            let (a, b) = taps(o, w);
            *t = 0.75 * xr[a] + 0.25 * xr[b];
        }
    }
    for (o, orow) in out.chunks_mut(w2).enumerate() {
        let (a, b) = taps(o, h);
        let (ra, rb) = (&tmp[a * w2..][..w2], &tmp[b * w2..][..w2]);
        for ((d, &va), &vb) in orow.iter_mut().zip(ra).zip(rb) {
            *d = 0.75 * va + 0.25 * vb;
        }
    }
}

/// Adjoint of [`forward_plane`]: `g` (2h × 2w) into `dx` (h × w).
fn backward_plane(g: &[f32], h: usize, w: usize, tmp: &mut [f32], dx: &mut [f32]) {
    let w2 = 2 * w;
    tmp.fill(0.0);
    for (o, grow) in g.chunks(w2).enumerate() {
        let (a, b) = taps(o, h);
        for (t, &v) in tmp[a * w2..][..w2].iter_mut().zip(grow) {
            *t += 0.75 * v;
        }
        for (t, &v) in tmp[b * w2..][..w2].iter_mut().zip(grow) {
            *t += 0.25 * v;
        }
    }
    dx.fill(0.0);
    for (dr, tr) in dx.chunks_mut(w).zip(tmp.chunks(w2)) {
        for (o, &v) in tr.iter().enumerate() {
            let (a, b) = taps(o, w);
            dr[a] += 0.75 * v;
            dr[b] += 0.25 * v;
        }
    }
}

impl CustomOp1 for Upsample2x {
    fn name(&self) -> &'static str {
        "upsample2x-bilinear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (planes, h, w) = dims(l.dims())?;
        let x = slice(s, l)?;
        let mut out = zeroed(planes * 4 * h * w);
        out.par_chunks_mut(4 * h * w)
            .zip(x.par_chunks(h * w))
            .for_each_init(
                || vec![0.0f32; 2 * h * w],
                |tmp, (o, xi)| forward_plane(xi, h, w, tmp, o),
            );
        let d = l.dims();
        Ok((
            CpuStorage::F32(out),
            Shape::from((d[0], d[1], 2 * h, 2 * w)),
        ))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !arg.track_op() {
            return Ok(None);
        }
        let (planes, h, w) = dims(arg.dims())?;
        let dx = with_slice(grad, |g| {
            let mut dx = zeroed(planes * h * w);
            dx.par_chunks_mut(h * w)
                .zip(g.par_chunks(4 * h * w))
                .for_each_init(
                    || vec![0.0f32; 2 * h * w],
                    |tmp, (d, gi)| backward_plane(gi, h, w, tmp, d),
                );
            Ok(dx)
        })?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}
