//! Anisotropic L1 step-k total variation, `TV_k(r) = Σ|r[y+k,x] − r[y,x]| + Σ|r[y,x+k] − r[y,x]|`
//! (sum reduction, differences stop k pixels before the border; reference §2.2), on plain slices
//! and as the TV-DIP loss `Σ w·TV_k(y − out)` on candle tensors with the subgradient sign(Δ)
//! (0 at 0, as PyTorch's `abs`); optionally with a redescending penalty of the differences
//! instead of |Δ| ([`TvPenalty`]).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use serde::{Deserialize, Serialize};

use super::{FrameSet, Pattern};

/// What the TV loss charges for one difference Δ of the residual.
///
/// With L1 the pattern that minimises `Σ_i TV_k(y_i − p)` follows the per-pair *median* of the
/// frames' differences, so scene structure that sits at the same place in more than half of the
/// frames (a person in the middle of a fixed view) goes into the pattern. The Cauchy penalty
/// `s·ln(1 + (Δ/s)²)` is quadratic below `s` and flattens beyond it, so its minimiser follows
/// the *mode* instead: the frames whose difference is the pattern's alone (flat scene) outvote
/// the scattered textured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TvPenalty {
    /// |Δ|, the reference.
    #[default]
    L1,
    /// `s·ln(1 + (Δ/s)²)` with `s` = `tv_scale` in the fit's normalised units (frame range 1).
    Cauchy,
}

/// A penalty with its scale, as the loss uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty {
    pub kind: TvPenalty,
    /// `s` of the Cauchy penalty (unused by L1).
    pub scale: f32,
}

impl Penalty {
    pub const L1: Penalty = Penalty {
        kind: TvPenalty::L1,
        scale: 0.0,
    };

    #[inline]
    fn value(self, d: f32) -> f64 {
        match self.kind {
            TvPenalty::L1 => f64::from(d.abs()),
            TvPenalty::Cauchy => {
                let (d, s) = (f64::from(d), f64::from(self.scale));
                s * (d * d / (s * s)).ln_1p()
            }
        }
    }

    /// dρ/dΔ (L1: sign, 0 at 0).
    #[inline]
    fn slope(self, d: f32) -> f32 {
        match self.kind {
            TvPenalty::L1 => {
                if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            TvPenalty::Cauchy => {
                let s = self.scale;
                2.0 * d * s / (s * s + d * d)
            }
        }
    }
}

/// `TV_k` of a row-major `w`×`h` image.
pub fn tv_k(r: &[f32], w: usize, h: usize, k: usize) -> f64 {
    tv_k_with(r, w, h, k, Penalty::L1)
}

/// `Σ ρ(Δ)` over the step-`k` differences of a row-major `w`×`h` image.
pub fn tv_k_with(r: &[f32], w: usize, h: usize, k: usize, pen: Penalty) -> f64 {
    let mut s = 0.0f64;
    for y in 0..h {
        let row = &r[y * w..(y + 1) * w];
        if k < w {
            s += row
                .iter()
                .zip(&row[k..])
                .map(|(a, b)| pen.value(b - a))
                .sum::<f64>();
        }
        if y + k < h {
            let down = &r[(y + k) * w..(y + k + 1) * w];
            s += row
                .iter()
                .zip(down)
                .map(|(a, b)| pen.value(b - a))
                .sum::<f64>();
        }
    }
    s
}

/// Adds `weight · ∂TV_k(r)/∂r` (subgradient, sign(0) = 0) to `grad`.
pub fn tv_k_grad(r: &[f32], w: usize, h: usize, k: usize, weight: f32, grad: &mut [f32]) {
    tv_k_grad_with(r, w, h, k, weight, Penalty::L1, grad);
}

/// Adds `weight · ∂(Σ ρ(Δ_k r))/∂r` to `grad`.
pub fn tv_k_grad_with(
    r: &[f32],
    w: usize,
    h: usize,
    k: usize,
    weight: f32,
    pen: Penalty,
    grad: &mut [f32],
) {
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if x + k < w {
                let s = weight * pen.slope(r[i + k] - r[i]);
                grad[i + k] += s;
                grad[i] -= s;
            }
            if y + k < h {
                let s = weight * pen.slope(r[i + k * w] - r[i]);
                grad[i + k * w] += s;
                grad[i] -= s;
            }
        }
    }
}

/// Mean over frames of `TV_1(frame − pattern)` divided by the pixel count: a cheap smoothness
/// score of a correction.
pub fn mean_tv1(frames: &FrameSet, pattern: &Pattern) -> f32 {
    let (w, h) = (frames.width(), frames.height());
    let total: f64 = frames
        .frames()
        .iter()
        .map(|f| {
            let r: Vec<f32> = f.iter().zip(pattern.data()).map(|(a, b)| a - b).collect();
            tv_k(&r, w, h, 1)
        })
        .sum();
    (total / (frames.len() * w * h) as f64) as f32
}

