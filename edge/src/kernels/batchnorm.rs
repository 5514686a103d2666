//! BatchNorm2d in training mode (batch statistics over N, H, W; biased variance; eps 1e-5)
//! fused with LeakyReLU as one candle op. Only the input is kept for the backward pass (the
//! statistics are recomputed, one cheap pass), and the activation's mask is read from the
//! op's own output, so a conv → BN → LeakyReLU block stores two tensors instead of candle's
//! eight intermediates. The per-channel sums run in eight f32 lanes per block of 1,024
//! elements (so they vectorise) and add the blocks in f64.

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

/// Elements summed in f32 lanes before the block's total joins the f64 sum: short enough that
/// f32 rounding stays far below the f64 result's needs, long enough for the lanes to vectorise.
const BLOCK: usize = 1024;

/// `Σ f(v)` over `v`: eight f32 lanes per block of [`BLOCK`], blocks added in f64.
fn lane_sum(v: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut total = 0.0f64;
    for block in v.chunks(BLOCK) {
        let mut acc = [0.0f32; 8];
        let mut it = block.chunks_exact(8);
        for c in &mut it {
            let c: &[f32; 8] = c.try_into().expect("chunks_exact(8)");
            for j in 0..8 {
                acc[j] += f(c[j]);
            }
        }
        let tail: f32 = it.remainder().iter().map(|&v| f(v)).sum();
        total += f64::from(acc.iter().sum::<f32>() + tail);
    }
    total
}

/// `(Σ d, Σ d·(x − mean))` with `d = dy(out, grad)`, in the same lanes as [`lane_sum`].
fn lane_sums2(
    x: &[f32],
    out: &[f32],
    grad: &[f32],
    mean: f32,
    dy: impl Fn(f32, f32) -> f32,
) -> (f64, f64) {
    let (mut t1, mut t2) = (0.0f64, 0.0f64);
    for ((xb, ob), gb) in x
        .chunks(BLOCK)
        .zip(out.chunks(BLOCK))
        .zip(grad.chunks(BLOCK))
    {
        let (mut a1, mut a2) = ([0.0f32; 8], [0.0f32; 8]);
        let (xi, oi, gi) = (xb.chunks_exact(8), ob.chunks_exact(8), gb.chunks_exact(8));
        let rest = xi.remainder().len();
        for ((xc, oc), gc) in xi.zip(oi).zip(gi) {
            let xc: &[f32; 8] = xc.try_into().expect("chunks_exact(8)");
            let oc: &[f32; 8] = oc.try_into().expect("chunks_exact(8)");
            let gc: &[f32; 8] = gc.try_into().expect("chunks_exact(8)");
            for j in 0..8 {
                let d = dy(oc[j], gc[j]);
                a1[j] += d;
                a2[j] += d * (xc[j] - mean);
            }
        }
        let (mut s1, mut s2) = (a1.iter().sum::<f32>(), a2.iter().sum::<f32>());
        let n = xb.len();
        for i in n - rest..n {
            let d = dy(ob[i], gb[i]);
            s1 += d;
            s2 += d * (xb[i] - mean);
        }
        t1 += f64::from(s1);
        t2 += f64::from(s2);
    }
    (t1, t2)
}

/// Per-channel (mean, 1/√(var + eps)), two-pass.
fn stats(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<(f32, f32)> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || (0..n).map(move |i| &x[(i * c + ch) * hw..][..hw]);
            let m = (n * hw) as f64;
            let mean = planes().map(|p| lane_sum(p, |v| v)).sum::<f64>() / m;
            let mf = mean as f32;
            let var = planes()
                .map(|p| {
                    lane_sum(p, |v| {
                        let d = v - mf;
                        d * d
                    })
                })
                .sum::<f64>()
                / m;
            (mf, (1.0 / (var + EPS).sqrt()) as f32)
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
                let r = off..off + hw;
                let (a, b) = lane_sums2(&x[r.clone()], &out[r.clone()], &grad[r], mean, dy);
                s1 += a;
                s2 += b;
            }
            (s1, s2 * f64::from(inv))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with a large offset and a tail that is not a multiple of the lanes or the block.
    fn data(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 1000.0 + ((i * 7919) % 1013) as f32 / 101.3 - 5.0)
            .collect()
    }

    #[test]
    fn lane_sums_match_f64_sums() {
        let x = data(100_003);
        let naive: f64 = x.iter().map(|&v| f64::from(v)).sum();
        assert!((lane_sum(&x, |v| v) - naive).abs() / naive < 1e-7);
        let mean = (naive / x.len() as f64) as f32;
        let sq: f64 = x
            .iter()
            .map(|&v| (f64::from(v) - f64::from(mean)).powi(2))
            .sum();
        let got = lane_sum(&x, |v| (v - mean) * (v - mean));
        assert!((got - sq).abs() / sq < 1e-5, "{got} vs {sq}");

        let out: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, _)| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let grad: Vec<f32> = (0..x.len())
            .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
            .collect();
        let dy = |o: f32, g: f32| if o > 0.0 { g } else { g * 0.2 };
        let (mut e1, mut e2) = (0.0f64, 0.0f64);
        for ((&xv, &o), &g) in x.iter().zip(&out).zip(&grad) {
            let d = f64::from(dy(o, g));
            e1 += d;
            e2 += d * (f64::from(xv) - f64::from(mean));
        }
        let (s1, s2) = lane_sums2(&x, &out, &grad, mean, dy);
        assert!((s1 - e1).abs() < 1e-6 * x.len() as f64, "{s1} vs {e1}");
        assert!(
            (s2 - e2).abs() < 1e-5 * e2.abs().max(1.0) + 1e-3,
            "{s2} vs {e2}"
        );
    }
}
