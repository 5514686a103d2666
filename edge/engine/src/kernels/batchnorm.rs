//! BatchNorm2d in training mode (batch statistics over N, H, W; biased variance; eps 1e-5)
//! fused with LeakyReLU as one candle op. Only the input is kept for the backward pass (with
//! the per-channel statistics the forward pass computed), and the activation's mask is read
//! from the op's own output, so a conv → BN → LeakyReLU block stores two tensors instead of
//! candle's eight intermediates.
//!
//! Each channel is one task that makes all of its passes (mean, variance and output; or the
//! two gradient sums and the input gradient) while its planes are still in the core's cache.
//! The per-channel sums run in eight f32 lanes per block of 1,024 elements, blocks added in
//! f64; the loops are branch-free so that they vectorise (see [`vectorized`]).

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::cpu::{slice, with_slice, zeroed};
use super::simd::vectorized;

/// BatchNorm's epsilon (PyTorch's default).
pub const EPS: f64 = 1e-5;

/// `LeakyReLU(slope)(BatchNorm2d(x))` with batch statistics and affine `gamma`, `beta` (C);
/// `slope = 1` is plain BatchNorm. `x` is (N, C, H, W) f32 on the CPU.
pub fn batch_norm_lrelu(x: &Tensor, gamma: &Tensor, beta: &Tensor, slope: f32) -> Result<Tensor> {
    if !(slope > 0.0 && slope <= 1.0) {
        bail!("LeakyReLU slope must be in (0, 1], got {slope}");
    }
    x.contiguous()?.apply_op3(
        &gamma.contiguous()?,
        &beta.contiguous()?,
        BnLeaky {
            slope,
            stats: Arc::default(),
        },
    )
}

#[derive(Debug, Clone)]
struct BnLeaky {
    slope: f32,
    /// Per-channel (mean, 1/√(var + eps)) of the forward pass, reused by the backward pass.
    stats: Arc<OnceLock<Vec<(f32, f32)>>>,
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

/// `Σ f(v)` over `v` in the lanes of [`lane_sum_pairs`].
#[inline(always)]
fn lane_sum(v: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    lane_sum_pairs(v, v, |a, _| f(a))
}

/// `Σ f(a, b)` over `a` and `b` (same length): eight f32 lanes per block of [`BLOCK`], blocks
/// added in f64.
#[inline(always)]
fn lane_sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut total = 0.0f64;
    for (ab, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let mut acc = [0.0f32; 8];
        let (mut ia, mut ib) = (ab.chunks_exact(8), bb.chunks_exact(8));
        for (ca, cb) in (&mut ia).zip(&mut ib) {
            let ca: &[f32; 8] = ca.try_into().expect("chunks_exact(8)");
            let cb: &[f32; 8] = cb.try_into().expect("chunks_exact(8)");
            for j in 0..8 {
                acc[j] += f(ca[j], cb[j]);
            }
        }
        let tail: f32 = ia
            .remainder()
            .iter()
            .zip(ib.remainder())
            .map(|(&x, &y)| f(x, y))
            .sum();
        total += f64::from(acc.iter().sum::<f32>() + tail);
    }
    total
}

/// `(Σ d, Σ d·(x − mean))` with `d = dy(out, grad)`: `d` is formed a block at a time in
/// `buf`, so that each sum is a plain two-operand loop that vectorises.
#[inline(always)]
fn grad_sums(
    x: &[f32],
    out: &[f32],
    grad: &[f32],
    mean: f32,
    dy: impl Fn(f32, f32) -> f32,
) -> (f64, f64) {
    let mut buf = [0.0f32; BLOCK];
    let (mut t1, mut t2) = (0.0f64, 0.0f64);
    for ((xb, ob), gb) in x
        .chunks(BLOCK)
        .zip(out.chunks(BLOCK))
        .zip(grad.chunks(BLOCK))
    {
        let d = &mut buf[..xb.len()];
        for ((d, &o), &g) in d.iter_mut().zip(ob).zip(gb) {
            *d = dy(o, g);
        }
        t1 += lane_sum(d, |v| v);
        t2 += lane_sum_pairs(d, xb, |d, v| d * (v - mean));
    }
    (t1, t2)
}

/// LeakyReLU for `0 < slope ≤ 1` as a maximum, which vectorises where a branch may not.
#[inline(always)]
fn leaky(y: f32, slope: f32) -> f32 {
    let t = y * slope;
    if y > t { y } else { t }
}

/// The gradient through LeakyReLU from its output `o` (which has the sign of its input,
/// slope > 0) and the incoming gradient `g`. The mask is arithmetic: a select here is turned
/// into a branch per lane.
#[inline(always)]
fn leaky_grad(o: f32, g: f32, slope: f32) -> f32 {
    let pos = f32::from(u8::from(o > 0.0));
    g * (slope + (1.0 - slope) * pos)
}

/// (mean, 1/√(var + eps)) of one channel's planes, two-pass.
#[inline(always)]
fn channel_stats(planes: &[&[f32]]) -> (f32, f32) {
    let m = planes.iter().map(|p| p.len()).sum::<usize>() as f64;
    let mean = planes.iter().map(|p| lane_sum(p, |v| v)).sum::<f64>() / m;
    let mf = mean as f32;
    let var = planes
        .iter()
        .map(|p| {
            lane_sum(p, |v| {
                let d = v - mf;
                d * d
            })
        })
        .sum::<f64>()
        / m;
    (mf, (1.0 / (var + EPS).sqrt()) as f32)
}

