//! BatchNorm2d in training mode (batch statistics over N, H, W; biased variance; eps 1e-5)
//! fused with LeakyReLU as one candle op. Only the input is kept for the backward pass (the
//! statistics are recomputed, one cheap pass), and the activation's mask is read from the
//! op's own output, so a conv → BN → LeakyReLU block stores two tensors instead of candle's
//! eight intermediates.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::cpu::{slice, with_slice};

/// BatchNorm's epsilon (PyTorch's default).
pub const EPS: f64 = 1e-5;

/// `LeakyReLU(slope)(BatchNorm2d(x))` with batch statistics and affine `gamma`, `beta` (C);
/// `slope = 1` is plain BatchNorm. `x` is (N, C, H, W) f32 on the CPU.
pub fn batch_norm_lrelu(x: &Tensor, gamma: &Tensor, beta: &Tensor, slope: f32) -> Result<Tensor> {
    if !(slope > 0.0 && slope <= 1.0) {
        bail!("LeakyReLU slope must be in (0, 1], got {slope}");
    }
    x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, BnLeaky { slope })
}

#[derive(Debug, Clone, Copy)]
struct BnLeaky {
    slope: f32,
}

/// (N, C, H·W) of an NCHW shape.
fn dims(d: &[usize]) -> Result<(usize, usize, usize)> {
    match d {
        &[n, c, h, w] if n * h * w > 0 => Ok((n, c, h * w)),
        _ => bail!("batch norm expects a non-empty (N, C, H, W) input, got {d:?}"),
    }
}

/// Per-channel (mean, 1/√(var + eps)), two-pass in f64.
fn stats(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<(f32, f32)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || (0..n).map(move |i| &x[(i * c + ch) * hw..][..hw]);
            let m = (n * hw) as f64;
            let mean = planes()
                .map(|p| p.iter().map(|&v| f64::from(v)).sum::<f64>())
                .sum::<f64>()
                / m;
            let var = planes()
                .map(|p| {
                    p.iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / m;
            (mean as f32, (1.0 / (var + EPS).sqrt()) as f32)
        })
        .collect()
}

impl CustomOp3 for BnLeaky {
    fn name(&self) -> &'static str {
        "batch-norm-leaky-relu"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, hw) = dims(lx.dims())?;
        if lg.dims() != [c] || lb.dims() != [c] {
            bail!(
                "batch norm: gamma {:?} and beta {:?} must be [{c}]",
                lg.dims(),
                lb.dims()
            );
        }
        let (x, g, b) = (slice(sx, lx)?, slice(sg, lg)?, slice(sb, lb)?);
        let st = stats(x, n, c, hw);
        let slope = self.slope;
        let mut out = vec![0.0f32; x.len()];
        out.par_chunks_mut(hw)
            .zip(x.par_chunks(hw))
            .enumerate()
            .for_each(|(i, (o, xi))| {
                let ch = i % c;
                let (mean, inv) = st[ch];
                let a = g[ch] * inv;
                let s = b[ch] - mean * a;
                for (o, &v) in o.iter_mut().zip(xi) {
                    let y = v * a + s;
                    *o = if y > 0.0 { y } else { y * slope };
                }
            });
        Ok((CpuStorage::F32(out), lx.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, hw) = dims(x.dims())?;
        let slope = self.slope;
        let dev = x.device();
        let (dx, dg, db) = with_slice(x, |xs| {
            with_slice(gamma, |gs| {
                with_slice(res, |out| {
                    with_slice(grad, |gr| Ok(backward(xs, gs, out, gr, n, c, hw, slope)))
                })
            })
        })?;
        let dx = if x.track_op() {
            Some(Tensor::from_vec(dx, x.shape(), dev)?)
        } else {
            None
        };
        Ok((
            dx,
            Some(Tensor::from_vec(dg, gamma.shape(), dev)?),
            Some(Tensor::from_vec(db, beta.shape(), dev)?),
        ))
    }
}

/// Gradients (dx, dγ, dβ) of the fused op.
// The slices of the forward pass plus its geometry.
#[allow(clippy::too_many_arguments)]
fn backward(
    x: &[f32],
    gamma: &[f32],
    out: &[f32],
    grad: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    slope: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let st = stats(x, n, c, hw);
    // dL/dy, y being the BatchNorm output: the activation's slope where its output is ≤ 0
    // (the output has the sign of y because slope > 0).
    let dy = |o: f32, g: f32| if o > 0.0 { g } else { g * slope };
    let m = (n * hw) as f64;
    // Per channel Σ dy and Σ dy·x̂.
    let sums: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mean, inv) = st[ch];
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for i in 0..n {
                let off = (i * c + ch) * hw;
                for ((&xv, &o), &g) in x[off..off + hw]
                    .iter()
                    .zip(&out[off..off + hw])
                    .zip(&grad[off..off + hw])
                {
                    let d = f64::from(dy(o, g));
                    s1 += d;
                    s2 += d * f64::from((xv - mean) * inv);
                }
            }
            (s1, s2)
        })
        .collect();
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(hw).enumerate().for_each(|(i, d)| {
        let ch = i % c;
        let (mean, inv) = st[ch];
        let (s1, s2) = sums[ch];
        let k = gamma[ch] * inv;
        let (mean_dy, mean_dyx) = ((s1 / m) as f32, (s2 / m) as f32);
        let off = i * hw;
        for (((d, &xv), &o), &g) in d
            .iter_mut()
            .zip(&x[off..off + hw])
            .zip(&out[off..off + hw])
            .zip(&grad[off..off + hw])
        {
            let xhat = (xv - mean) * inv;
            *d = k * (dy(o, g) - mean_dy - xhat * mean_dyx);
        }
    });
    let dg = sums.iter().map(|s| s.1 as f32).collect();
    let db = sums.iter().map(|s| s.0 as f32).collect();
    (dx, dg, db)
}
