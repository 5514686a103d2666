//! `TvDipEstimator`: fits the skip network so that `frame − f_θ(z)` has minimal step-variable TV
//! (reference §2, §12): one random frame per Adam step, z fixed and perturbed by σ each step,
//! pattern = f_θ(z) after the last step. Keeps weights and z between calls: a later call on
//! frames of the same size is a short fine-tune with the refine schedule (warm start). With
//! `init_from_cptv` the network only fits what CP-TV leaves, optionally at reduced resolution.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::budget::BudgetClock;
use super::config::FitConfig;
use super::device::open_device;
use super::net::SkipNet;
use super::schedule::StepSchedule;
use super::tv::TvLoss;
use super::{
    Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern, PatternEstimator, cptv,
};
use crate::kernels::memory;

/// Smallest side the network is fitted at.
const MIN_FIT_SIDE: usize = 8;

/// What a warm start needs besides the weights.
struct NetState {
    net: SkipNet,
    /// z at the padded fitting resolution, (1, depth, H', W').
    z: Tensor,
    width: usize,
    height: usize,
    fit_w: usize,
    fit_h: usize,
    /// Frame normalisation of the cold fit: y = (raw − base − lo) / span.
    lo: f32,
    span: f32,
}

/// The TV-DIP estimator (see the module docs).
pub struct TvDipEstimator {
    cfg: FitConfig,
    device: Device,
    rng: StdRng,
    state: Option<NetState>,
}

impl TvDipEstimator {
    pub fn new(cfg: FitConfig) -> Result<Self, NucError> {
        cfg.validate()?;
        let device = open_device(&cfg.device)?;
        let seed = cfg.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        if !device.is_cpu() {
            device.set_seed(seed)?;
        }
        Ok(TvDipEstimator {
            cfg,
            device,
            rng: StdRng::seed_from_u64(seed),
            state: None,
        })
    }

    pub fn config(&self) -> &FitConfig {
        &self.cfg
    }

    /// Whether the next estimate on `width`×`height` frames warm-starts.
    pub fn is_warm_for(&self, width: usize, height: usize) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.width == width && s.height == height)
    }

    fn fit_size(&self, w: usize, h: usize) -> (usize, usize) {
        let d = self.cfg.downscale;
        (
            w.div_ceil(d).max(MIN_FIT_SIDE.min(w)),
            h.div_ceil(d).max(MIN_FIT_SIDE.min(h)),
        )
    }

    fn cold_state(&mut self, w: usize, h: usize, lo: f32, span: f32) -> Result<NetState, NucError> {
        let (fit_w, fit_h) = self.fit_size(w, h);
        let net = SkipNet::new(&self.cfg.net, &mut self.rng, &self.device)?;
        let (hp, wp) = self.cfg.net.padded(fit_h, fit_w);
        let n = self.cfg.net.input_depth * hp * wp;
        let zs = self.cfg.z_scale;
        let z: Vec<f32> = (0..n).map(|_| self.rng.gen_range(0.0..zs)).collect();
        let z = Tensor::from_vec(z, (1, self.cfg.net.input_depth, hp, wp), &self.device)?;
        Ok(NetState {
            net,
            z,
            width: w,
            height: h,
            fit_w,
            fit_h,
            lo,
            span,
        })
    }

    /// z + N(0, σ²) (σ = `reg_noise_std`).
    fn perturbed_z(&mut self, z: &Tensor) -> Result<Tensor, NucError> {
        let s = self.cfg.reg_noise_std;
        if s == 0.0 {
            return Ok(z.clone());
        }
        let noise = if self.device.is_cpu() {
            let normal = Normal::new(0.0f32, s).map_err(|e| NucError::Config {
                key: "reg_noise_std".into(),
                reason: e.to_string(),
            })?;
            let v: Vec<f32> = (0..z.elem_count())
                .map(|_| normal.sample(&mut self.rng))
                .collect();
            Tensor::from_vec(v, z.shape(), &self.device)?
        } else {
            Tensor::randn(0f32, s, z.shape(), &self.device)?
        };
        Ok((z + noise)?)
    }
}

/// Area-average reduction of a `w`×`h` image to `fw`×`fh` (blocks of ⌈w/fw⌉, partial blocks at
/// the border averaged over the pixels they have).
pub fn downscale_area(img: &[f32], w: usize, h: usize, fw: usize, fh: usize) -> Vec<f32> {
    if fw == w && fh == h {
        return img.to_vec();
    }
    let (bx, by) = (w.div_ceil(fw), h.div_ceil(fh));
    let mut out = vec![0.0f32; fw * fh];
    for (oy, row) in out.chunks_mut(fw).enumerate() {
        for (ox, o) in row.iter_mut().enumerate() {
            let (mut s, mut c) = (0.0f64, 0usize);
            for y in oy * by..((oy + 1) * by).min(h) {
                for x in ox * bx..((ox + 1) * bx).min(w) {
                    s += f64::from(img[y * w + x]);
                    c += 1;
                }
            }
            *o = if c > 0 { (s / c as f64) as f32 } else { 0.0 };
        }
    }
    out
}

