//! `FitConfig`: every knob of the estimators, with named presets (`paper`, `fast`, `refine`)
//! and TOML loading (`preset = "fast"` plus overrides of any key).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::NucError;
use super::net::SkipConfig;
use super::schedule::ScheduleKind;
use super::tv::{Penalty, TvPenalty};

/// Adam hyper-parameters (PyTorch defaults unless changed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

/// The warm-start fine-tune run when a TV-DIP estimator that already holds weights is asked
/// for a new pattern of the same size (reference `3_spn` cell 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefineConfig {
    pub steps: u32,
    pub lr: f64,
    pub schedule: ScheduleKind,
}

/// Multi-frame convex TV (Chambolle–Pock) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpTvConfig {
    pub iterations: u32,
    /// Weight of ‖O‖² with frames scaled to the 14-bit range.
    pub lambda: f32,
    /// Primal step τ; the dual step is σ = 1/(8·N·τ).
    pub tau: f32,
    /// At most this many frames (evenly spread) enter the solve.
    pub max_frames: usize,
}

/// Column-statistics destriper settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColMeanConfig {
    /// Width (columns) of the moving average that separates scene trends from stripes.
    pub window: usize,
}

/// Everything an estimator needs. `FitConfig::preset("paper")` is the reference exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// `"cpu"` or `"cuda:N"` (needs the `cuda` feature).
    pub device: String,
    /// Seed for z, weights, frame order and k draws; `None` = from the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Network architecture.
    pub net: SkipConfig,
    pub adam: AdamConfig,
    /// Network iterations of a cold fit.
    pub steps: u32,
    pub schedule: ScheduleKind,
    /// Scale the schedule's block boundaries to `steps` instead of the reference length.
    pub compress_schedule: bool,
    /// σ of the Gaussian perturbation of z at every step.
    pub reg_noise_std: f32,
    /// z is drawn U[0, z_scale).
    pub z_scale: f32,
    /// Multiplies every TV step k of the schedule (the reference's k ∈ [50,59] suits frames of
    /// 256×320 and more; smaller sensors may want a proportionally smaller k).
    #[serde(default = "one")]
    pub k_scale: f32,
    /// What the TV loss charges per difference: `l1` (the reference) or `cauchy` (see
    /// [`TvPenalty`]: keeps scene structure that many frames share out of the pattern).
    #[serde(default)]
    pub tv_penalty: TvPenalty,
    /// Scale `s` of the `cauchy` penalty, as a fraction of the frames' range.
    #[serde(default = "default_tv_scale")]
    pub tv_scale: f32,
    /// Fit the network on frames reduced by this factor (area average) and upsample its pattern
    /// bilinearly; 1 = full resolution (reference). Only low-frequency noise survives the
    /// reduction, so use it together with `init_from_cptv`.
    pub downscale: usize,
    /// First estimate the pattern with CP-TV, then fit the network to what CP-TV left
    /// (pattern = CP-TV pattern + network pattern).
    pub init_from_cptv: bool,
    /// With `init_from_cptv`, a cold fit also fits the network on the earlier and the later half
    /// of the frames; when what the two patterns share (√ of their covariance, as a fraction of
    /// the frames' range) is below this, the network learnt scene content rather than a fixed
    /// pattern and CP-TV's pattern is used alone. 0 = no check
    /// (the reference). Costs two more fits of the same length. The value depends on the
    /// network and its length: 0.025 was measured for `fast`'s network at 1/8 and 120 steps
    /// under the L1 penalty; with 240 or more steps the FPN-only sets of the quality bench share
    /// 0.025–0.033 and pass. `fast` now runs without it (see [`FitConfig::fast`]).
    #[serde(default)]
    pub min_shared_pattern: f32,
    /// Passes of the per-pixel offset refinement after the fit
    /// ([`super::pixel_offsets`]): each adds the frames' mean of what a corrected pixel reads
    /// above its neighbours. 0 = none (the reference).
    #[serde(default)]
    pub pixel_passes: u32,
    /// At most this many frames (evenly spread) are used for a TV-DIP fit.
    pub max_frames: usize,
    /// Training frames in each step's loss (their mean): 1 = one random frame per step (the
    /// reference), 0 = every frame. More frames give the gradient of the whole multi-frame
    /// objective instead of one frame's; the network's forward and backward pass cost the
    /// same, only the loss is evaluated per frame.
    #[serde(default = "one_usize")]
    pub frames_per_step: usize,
    pub refine: RefineConfig,
    pub cptv: CpTvConfig,
    pub colmean: ColMeanConfig,
    /// Memory cap of a TV-DIP fit in MiB: a frame set or network whose estimated need
    /// (weights, Adam state, activations, frames) exceeds it is refused before the fit starts,
    /// instead of the process being killed half-way. `None` = no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mb: Option<u64>,
}

