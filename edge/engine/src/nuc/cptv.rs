//! Multi-frame convex TV (reference §11, §13): `min_O Σ_i TV(Y_i − O) + λ‖O‖²` with anisotropic
//! TV, solved by Chambolle–Pock with τ = 2, σ = 1/(8Nτ) on frames scaled to the 14-bit range.
//!
//! `K O = (∇O, …, ∇O)` (N copies); the dual of frame i is clipped to [−1, 1] per component;
//! since ∇ᵀ is linear, the primal step needs only the sum of the duals, one divergence.

use std::ops::ControlFlow;

use rayon::prelude::*;

use super::budget::BudgetClock;
use super::config::CpTvConfig;
use super::{Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern};

/// Frames are scaled so their range spans 14 bits, the scale `lambda` is tuned for.
const WORK_RANGE: f32 = 16383.0;

/// How often (in iterations) the objective is evaluated for progress reports.
const LOSS_EVERY: u32 = 10;

/// Runs the solver; returns the pattern in the frames' units.
pub(crate) fn estimate(
    frames: &FrameSet,
    cfg: &CpTvConfig,
    budget: &Budget,
    progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
) -> Result<FitOutcome, NucError> {
    let set = frames.subsample(cfg.max_frames);
    let (w, h, n) = (set.width(), set.height(), set.len());
    let (lo, hi) = set.range();
    let scale = if hi > lo { WORK_RANGE / (hi - lo) } else { 1.0 };
    let ys: Vec<Vec<f32>> = set
        .frames()
        .iter()
        .map(|f| f.iter().map(|v| (v - lo) * scale).collect())
        .collect();
    let tau = cfg.tau;
    let sigma = 1.0 / (8.0 * n as f32 * tau);
    let shrink = 1.0 / (1.0 + 2.0 * tau * cfg.lambda);

    let hw = w * h;
    let mut o = vec![0.0f32; hw];
    let mut o_bar = vec![0.0f32; hw];
    // Duals, pixel-major: p[(pix·N + i)·2 + {0: horizontal, 1: vertical}].
    let mut p = vec![0.0f32; hw * n * 2];
    // Sum of the duals over frames, per pixel and component.
    let mut psum = vec![0.0f32; hw * 2];

    let mut clock = BudgetClock::new(budget, cfg.iterations);
    let mut loss = objective(&ys, &o, w, h, cfg.lambda);
    let mut step = 0u32;
    while clock.may_start(step) {
        // Dual ascent, rows in parallel (each row owns its pixels' duals of every frame).
        p.par_chunks_mut(w * n * 2)
            .zip(psum.par_chunks_mut(w * 2))
            .enumerate()
            .for_each(|(r, (prow, srow))| {
                for j in 0..w {
                    let idx = r * w + j;
                    let gx_o = if j + 1 < w {
                        o_bar[idx + 1] - o_bar[idx]
                    } else {
                        0.0
                    };
                    let gy_o = if r + 1 < h {
                        o_bar[idx + w] - o_bar[idx]
                    } else {
                        0.0
                    };
                    let (mut sx, mut sy) = (0.0f32, 0.0f32);
                    for (i, y) in ys.iter().enumerate() {
                        let gx = if j + 1 < w {
                            gx_o - (y[idx + 1] - y[idx])
                        } else {
                            0.0
                        };
                        let gy = if r + 1 < h {
                            gy_o - (y[idx + w] - y[idx])
                        } else {
                            0.0
                        };
                        let q = &mut prow[(j * n + i) * 2..(j * n + i) * 2 + 2];
                        q[0] = (q[0] + sigma * gx).clamp(-1.0, 1.0);
                        q[1] = (q[1] + sigma * gy).clamp(-1.0, 1.0);
                        sx += q[0];
                        sy += q[1];
                    }
                    srow[j * 2] = sx;
                    srow[j * 2 + 1] = sy;
                }
            });
        // Primal descent O ← (O − τ ∇ᵀ P) / (1 + 2τλ), then extrapolation.
        o.par_chunks_mut(w)
            .zip(o_bar.par_chunks_mut(w))
            .enumerate()
            .for_each(|(r, (orow, brow))| {
                for j in 0..w {
                    let idx = r * w + j;
                    let mut kt = 0.0f32;
                    // ∇xᵀ q [j] = q[j−1]·[j≥1] − q[j]·[j≤W−2]; same for rows.
                    if j >= 1 {
                        kt += psum[(idx - 1) * 2];
                    }
                    if j + 1 < w {
                        kt -= psum[idx * 2];
                    }
                    if r >= 1 {
                        kt += psum[(idx - w) * 2 + 1];
                    }
                    if r + 1 < h {
                        kt -= psum[idx * 2 + 1];
                    }
                    let old = orow[j];
                    let new = (old - tau * kt) * shrink;
                    orow[j] = new;
                    brow[j] = 2.0 * new - old;
                }
            });
        step += 1;
        if step.is_multiple_of(LOSS_EVERY) || step == clock.total_steps() {
            loss = objective(&ys, &o, w, h, cfg.lambda);
        }
        if !clock.finish(Method::CpTv, step, loss, progress) {
            break;
        }
    }
    let data = o.iter().map(|v| v / scale).collect();
    Ok(FitOutcome {
        pattern: Pattern::new(w, h, data)?,
        loss,
        steps: step,
        duration: clock.elapsed(),
        aborted: clock.aborted(),
        method: Method::CpTv,
    })
}