/// Bilinear (`align_corners = false`) enlargement of the network's `fw`×`fh` output by the
/// block factor, cropped to `w`×`h`: inverse geometry of [`downscale_area`].
fn upscale_bilinear(
    img: &[f32],
    fw: usize,
    fh: usize,
    w: usize,
    h: usize,
) -> Result<Vec<f32>, NucError> {
    if fw == w && fh == h {
        return Ok(img.to_vec());
    }
    let (bx, by) = (w.div_ceil(fw), h.div_ceil(fh));
    let t = Tensor::from_slice(img, (1, 1, fh, fw), &Device::Cpu)?;
    let up = t.upsample_bilinear2d(fh * by, fw * bx, false)?;
    let up = up.narrow(2, 0, h)?.narrow(3, 0, w)?;
    Ok(up.flatten_all()?.to_vec1::<f32>()?)
}

impl PatternEstimator for TvDipEstimator {
    fn method(&self) -> Method {
        Method::TvDip
    }

    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        let start = std::time::Instant::now();
        let set = frames.subsample(self.cfg.max_frames);
        let (w, h) = (set.width(), set.height());
        if let Some(cap_mb) = self.cfg.max_memory_mb {
            let (fw, fh) = self.fit_size(w, h);
            // The set at full size (plus its CP-TV residual) and the reduced fit targets.
            let frame_floats = (set.len() * (2 * w * h + fw * fh)) as u64;
            memory::check_cap(&self.cfg.net, fh, fw, frame_floats, cap_mb << 20)?;
        }

        // Classical part first: the network then only models what CP-TV cannot see.
        let base = if self.cfg.init_from_cptv {
            let out = cptv::estimate(
                &set,
                &self.cfg.cptv,
                &Budget {
                    max_steps: None,
                    ..budget.clone()
                },
                progress,
            )?;
            if out.aborted {
                return Ok(FitOutcome {
                    duration: start.elapsed(),
                    method: Method::TvDip,
                    ..out
                });
            }
            Some(out.pattern)
        } else {
            None
        };
        let residual = match &base {
            Some(b) => set.corrected(b)?,
            None => set,
        };

        let warm = self.is_warm_for(w, h);
        let state = match self.state.take() {
            Some(s) if warm => s,
            _ => {
                let (lo, hi) = residual.range();
                let span = if hi > lo { hi - lo } else { 1.0 };
                self.cold_state(w, h, lo, span)?
            }
        };
        let (fw, fh) = (state.fit_w, state.fit_h);
        let targets: Vec<Arc<Vec<f32>>> = residual
            .frames()
            .iter()
            .map(|f| {
                let y: Vec<f32> = f.iter().map(|v| (v - state.lo) / state.span).collect();
                Arc::new(downscale_area(&y, w, h, fw, fh))
            })
            .collect();

        let (planned, lr, schedule_kind, compress) = if warm {
            (
                self.cfg.refine.steps,
                self.cfg.refine.lr,
                self.cfg.refine.schedule,
                false,
            )
        } else {
            (
                self.cfg.steps,
                self.cfg.adam.lr,
                self.cfg.schedule,
                self.cfg.compress_schedule,
            )
        };
        // The wall-clock budget covers the CP-TV stage too.
        let remaining = Budget {
            max_wall: budget.max_wall.map(|w| w.saturating_sub(start.elapsed())),
            ..budget.clone()
        };
        let mut clock = BudgetClock::new(&remaining, planned);
        let k_divisor = self.cfg.downscale as f64 / f64::from(self.cfg.k_scale);
        let schedule = StepSchedule::new(schedule_kind, clock.total_steps(), compress, k_divisor);
        let mut opt = AdamW::new(
            state.net.params().all_vars(),
            ParamsAdamW {
                lr,
                beta1: self.cfg.adam.beta1,
                beta2: self.cfg.adam.beta2,
                eps: self.cfg.adam.eps,
                weight_decay: 0.0,
            },
        )?;