/// The TV-DIP loss `Σ_j w_j·TV_{k_j}(frame − out)` for one frame.
#[derive(Debug, Clone)]
pub struct TvLoss {
    frame: Arc<Vec<f32>>,
    width: usize,
    height: usize,
    terms: Vec<(usize, f32)>,
    penalty: Penalty,
}

impl TvLoss {
    /// `frame` is row-major `width`×`height`; `terms` are (k, weight) pairs.
    pub fn new(
        frame: Arc<Vec<f32>>,
        width: usize,
        height: usize,
        terms: Vec<(usize, f32)>,
    ) -> Self {
        TvLoss {
            frame,
            width,
            height,
            terms,
            penalty: Penalty::L1,
        }
    }

    /// The same loss with `penalty` instead of |Δ|.
    pub fn with_penalty(self, penalty: Penalty) -> Self {
        TvLoss { penalty, ..self }
    }

    fn value(&self, out: &[f32]) -> f64 {
        let r = self.residual(out);
        self.terms
            .iter()
            .map(|&(k, wt)| f64::from(wt) * tv_k_with(&r, self.width, self.height, k, self.penalty))
            .sum()
    }

    fn residual(&self, out: &[f32]) -> Vec<f32> {
        self.frame.iter().zip(out).map(|(y, o)| y - o).collect()
    }

    /// Loss of `out` (shape (1, 1, H, W), f32) as a scalar tensor with a backward pass.
    pub fn loss(&self, out: &Tensor) -> candle_core::Result<Tensor> {
        match out.device() {
            Device::Cpu => out.contiguous()?.apply_op1(self.clone()),
            _ => self.loss_composite(out),
        }
    }

    /// The same loss from candle's generic ops, for devices without the CPU kernel. Its
    /// subgradient at exactly 0 is +1 (candle's `abs`), which differs from the CPU kernel only
    /// on exact ties.
    pub fn loss_composite(&self, out: &Tensor) -> candle_core::Result<Tensor> {
        let (h, w) = (self.height, self.width);
        let y = Tensor::from_slice(self.frame.as_slice(), (1, 1, h, w), out.device())?;
        let r = (y - out)?;
        let pen = self.penalty;
        let charge = |d: Tensor| -> candle_core::Result<Tensor> {
            match pen.kind {
                TvPenalty::L1 => d.abs()?.sum_all(),
                TvPenalty::Cauchy => {
                    let s = f64::from(pen.scale);
                    ((d.sqr()? / (s * s))? + 1.0)?.log()?.sum_all()? * s
                }
            }
        };
        let mut total: Option<Tensor> = None;
        for &(k, wt) in &self.terms {
            let mut t = Tensor::zeros((), DType::F32, out.device())?;
            if k < h {
                let d = (r.narrow(2, k, h - k)? - r.narrow(2, 0, h - k)?)?;
                t = (t + charge(d)?)?;
            }
            if k < w {
                let d = (r.narrow(3, k, w - k)? - r.narrow(3, 0, w - k)?)?;
                t = (t + charge(d)?)?;
            }
            let t = (t * f64::from(wt))?;
            total = Some(match total {
                None => t,
                Some(acc) => (acc + t)?,
            });
        }
        match total {
            Some(t) => Ok(t),
            None => Tensor::zeros((), DType::F32, out.device()),
        }
    }
}