/// The planes of an (N, C, HW) buffer grouped by channel: entry `ch` holds channel `ch` of
/// every image.
fn planes_by_channel(x: &[f32], c: usize, hw: usize) -> Vec<Vec<&[f32]>> {
    let mut by = vec![Vec::new(); c];
    for (i, p) in x.chunks(hw).enumerate() {
        by[i % c].push(p);
    }
    by
}

/// [`planes_by_channel`] for a buffer to write.
fn planes_by_channel_mut(x: &mut [f32], c: usize, hw: usize) -> Vec<Vec<&mut [f32]>> {
    let mut by: Vec<Vec<&mut [f32]>> = (0..c).map(|_| Vec::new()).collect();
    for (i, p) in x.chunks_mut(hw).enumerate() {
        by[i % c].push(p);
    }
    by
}

/// Forward pass: the output and the per-channel statistics.
fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    (c, hw): (usize, usize),
    slope: f32,
) -> (Vec<f32>, Vec<(f32, f32)>) {
    let mut out = zeroed(x.len());
    let stats = planes_by_channel_mut(&mut out, c, hw)
        .into_par_iter()
        .zip(planes_by_channel(x, c, hw))
        .enumerate()
        .map(|(ch, (outs, xs))| {
            vectorized(
                #[inline(always)]
                || {
                    let (mean, inv) = channel_stats(&xs);
                    let a = gamma[ch] * inv;
                    let s = beta[ch] - mean * a;
                    for (o, xp) in outs.into_iter().zip(xs) {
                        for (o, &v) in o.iter_mut().zip(xp) {
                            *o = leaky(v * a + s, slope);
                        }
                    }
                    (mean, inv)
                },
            )
        })
        .collect();
    (out, stats)
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
        let (_, c, hw) = dims(lx.dims())?;
        if lg.dims() != [c] || lb.dims() != [c] {
            bail!(
                "batch norm: gamma {:?} and beta {:?} must be [{c}]",
                lg.dims(),
                lb.dims()
            );
        }
        let (x, g, b) = (slice(sx, lx)?, slice(sg, lg)?, slice(sb, lb)?);
        let (out, stats) = forward(x, g, b, (c, hw), self.slope);
        // A second forward pass of the same op (candle does not make one) would leave the
        // first pass's statistics in place; they describe the same input.
        let _ = self.stats.set(stats);
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
        let (_, c, hw) = dims(x.dims())?;
        let slope = self.slope;
        let dev = x.device();
        let (dx, dg, db) = with_slice(x, |xs| {
            let stats = match self.stats.get() {
                Some(s) if s.len() == c => s,
                _ => bail!("batch norm backward without the statistics of its forward pass"),
            };
            with_slice(gamma, |gs| {
                with_slice(res, |out| {
                    with_slice(grad, |gr| {
                        Ok(backward(xs, gs, out, gr, stats, (c, hw), slope))
                    })
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

/// Gradients (dx, dγ, dβ) of the fused op from the forward pass's input, statistics and
/// output.
fn backward(
    x: &[f32],
    gamma: &[f32],
    out: &[f32],
    grad: &[f32],
    stats: &[(f32, f32)],
    (c, hw): (usize, usize),
    slope: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let m = (x.len() / c) as f64;
    let mut dx = zeroed(x.len());
    let sums: Vec<(f32, f32)> = planes_by_channel_mut(&mut dx, c, hw)
        .into_par_iter()
        .zip(planes_by_channel(x, c, hw))
        .zip(planes_by_channel(out, c, hw))
        .zip(planes_by_channel(grad, c, hw))
        .enumerate()
        .map(|(ch, (((dxs, xs), os), gs))| {
            vectorized(
                #[inline(always)]
                || {
                    let (mean, inv) = stats[ch];
                    // dL/dy, y being the BatchNorm output.
                    let dy = |o, g| leaky_grad(o, g, slope);
                    // Σ dy (= dβ) and Σ dy·x̂ (= dγ).
                    let (mut s1, mut s2) = (0.0f64, 0.0f64);
                    for ((xp, op), gp) in xs.iter().zip(&os).zip(&gs) {
                        let (a, b) = grad_sums(xp, op, gp, mean, dy);
                        s1 += a;
                        s2 += b;
                    }
                    let s2 = s2 * f64::from(inv);
                    // dx = k·(dy − mean(dy) − x̂·mean(dy·x̂)), k = γ/σ, as dy·k + x·c1 + c0.
                    let k = gamma[ch] * inv;
                    let (mean_dy, mean_dyx) = ((s1 / m) as f32, (s2 / m) as f32);
                    let c1 = -k * inv * mean_dyx;
                    let c0 = -k * mean_dy - mean * c1;
                    for (((d, xp), op), gp) in dxs.into_iter().zip(&xs).zip(&os).zip(&gs) {
                        for (((d, &xv), &o), &g) in d.iter_mut().zip(*xp).zip(*op).zip(*gp) {
                            *d = dy(o, g) * k + (xv * c1 + c0);
                        }
                    }
                    (s2 as f32, s1 as f32)
                },
            )
        })
        .collect();
    let dg = sums.iter().map(|s| s.0).collect();
    let db = sums.iter().map(|s| s.1).collect();
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
        let (s1, s2) = grad_sums(&x, &out, &grad, mean, dy);
        assert!((s1 - e1).abs() < 1e-6 * x.len() as f64, "{s1} vs {e1}");
        assert!(
            (s2 - e2).abs() < 1e-5 * e2.abs().max(1.0) + 1e-3,
            "{s2} vs {e2}"
        );
    }
}