        let mut recent = Vec::with_capacity(16);
        let mut step = 0u32;
        let mut failure = None;
        while clock.may_start(step) {
            let res = (|| -> Result<f32, NucError> {
                let i = self.rng.gen_range(0..targets.len());
                let terms = schedule.terms(step, &mut self.rng);
                let input = self.perturbed_z(&state.z)?;
                let out = state.net.forward(&input, fh, fw)?;
                let mut loss = TvLoss::new(targets[i].clone(), fw, fh, terms.tv).loss(&out)?;
                if terms.out_sq != 0.0 {
                    loss = (loss + (out.sqr()?.mean_all()? * f64::from(terms.out_sq))?)?;
                }
                opt.backward_step(&loss)?;
                Ok(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?)
            })();
            let l = match res {
                Ok(l) => l,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if recent.len() == 16 {
                recent.remove(0);
            }
            recent.push(l);
            step += 1;
            if !clock.finish(Method::TvDip, step, l, progress) {
                break;
            }
        }
        if let Some(e) = failure {
            // A failed step leaves the weights unusable for a warm start.
            return Err(e);
        }

        let out = state.net.forward(&state.z, fh, fw)?;
        let out = out
            .flatten_all()?
            .to_device(&Device::Cpu)?
            .to_vec1::<f32>()?;
        let full = upscale_bilinear(&out, fw, fh, w, h)?;
        let mut data: Vec<f32> = full.iter().map(|v| v * state.span).collect();
        if let Some(b) = &base {
            data.iter_mut().zip(b.data()).for_each(|(d, b)| *d += b);
        }
        let pattern = Pattern::new(w, h, data)?;
        let loss = if recent.is_empty() {
            f32::NAN
        } else {
            recent.iter().sum::<f32>() / recent.len() as f32
        };
        let aborted = clock.aborted();
        if step > 0 || warm {
            self.state = Some(state);
        }
        Ok(FitOutcome {
            pattern,
            loss,
            steps: step,
            duration: start.elapsed(),
            aborted,
            method: Method::TvDip,
        })
    }

    fn save_state(&self, path: &Path) -> Result<bool, NucError> {
        let Some(s) = &self.state else {
            return Ok(false);
        };
        let mut map: HashMap<String, Tensor> = s
            .net
            .params()
            .vars()
            .iter()
            .map(|(n, v)| (format!("net.{n}"), v.as_tensor().clone()))
            .collect();
        map.insert("z".into(), s.z.clone());
        let meta = [s.width, s.height, s.fit_w, s.fit_h].map(|v| v as f32);
        map.insert("meta.size".into(), Tensor::new(&meta, &self.device)?);
        map.insert(
            "meta.norm".into(),
            Tensor::new(&[s.lo, s.span], &self.device)?,
        );
        candle_core::safetensors::save(&map, path).map_err(|e| NucError::StateFile {
            path: path.to_path_buf(),
            reason: format!("cannot save TV-DIP state: {e}"),
        })?;
        Ok(true)
    }

    fn load_state(&mut self, path: &Path) -> Result<bool, NucError> {
        let bad = |reason: String| NucError::StateFile {
            path: path.to_path_buf(),
            reason,
        };
        let map = candle_core::safetensors::load(path, &self.device)
            .map_err(|e| bad(format!("cannot read TV-DIP state: {e}")))?;
        let get = |name: &str| {
            map.get(name)
                .ok_or_else(|| bad(format!("missing tensor `{name}`")))
        };
        let size = get("meta.size")?.to_vec1::<f32>()?;
        let norm = get("meta.norm")?.to_vec1::<f32>()?;
        if size.len() != 4 || norm.len() != 2 {
            return Err(bad("malformed metadata".into()));
        }
        let [width, height, fit_w, fit_h] =
            [size[0], size[1], size[2], size[3]].map(|v| v as usize);
        let net = SkipNet::new(&self.cfg.net, &mut self.rng, &self.device)?;
        for (name, var) in net.params().vars() {
            let t = get(&format!("net.{name}"))?;
            if t.dims() != var.dims() {
                return Err(bad(format!(
                    "`net.{name}` has shape {:?}, the configured network needs {:?} (different `net` settings?)",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(t)?;
        }
        let (hp, wp) = self.cfg.net.padded(fit_h, fit_w);
        let z = get("z")?.clone();
        if z.dims() != [1, self.cfg.net.input_depth, hp, wp] {
            return Err(bad(format!(
                "`z` has shape {:?}, expected {:?}",
                z.dims(),
                [1, self.cfg.net.input_depth, hp, wp]
            )));
        }
        self.state = Some(NetState {
            net,
            z,
            width,
            height,
            fit_w,
            fit_h,
            lo: norm[0],
            span: norm[1],
        });
        Ok(true)
    }

    fn reset(&mut self) {
        self.state = None;
    }
}
