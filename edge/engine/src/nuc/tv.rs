//! Anisotropic L1 step-k total variation, `TV_k(r) = Σ|r[y+k,x] − r[y,x]| + Σ|r[y,x+k] − r[y,x]|`
//! (sum reduction, differences stop k pixels before the border; reference §2.2), on plain slices
//! and as the TV-DIP loss `Σ w·TV_k(y − out)` on candle tensors with the subgradient sign(Δ)
//! (0 at 0, as PyTorch's `abs`).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};

use super::{FrameSet, Pattern};

/// `TV_k` of a row-major `w`×`h` image.
pub fn tv_k(r: &[f32], w: usize, h: usize, k: usize) -> f64 {
    let mut s = 0.0f64;
    for y in 0..h {
        let row = &r[y * w..(y + 1) * w];
        if k < w {
            s += row
                .iter()
                .zip(&row[k..])
                .map(|(a, b)| f64::from((b - a).abs()))
                .sum::<f64>();
        }
        if y + k < h {
            let down = &r[(y + k) * w..(y + k + 1) * w];
            s += row
                .iter()
                .zip(down)
                .map(|(a, b)| f64::from((b - a).abs()))
                .sum::<f64>();
        }
    }
    s
}

/// Adds `weight · ∂TV_k(r)/∂r` (subgradient, sign(0) = 0) to `grad`.
pub fn tv_k_grad(r: &[f32], w: usize, h: usize, k: usize, weight: f32, grad: &mut [f32]) {
    let sign = |d: f32| {
        if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if x + k < w {
                let s = weight * sign(r[i + k] - r[i]);
                grad[i + k] += s;
                grad[i] -= s;
            }
            if y + k < h {
                let s = weight * sign(r[i + k * w] - r[i]);
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
        }
    }

    fn value(&self, out: &[f32]) -> f64 {
        let r = self.residual(out);
        self.terms
            .iter()
            .map(|&(k, wt)| f64::from(wt) * tv_k(&r, self.width, self.height, k))
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
        let mut total: Option<Tensor> = None;
        for &(k, wt) in &self.terms {
            let mut t = Tensor::zeros((), DType::F32, out.device())?;
            if k < h {
                let d = (r.narrow(2, k, h - k)? - r.narrow(2, 0, h - k)?)?;
                t = (t + d.abs()?.sum_all()?)?;
            }
            if k < w {
                let d = (r.narrow(3, k, w - k)? - r.narrow(3, 0, w - k)?)?;
                t = (t + d.abs()?.sum_all()?)?;
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
            tv_k_grad(&r, self.width, self.height, k, wt, &mut g);
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
        let eps = 1e-3f32;
        for i in 0..w * h {
            let mut p = out0.clone();
            p[i] += eps;
            let mut m = out0.clone();
            m[i] -= eps;
            let fd = ((loss.value(&p) - loss.value(&m)) / (2.0 * f64::from(eps))) as f32;
            assert!(
                (fd - g[i]).abs() < 1e-2,
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