/// `Σ_i TV(Y_i − O) + λ‖O‖²` (anisotropic TV), in working units.
fn objective(ys: &[Vec<f32>], o: &[f32], w: usize, h: usize, lambda: f32) -> f32 {
    let tv: f64 = ys
        .par_iter()
        .map(|y| {
            let mut s = 0.0f64;
            for r in 0..h {
                for j in 0..w {
                    let idx = r * w + j;
                    let v = y[idx] - o[idx];
                    if j + 1 < w {
                        s += f64::from((y[idx + 1] - o[idx + 1] - v).abs());
                    }
                    if r + 1 < h {
                        s += f64::from((y[idx + w] - o[idx + w] - v).abs());
                    }
                }
            }
            s
        })
        .sum();
    let reg: f64 = o.iter().map(|v| f64::from(v * v)).sum();
    (tv + f64::from(lambda) * reg) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nuc::config::FitConfig;
    use crate::nuc::testutil::{
        column_offsets, correlation, offset_rms_error, piecewise_scene_frames,
    };

    fn run(frames: &FrameSet, iterations: u32) -> FitOutcome {
        let cfg = CpTvConfig {
            iterations,
            ..FitConfig::paper().cptv
        };
        estimate(frames, &cfg, &Budget::default(), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap()
    }

    #[test]
    fn recovers_column_offsets_up_to_a_constant() {
        let (w, h) = (96, 64);
        let offsets = column_offsets(w, 20.0, 3);
        let frames = piecewise_scene_frames(w, h, 8, &offsets, 5);
        let out = run(&frames, 300);
        let got = &out.pattern.data()[w * (h / 2)..w * (h / 2 + 1)];
        let c = correlation(got, &offsets);
        assert!(c > 0.98, "correlation {c}");
        let rms = offset_rms_error(got, &offsets);
        // Offsets are U[0, 20): std 5.8. Demand < 20 % of it.
        assert!(rms < 1.2, "rms error {rms}");
    }

    #[test]
    fn objective_decreases_and_converges() {
        let (w, h) = (64, 48);
        let offsets = column_offsets(w, 30.0, 9);
        let frames = piecewise_scene_frames(w, h, 6, &offsets, 1);
        let mut losses = Vec::new();
        let cfg = CpTvConfig {
            iterations: 400,
            ..FitConfig::paper().cptv
        };
        estimate(&frames, &cfg, &Budget::default(), &mut |p| {
            if p.step.is_multiple_of(LOSS_EVERY) {
                losses.push(p.loss);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        let first = losses[0];
        let at200 = losses[19];
        let last = *losses.last().unwrap();
        assert!(at200 < 0.8 * first, "{first} → {at200}");
        // Converged: the last 200 iterations change the objective by < 1 %.
        assert!((at200 - last).abs() < 0.01 * at200, "{at200} → {last}");
    }

    #[test]
    fn budget_and_abort_stop_early() {
        let offsets = column_offsets(32, 5.0, 1);
        let frames = piecewise_scene_frames(32, 24, 3, &offsets, 2);
        let out = estimate(
            &frames,
            &FitConfig::paper().cptv,
            &Budget::steps(7),
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        assert_eq!(out.steps, 7);
        assert!(!out.aborted);
        let out = estimate(
            &frames,
            &FitConfig::paper().cptv,
            &Budget::default(),
            &mut |p| {
                if p.step == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
        assert_eq!(out.steps, 3);
        assert!(out.aborted);
    }
}