/// Bound on `pixel_passes` (each pass reads every frame once; the preset's one pass is where
/// the quality bench was measured).
const MAX_PIXEL_PASSES: u32 = 8;

/// Names accepted by [`FitConfig::preset`].
pub const PRESETS: [&str; 3] = ["paper", "fast", "refine"];

impl FitConfig {
    /// The reference TV-DIP (video notebook): 5 levels 128/128/4, 32-channel z U[0,0.1),
    /// σ = 3e-5, Adam 1e-3, video schedule, 18,000 steps, full resolution.
    pub fn paper() -> Self {
        FitConfig {
            max_memory_mb: None,
            device: "cpu".into(),
            seed: None,
            net: SkipConfig::reference(),
            adam: AdamConfig {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            steps: 18_000,
            schedule: ScheduleKind::Video,
            compress_schedule: false,
            reg_noise_std: 3e-5,
            z_scale: 0.1,
            k_scale: 1.0,
            tv_penalty: TvPenalty::L1,
            tv_scale: default_tv_scale(),
            downscale: 1,
            init_from_cptv: false,
            min_shared_pattern: 0.0,
            pixel_passes: 0,
            max_frames: 200,
            frames_per_step: 1,
            refine: RefineConfig {
                steps: 50,
                lr: 1e-4,
                schedule: ScheduleKind::Refine,
            },
            cptv: CpTvConfig {
                iterations: 300,
                lambda: 5e-4,
                tau: 2.0,
                max_frames: 16,
            },
            colmean: ColMeanConfig { window: 31 },
        }
    }

    /// Best quality per CPU second found so far (see the quality bench): CP-TV removes the
    /// high-frequency FPN at full resolution; a small network (3 levels, 16 channels, flat
    /// initial output) fitted at 1/16 resolution with the compressed LPN schedule takes the
    /// low-frequency residue, under the Cauchy TV penalty (scale 0.005 of the range).
    /// Measured on `human` (quality bench, 2 cores, 16 frames spread over the set): the Cauchy
    /// penalty against L1 took lpn_l2 from 29.6 to 32.9 dB and combined_f10_l2 from 24.0 to
    /// 24.8 at 240 steps and 1/8; 1/16 and 960 steps then gave 34.8 and 26.5. With L1 the
    /// network took static scene shading on FPN-only sets and a split-half check had to drop
    /// it there; with the Cauchy penalty it gains on them too, so no check runs (its two extra
    /// fits would cost two thirds of the steps). One pass of the per-pixel refinement then took
    /// combined_f10_l2 from 26.5 to 28.1 dB and fpn_f10 from 28.2 to 29.3 (lpn_l2 unchanged,
    /// lpn_l1 −0.2).
    pub fn fast() -> Self {
        FitConfig {
            net: SkipConfig {
                levels: 3,
                channels_down: 16,
                channels_up: 16,
                channels_skip: 4,
                input_depth: 8,
                zero_init_output: true,
            },
            steps: 960,
            schedule: ScheduleKind::Lpn,
            compress_schedule: true,
            tv_penalty: TvPenalty::Cauchy,
            tv_scale: 0.005,
            downscale: 16,
            init_from_cptv: true,
            min_shared_pattern: 0.0,
            pixel_passes: 1,
            max_frames: 16,
            refine: RefineConfig {
                steps: 50,
                lr: 1e-4,
                schedule: ScheduleKind::Refine,
            },
            ..FitConfig::paper()
        }
    }

    /// The reference refinement alone: short, low learning rate, TV_1 + 0.1·TV_[3,9]; for
    /// periodic refreshes of an estimator that already holds weights.
    pub fn refine() -> Self {
        FitConfig {
            adam: AdamConfig {
                lr: 1e-4,
                ..FitConfig::paper().adam
            },
            steps: 50,
            schedule: ScheduleKind::Refine,
            ..FitConfig::paper()
        }
    }

    /// The TV loss's penalty with its scale.
    pub fn penalty(&self) -> Penalty {
        Penalty {
            kind: self.tv_penalty,
            scale: self.tv_scale,
        }
    }

    /// A named preset (`paper`, `fast`, `refine`).
    pub fn preset(name: &str) -> Result<Self, NucError> {
        match name.trim() {
            "paper" => Ok(Self::paper()),
            "fast" => Ok(Self::fast()),
            "refine" => Ok(Self::refine()),
            other => Err(NucError::UnknownPreset(other.to_string())),
        }
    }

    /// Parses TOML: an optional `preset = "NAME"` (default `fast`) and any keys of the config to
    /// override it, e.g. `steps = 500` or `[net]\nchannels_down = 32`.
    pub fn from_toml_str(text: &str) -> Result<Self, NucError> {
        let mut user: toml::Table =
            toml::from_str(text).map_err(|e| NucError::ConfigParse(e.to_string()))?;
        let base = match user.remove("preset") {
            None => Self::fast(),
            Some(toml::Value::String(name)) => Self::preset(&name)?,
            Some(other) => {
                return Err(NucError::Config {
                    key: "preset".into(),
                    reason: format!("expected a string, got {other}"),
                });
            }
        };
        let mut merged = match toml::Value::try_from(&base) {
            Ok(toml::Value::Table(t)) => t,
            Ok(_) => return Err(NucError::ConfigParse("preset is not a table".into())),
            Err(e) => return Err(NucError::ConfigParse(e.to_string())),
        };
        merge(&mut merged, user);
        let cfg: FitConfig = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| NucError::ConfigParse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a TOML file (see [`FitConfig::from_toml_str`]).
    pub fn from_file(path: &Path) -> Result<Self, NucError> {
        let text = std::fs::read_to_string(path).map_err(|source| NucError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| NucError::StateFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The config as TOML (round-trips through [`FitConfig::from_toml_str`]).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), NucError> {
        let bad = |key: &str, reason: &str| {
            Err(NucError::Config {
                key: key.into(),
                reason: reason.into(),
            })
        };
        let n = &self.net;
        if n.levels == 0 || n.levels > 8 {
            return bad("net.levels", "must be 1..=8");
        }
        if n.channels_down == 0 || n.channels_up == 0 || n.input_depth == 0 {
            return bad("net", "channel counts and input_depth must be positive");
        }
        if !(self.adam.lr > 0.0 && self.adam.lr.is_finite()) {
            return bad("adam.lr", "must be a positive number");
        }
        if !(0.0..1.0).contains(&self.adam.beta1) || !(0.0..1.0).contains(&self.adam.beta2) {
            return bad("adam.beta1/beta2", "must be in [0, 1)");
        }
        if self.steps == 0 {
            return bad("steps", "must be at least 1");
        }
        if !(self.tv_scale > 0.0 && self.tv_scale <= 1.0) {
            return bad("tv_scale", "must be in (0, 1]");
        }
        if !(self.k_scale > 0.0 && self.k_scale <= 16.0) {
            return bad("k_scale", "must be in (0, 16]");
        }
        if self.downscale == 0 || self.downscale > 16 {
            return bad("downscale", "must be 1..=16");
        }
        if !positive(self.z_scale) || !non_negative(self.reg_noise_std) {
            return bad("z_scale/reg_noise_std", "z_scale > 0 and reg_noise_std ≥ 0");
        }
        if self.max_frames == 0 || self.cptv.max_frames == 0 {
            return bad("max_frames", "must be at least 1");
        }
        if !positive(self.cptv.tau) || !non_negative(self.cptv.lambda) || self.cptv.iterations == 0
        {
            return bad("cptv", "tau > 0, lambda ≥ 0 and iterations ≥ 1 required");
        }
        if !(0.0..=1.0).contains(&self.min_shared_pattern) {
            return bad("min_shared_pattern", "must be in [0, 1]");
        }
        if self.min_shared_pattern > 0.0 && !self.init_from_cptv {
            return bad(
                "min_shared_pattern",
                "needs init_from_cptv = true (CP-TV is the pattern used when the check fails)",
            );
        }
        if self.pixel_passes > MAX_PIXEL_PASSES {
            return bad("pixel_passes", "must be 0..=8");
        }
        if self.colmean.window < 3 {
            return bad("colmean.window", "must be at least 3");
        }
        if !(self.refine.lr.is_finite() && self.refine.lr > 0.0) {
            return bad("refine.lr", "must be positive");
        }
        super::device::parse_device(&self.device).map(|_| ())
    }
}

/// `x > 0` and finite (false for NaN).
fn positive(x: f32) -> bool {
    x.is_finite() && x > 0.0
}

/// `x ≥ 0` and finite (false for NaN).
fn non_negative(x: f32) -> bool {
    x.is_finite() && x >= 0.0
}

fn one() -> f32 {
    1.0
}

fn default_tv_scale() -> f32 {
    0.02
}

fn one_usize() -> usize {
    1
}

/// Recursively overrides `base` with `user`.
fn merge(base: &mut toml::Table, user: toml::Table) {
    for (k, v) in user {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) => merge(b, u),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip() {
        for name in PRESETS {
            let cfg = FitConfig::preset(name).unwrap();
            cfg.validate().unwrap();
            let text = format!("preset = \"{name}\"\n");
            assert_eq!(FitConfig::from_toml_str(&text).unwrap(), cfg);
            assert_eq!(FitConfig::from_toml_str(&cfg.to_toml()).unwrap(), cfg);
        }
    }

    #[test]
    fn paper_preset_is_the_reference() {
        let p = FitConfig::paper();
        assert_eq!(p.net, SkipConfig::reference());
        assert_eq!(
            (p.adam.lr, p.adam.beta1, p.adam.beta2, p.adam.eps),
            (1e-3, 0.9, 0.999, 1e-8)
        );
        assert_eq!(p.steps, 18_000);
        assert_eq!(p.schedule, ScheduleKind::Video);
        assert_eq!(p.reg_noise_std, 3e-5);
        assert_eq!(p.downscale, 1);
        assert!(!p.init_from_cptv);
    }

    #[test]
    fn overrides_and_errors_name_the_key() {
        let cfg =
            FitConfig::from_toml_str("preset = \"paper\"\nsteps = 7\n[net]\nchannels_down = 8\n")
                .unwrap();
        assert_eq!(cfg.steps, 7);
        assert_eq!(cfg.net.channels_down, 8);
        assert_eq!(cfg.net.channels_up, 128);
        let e = FitConfig::from_toml_str("stepz = 3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stepz"), "{e}");
        let e = FitConfig::from_toml_str("steps = 0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("steps"), "{e}");
        let e = FitConfig::from_toml_str("preset = \"slow\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("slow"), "{e}");
        let e = FitConfig::from_toml_str("device = \"tpu\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tpu"), "{e}");
    }
}