impl CustomOp1 for TvLoss {
    fn name(&self) -> &'static str {
        "tv-loss"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let data = match storage {
            CpuStorage::F32(v) => v,
            _ => candle_core::bail!("tv-loss: expected f32 input"),
        };
        let out = match layout.contiguous_offsets() {
            Some((a, b)) => &data[a..b],
            None => candle_core::bail!("tv-loss: input must be contiguous"),
        };
        if out.len() != self.frame.len() {
            candle_core::bail!(
                "tv-loss: input has {} values, frame has {}",
                out.len(),
                self.frame.len()
            );
        }
        let v = self.value(out) as f32;
        Ok((CpuStorage::F32(vec![v]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let out = arg.flatten_all()?.to_vec1::<f32>()?;
        let r = self.residual(&out);
        let mut g = vec![0.0f32; r.len()];
        for &(k, wt) in &self.terms {
            tv_k_grad_with(&r, self.width, self.height, k, wt, self.penalty, &mut g);
        }
        // d loss / d out = − d loss / d r.
        g.iter_mut().for_each(|v| *v = -*v);
        let g = Tensor::from_vec(g, arg.shape(), arg.device())?;
        Ok(Some(g.broadcast_mul(grad_res)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.r#gen::<f32>()).collect()
    }

    #[test]
    fn tv_of_a_ramp() {
        // Horizontal ramp 0,1,2,… (w = 5, h = 3): TV_1 = 3 rows × 4 steps; TV_2 = 3 × 3 × 2.
        let r: Vec<f32> = (0..15).map(|i| (i % 5) as f32).collect();
        assert_eq!(tv_k(&r, 5, 3, 1), 12.0);
        assert_eq!(tv_k(&r, 5, 3, 2), 18.0);
        assert_eq!(tv_k(&r, 5, 3, 5), 0.0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (w, h) = (9, 7);
        let frame = Arc::new(random(w * h, 1));
        let loss = TvLoss::new(frame, w, h, vec![(1, 1.0), (3, 0.5)]);
        let out0 = random(w * h, 2);
        let var = Var::from_vec(out0.clone(), (1, 1, h, w), &Device::Cpu).unwrap();
        let l = loss.loss(var.as_tensor()).unwrap();
        let grads = l.backward().unwrap();
        let g = grads
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_finite_differences(&loss, &out0, &g, 1e-2);
    }

    /// Central differences of `loss` at `out0` against the analytic gradient `g`.
    fn assert_finite_differences(loss: &TvLoss, out0: &[f32], g: &[f32], tol: f32) {
        let eps = 1e-3f32;
        for i in 0..out0.len() {
            let (mut p, mut m) = (out0.to_vec(), out0.to_vec());
            p[i] += eps;
            m[i] -= eps;
            let fd = ((loss.value(&p) - loss.value(&m)) / (2.0 * f64::from(eps))) as f32;
            assert!(
                (fd - g[i]).abs() < tol,
                "pixel {i}: fd {fd}, analytic {}",
                g[i]
            );
        }
    }

    #[test]
    fn composite_equals_kernel() {
        let (w, h) = (12, 10);
        let loss = TvLoss::new(Arc::new(random(w * h, 3)), w, h, vec![(2, 1.0), (1, 0.1)]);
        let var = Var::from_vec(random(w * h, 4), (1, 1, h, w), &Device::Cpu).unwrap();
        let a = loss.loss(var.as_tensor()).unwrap();
        let b = loss.loss_composite(var.as_tensor()).unwrap();
        let (a, b) = (a.to_scalar::<f32>().unwrap(), b.to_scalar::<f32>().unwrap());
        assert!((a - b).abs() < 1e-4 * a.abs(), "{a} vs {b}");
        let ga = a_grad(&loss, &var, false);
        let gb = a_grad(&loss, &var, true);
        for (x, y) in ga.iter().zip(&gb) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    const CAUCHY: Penalty = Penalty {
        kind: TvPenalty::Cauchy,
        scale: 0.05,
    };

    #[test]
    fn cauchy_gradient_matches_finite_differences_and_the_composite() {
        let (w, h) = (9, 7);
        let loss = TvLoss::new(Arc::new(random(w * h, 5)), w, h, vec![(1, 1.0), (2, 0.5)])
            .with_penalty(CAUCHY);
        let out0: Vec<f32> = random(w * h, 6).iter().map(|v| 0.3 * v).collect();
        let var = Var::from_vec(out0.clone(), (1, 1, h, w), &Device::Cpu).unwrap();
        let g = a_grad(&loss, &var, false);
        assert_finite_differences(&loss, &out0, &g, 2e-2);
        let a = loss
            .loss(var.as_tensor())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let b = loss
            .loss_composite(var.as_tensor())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((a - b).abs() < 1e-4 * a.abs(), "{a} vs {b}");
        for (x, y) in g.iter().zip(&a_grad(&loss, &var, true)) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        // Far beyond the scale the charge flattens: a difference 100× the scale pulls
        // less than 1/40 of what one at the scale does.
        assert!(CAUCHY.slope(5.0) < CAUCHY.slope(0.05) / 40.0);
    }

    /// The reason for the penalty: one pixel pair over 16 frames; 7 see a flat scene (the
    /// difference is the pattern's, 0.3), 9 see texture that pushes it to 0.5–1.3. The pattern
    /// step that minimises the charge summed over frames is the median under L1 (inside the
    /// textured cluster), the mode (the flat frames' value) under Cauchy.
    #[test]
    fn cauchy_follows_the_mode_l1_the_median() {
        let diffs: Vec<f32> = (0..16)
            .map(|i| {
                if i < 7 {
                    0.3
                } else {
                    0.5 + 0.1 * (i - 7) as f32
                }
            })
            .collect();
        let best = |pen: Penalty| {
            (0..=200)
                .map(|j| j as f32 * 0.01)
                .min_by(|a, b| {
                    let c = |p: f32| diffs.iter().map(|d| pen.value(d - p)).sum::<f64>();
                    c(*a).total_cmp(&c(*b))
                })
                .unwrap()
        };
        let l1 = best(Penalty::L1);
        let cauchy = best(CAUCHY);
        assert!((0.5..=0.6).contains(&l1), "L1 minimiser {l1}");
        assert!((cauchy - 0.3).abs() < 0.015, "Cauchy minimiser {cauchy}");
    }

    fn a_grad(loss: &TvLoss, var: &Var, composite: bool) -> Vec<f32> {
        let l = if composite {
            loss.loss_composite(var.as_tensor())
        } else {
            loss.loss(var.as_tensor())
        }
        .unwrap();
        let g = l.backward().unwrap();
        g.get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    }
}
