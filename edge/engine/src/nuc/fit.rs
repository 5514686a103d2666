//! `TvDipEstimator`: fits the skip network so that `frame − f_θ(z)` has minimal step-variable TV
//! (reference §2, §12): one random frame per Adam step, z fixed and perturbed by σ each step,
//! pattern = f_θ(z) after the last step. Keeps weights and z between calls: a later call on
//! frames of the same size is a short fine-tune with the refine schedule (warm start), unless
//! the CP-TV stage's column profile jumped since the last fit (a gain switch). With
//! `init_from_cptv` the network only fits what CP-TV leaves, optionally at reduced resolution;
//! `pixel_passes` then refines each pixel's offset on the same frames ([`pixel_offsets`]).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::budget::BudgetClock;
use super::config::FitConfig;
use super::device::open_device;
use super::memory;
use super::net::SkipNet;
use super::schedule::{ScheduleKind, StepSchedule};
use super::tv::TvLoss;
use super::{
    Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern, PatternEstimator, cptv,
    pixel_offsets,
};
use crate::kernels::adam::Adam;

/// Smallest side the network is fitted at.
const MIN_FIT_SIDE: usize = 8;

/// Change of the first stage's column profile, relative to the last fit's, above which the
/// network's weights are stale (a gain switch loads other offset tables at once) and the fit
/// starts cold. The column profile is the part CP-TV estimates best: on the drift bench it
/// moved 0.05–0.28 between fits through temperature drift and 1.2–1.8 at a gain switch, where
/// the whole pattern's 0.3–1.1 from set to set would not tell them apart.
const MAX_WARM_COLUMN_CHANGE: f32 = 0.5;

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
    /// The first stage's pattern of the last fit: what says whether the pattern jumped.
    last_base: Option<Pattern>,
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
            last_base: None,
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

    /// The training frames of one step: one at random (the reference), `frames_per_step`
    /// distinct ones, or all of them (0).
    fn pick_targets(&mut self, n: usize) -> Vec<usize> {
        match self.cfg.frames_per_step {
            1 => vec![self.rng.gen_range(0..n)],
            m if m == 0 || m >= n => (0..n).collect(),
            m => rand::seq::index::sample(&mut self.rng, n, m).into_vec(),
        }
    }

    /// z + N(0, σ²) (σ = `reg_noise_std`).
    fn perturbed_z(&mut self, z: &Tensor) -> Result<Tensor, NucError> {
        let s = self.cfg.reg_noise_std;
        if s == 0.0 {
            return Ok(z.clone());
        }
        let seed = self.rng.r#gen::<u64>();
        Ok(crate::kernels::noise::perturbed(z, s, seed)?)
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

/// Length, learning rate and TV schedule of one network fit.
struct Plan {
    steps: u32,
    lr: f64,
    schedule: ScheduleKind,
    compress: bool,
}

/// What one network fit did.
struct TrainRun {
    /// Mean loss of the last (up to 16) steps; NaN when no step ran.
    loss: f32,
    steps: u32,
    aborted: bool,
    /// The network output (fitting resolution, normalised units) after each requested step.
    snapshots: Vec<(u32, Vec<f32>)>,
}

impl TvDipEstimator {
    /// Adam on `state`'s network over `targets` (one random target per step) until `plan` or
    /// `budget` ends, keeping the network output after each step listed in `snapshots` (0 =
    /// before the first). A failed step is an error: the weights are then unusable.
    fn train(
        &mut self,
        state: &NetState,
        targets: &[Arc<Vec<f32>>],
        plan: &Plan,
        budget: &Budget,
        snapshots: &[u32],
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<TrainRun, NucError> {
        let (fw, fh) = (state.fit_w, state.fit_h);
        let mut clock = BudgetClock::new(budget, plan.steps);
        let k_divisor = self.cfg.downscale as f64 / f64::from(self.cfg.k_scale);
        let schedule =
            StepSchedule::new(plan.schedule, clock.total_steps(), plan.compress, k_divisor);
        let mut opt = Adam::new(
            state.net.params().all_vars(),
            ParamsAdamW {
                lr: plan.lr,
                beta1: self.cfg.adam.beta1,
                beta2: self.cfg.adam.beta2,
                eps: self.cfg.adam.eps,
                weight_decay: 0.0,
            },
        )?;
        let penalty = self.cfg.penalty();
        let mut recent = Vec::with_capacity(16);
        let mut kept = Vec::new();
        if snapshots.contains(&0) {
            kept.push((0, self.net_output(state)?));
        }
        let mut step = 0u32;
        while clock.may_start(step) {
            let picked = self.pick_targets(targets.len());
            let terms = schedule.terms(step, &mut self.rng);
            let input = self.perturbed_z(&state.z)?;
            let out = state.net.forward(&input, fh, fw)?;
            let mut loss = match picked.as_slice() {
                [i] => TvLoss::new(targets[*i].clone(), fw, fh, terms.tv)
                    .with_penalty(penalty)
                    .loss(&out)?,
                many => {
                    // The mean over the frames, so the loss keeps the one-frame scale.
                    let mut sum: Option<Tensor> = None;
                    for &i in many {
                        let l = TvLoss::new(targets[i].clone(), fw, fh, terms.tv.clone())
                            .with_penalty(penalty)
                            .loss(&out)?;
                        sum = Some(match sum {
                            None => l,
                            Some(s) => (s + l)?,
                        });
                    }
                    let sum = sum.ok_or(NucError::EmptyFrameSet)?;
                    (sum / many.len() as f64)?
                }
            };
            if terms.out_sq != 0.0 {
                loss = (loss + (out.sqr()?.mean_all()? * f64::from(terms.out_sq))?)?;
            }
            opt.backward_step(&loss)?;
            let l = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if recent.len() == 16 {
                recent.remove(0);
            }
            recent.push(l);
            step += 1;
            if snapshots.contains(&step) {
                kept.push((step, self.net_output(state)?));
            }
            if !clock.finish(Method::TvDip, step, l, progress) {
                break;
            }
        }
        let loss = if recent.is_empty() {
            f32::NAN
        } else {
            recent.iter().sum::<f32>() / recent.len() as f32
        };
        Ok(TrainRun {
            loss,
            steps: step,
            aborted: clock.aborted(),
            snapshots: kept,
        })
    }

    /// The network's pattern f_θ(z) (unperturbed z) at the fitting resolution, normalised units.
    fn net_output(&self, state: &NetState) -> Result<Vec<f32>, NucError> {
        let out = state.net.forward(&state.z, state.fit_h, state.fit_w)?;
        Ok(out
            .flatten_all()?
            .to_device(&Device::Cpu)?
            .to_vec1::<f32>()?)
    }
}

/// rms(new − old) / rms(old) of two zero-mean signals; infinite when `old` is flat and `new`
/// is not.
fn relative_change(old: &[f32], new: &[f32]) -> f32 {
    let (mut diff, mut base) = (0.0f64, 0.0f64);
    for (&o, &v) in old.iter().zip(new) {
        diff += (f64::from(v) - f64::from(o)).powi(2);
        base += f64::from(o).powi(2);
    }
    match (base > 0.0, diff > 0.0) {
        (true, _) => (diff / base).sqrt() as f32,
        (false, true) => f32::INFINITY,
        (false, false) => 0.0,
    }
}

/// √ of the covariance of two equally long signals (0 when negative): the amplitude of what
/// they share, in their units; with the correlation.
fn shared_amplitude(a: &[f32], b: &[f32]) -> (f32, f32) {
    let n = a.len().min(b.len()) as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let denom = (saa * sbb).sqrt();
    let corr = if denom > 0.0 { sab / denom } else { 0.0 };
    ((sab / n).max(0.0).sqrt() as f32, corr as f32)
}

impl TvDipEstimator {
    /// [`PatternEstimator::estimate`], also returning the pattern as it stood after each step
    /// of the main network fit listed in `snapshots` (0 = before its first step; steps the fit
    /// did not reach are left out). Each snapshot costs one forward pass; the parity and
    /// quality benches score them.
    pub fn estimate_with_snapshots(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        snapshots: &[u32],
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<(FitOutcome, Vec<(u32, Pattern)>), NucError> {
        self.fit(frames, budget, snapshots, &mut |_| {}, progress)
    }

    /// The fit behind [`PatternEstimator::estimate_staged`] and
    /// [`TvDipEstimator::estimate_with_snapshots`]: `interim` gets the CP-TV start when
    /// there is one, before the network fit.
    fn fit(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        snapshots: &[u32],
        interim: &mut dyn FnMut(&Pattern),
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<(FitOutcome, Vec<(u32, Pattern)>), NucError> {
        let start = std::time::Instant::now();
        let set = frames.subsample(self.cfg.max_frames);
        let (w, h) = (set.width(), set.height());
        if let Some(cap_mb) = self.cfg.max_memory_mb {
            let (fw, fh) = self.fit_size(w, h);
            // The set at full size (plus its CP-TV residual) and the reduced fit targets.
            let mut frame_floats = (set.len() * (2 * w * h + fw * fh)) as u64;
            if self.cfg.min_shared_pattern > 0.0 && !self.is_warm_for(w, h) {
                // The split-half fits hold a second network (weights, gradients, Adam state).
                frame_floats += 4 * memory::parameter_count(&self.cfg.net);
            }
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
                let out = FitOutcome {
                    duration: start.elapsed(),
                    method: Method::TvDip,
                    ..out
                };
                return Ok((out, Vec::new()));
            }
            interim(&out.pattern);
            Some(out.pattern)
        } else {
            None
        };
        let residual = match &base {
            Some(b) => set.corrected(b)?,
            None => set,
        };

        let jumped = match (&self.last_base, &base) {
            (Some(old), Some(new)) if old.data().len() == new.data().len() => {
                let change = relative_change(&old.column_means(), &new.column_means());
                let jumped = change > MAX_WARM_COLUMN_CHANGE;
                if jumped {
                    tracing::info!(
                        change,
                        "the column pattern jumped since the last fit; fitting cold"
                    );
                }
                jumped
            }
            _ => false,
        };
        self.last_base.clone_from(&base);
        let warm = self.is_warm_for(w, h) && !jumped;
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

        let plan = if warm {
            Plan {
                steps: self.cfg.refine.steps,
                lr: self.cfg.refine.lr,
                schedule: self.cfg.refine.schedule,
                compress: false,
            }
        } else {
            Plan {
                steps: self.cfg.steps,
                lr: self.cfg.adam.lr,
                schedule: self.cfg.schedule,
                compress: self.cfg.compress_schedule,
            }
        };
        // The split-half check runs two more fits of the same length: each fit gets a third
        // of what the CP-TV stage left of the wall-clock budget.
        let gate =
            self.cfg.min_shared_pattern > 0.0 && base.is_some() && !warm && targets.len() >= 2;
        let left = budget.max_wall.map(|w| w.saturating_sub(start.elapsed()));
        let share = |n: u32| Budget {
            max_wall: left.map(|w| w / n),
            ..budget.clone()
        };
        // With the check, progress counts the three fits as one run.
        let planned = budget.max_steps.map_or(plan.steps, |m| m.min(plan.steps));
        let fits = if gate { 3 } else { 1 };
        let offset_progress = |offset: u32| {
            move |p: &FitProgress| {
                let mut p = p.clone();
                p.step += offset;
                p.total_steps = fits * planned;
                p
            }
        };
        let shift = offset_progress(0);
        let mut run = self.train(&state, &targets, &plan, &share(fits), snapshots, &mut |p| {
            progress(&shift(p))
        })?;
        let mut steps = run.steps;
        let mut aborted = run.aborted;
        let mut use_net = true;
        if gate && !aborted {
            // A fixed pattern is the same whichever frames it is learnt from; scene content the
            // network absorbed is not. Fit the earlier and the later half separately and keep
            // the network only when the two share enough.
            let half = targets.len() / 2;
            let mut halves = Vec::with_capacity(2);
            for (i, part) in [&targets[..half], &targets[half..]].into_iter().enumerate() {
                let fresh = self.cold_state(w, h, state.lo, state.span)?;
                let shift = offset_progress((i as u32 + 1) * planned);
                let r = self.train(&fresh, part, &plan, &share(fits), &[], &mut |p| {
                    progress(&shift(p))
                })?;
                steps += r.steps;
                if r.aborted {
                    // Stopped half-way through the check: keep the main fit undecided.
                    aborted = true;
                    break;
                }
                halves.push(self.net_output(&fresh)?);
            }
            if !aborted {
                let (shared, corr) = shared_amplitude(&halves[0], &halves[1]);
                use_net = shared >= self.cfg.min_shared_pattern;
                if use_net {
                    tracing::info!(
                        shared,
                        corr,
                        "split-half check: keeping the network pattern"
                    );
                } else {
                    tracing::info!(
                        shared,
                        corr,
                        min = self.cfg.min_shared_pattern,
                        "split-half check: the network learnt scene content; using CP-TV alone"
                    );
                }
            }
        }

        // The pattern in raw units from a network output at the fitting resolution (none: the
        // first stage's alone), refined per pixel on the frames it was fitted to.
        let passes = self.cfg.pixel_passes;
        let to_pattern = |out: Option<&[f32]>| -> Result<Pattern, NucError> {
            let mut data: Vec<f32> = match out {
                Some(out) => upscale_bilinear(out, fw, fh, w, h)?
                    .into_iter()
                    .map(|v| v * state.span)
                    .collect(),
                None => vec![0.0; w * h],
            };
            pixel_offsets::refine(&residual, &mut data, passes)?;
            if let Some(b) = &base {
                data.iter_mut().zip(b.data()).for_each(|(d, b)| *d += b);
            }
            Pattern::new(w, h, data)
        };
        let snaps = std::mem::take(&mut run.snapshots)
            .into_iter()
            .map(|(s, out)| Ok((s, to_pattern(Some(&out))?)))
            .collect::<Result<Vec<_>, NucError>>()?;
        let pattern = match (use_net, &base) {
            (true, _) => to_pattern(Some(&self.net_output(&state)?))?,
            // Nothing to refine: the first stage's pattern as it is.
            (false, Some(b)) if passes == 0 => b.clone(),
            (false, _) => to_pattern(None)?,
        };
        // A rejected network is not worth warm-starting: the next call fits and checks anew.
        if use_net && (run.steps > 0 || warm) {
            self.state = Some(state);
        }
        let out = FitOutcome {
            pattern,
            loss: run.loss,
            steps,
            duration: start.elapsed(),
            aborted,
            method: Method::TvDip,
        };
        Ok((out, snaps))
    }
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
        self.estimate_staged(frames, budget, &mut |_| {}, progress)
    }

    fn estimate_staged(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        interim: &mut dyn FnMut(&Pattern),
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        Ok(self.fit(frames, budget, &[], interim, progress)?.0)
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
