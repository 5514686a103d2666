//! The drift bench (`cargo bench -p edge --bench drift`): the daemon's own refit loop — frame
//! collector, static-scene guard, scheduler and budget ledger, estimator, pattern cache and the
//! blending correction — driven through a simulated half hour of a drifting camera on a
//! [`SimClock`], once per method and budget, measured per scenario segment against the
//! simulator's clean frames.
//!
//! The driver plays the capture loop: it renders each frame, corrects it through
//! [`LiveCorrection`] with the cache's current pattern, feeds the roughness and temperature
//! the triggers read, offers the frame to the scheduler and moves the clock on. While a fit
//! computes (in real time, on its thread) the clock holds still, and the result lands at the
//! fit's start plus its real duration, so frames in between keep the old pattern.

pub mod measure;
pub mod report;
pub mod warm_start;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::SimClock;
use crate::config::{ConfigError, EdgeConfig, LiveConfig};
use crate::events::{DaemonEvent, EventBus, FitEnd};
use crate::frame::RawFrame;
use crate::live_correction::LiveCorrection;
use crate::pattern_cache::PatternCache;
use crate::refit::{RefitScheduler, RefitShared, build_estimator};
use crate::roughness::roughness_u16;
use crate::source::drift::DriftModel;
use crate::stats::Stats;
use engine::nuc::Method;
use measure::SegmentSums;

/// A compute budget for refits.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetClass {
    /// Name in reports.
    pub name: &'static str,
    /// `fit.budget.gpu_seconds_per_hour`.
    pub seconds_per_hour: f32,
    /// `fit.budget.max_seconds`.
    pub max_seconds: f32,
    /// `fit.downscale`: the network's fitting resolution (0 = the preset's).
    pub downscale: usize,
}

/// A CPU board: 2 minutes of compute per hour, 30 s per fit.
pub const CPU_BUDGET: BudgetClass = BudgetClass {
    name: "cpu",
    seconds_per_hour: 120.0,
    max_seconds: 30.0,
    downscale: 0,
};

/// A GPU-class board, modelled as 8× the compute seconds per hour on this CPU (no GPU is
/// used): 16 minutes per hour, 60 s per fit, the network at twice the `fast` preset's resolution.
pub const GPU_CLASS_BUDGET: BudgetClass = BudgetClass {
    name: "gpu-class (8x cpu s/h, on cpu)",
    seconds_per_hour: 960.0,
    max_seconds: 60.0,
    downscale: 8,
};

/// One run of the bench.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The fit method; `None` corrects nothing.
    pub method: Option<Method>,
    /// The budget.
    pub budget: BudgetClass,
}

impl Case {
    /// `none`, `colmean`, `cp-tv` or `tv-dip`.
    pub fn method_name(&self) -> &'static str {
        self.method.map_or("none", Method::as_str)
    }
}

/// Settings shared by the cases.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Simulated seconds to run.
    pub duration_s: f32,
    /// Engine preset of the fits.
    pub preset: String,
    /// Frames in a fit set.
    pub frames: usize,
    /// `correction.blend_frames`.
    pub blend_frames: u32,
    /// `fit.min_moving_fraction` (the static-scene guard; 0 = off).
    pub min_moving_fraction: f32,
    /// Seconds per point of the PSNR-over-time series.
    pub bucket_s: f32,
    /// Where each case keeps its pattern file.
    pub work_dir: PathBuf,
}

/// What one case measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// Sums per scenario segment, in script order.
    pub segments: Vec<SegmentSums>,
    /// (minutes, mean PSNR dB) per bucket.
    pub timeline: Vec<(f32, f64)>,
    /// Real seconds the case took.
    pub wall_s: f64,
}

/// Why a case could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The daemon configuration built for the case is invalid.
    #[error("case configuration: {0}")]
    Config(#[from] ConfigError),
    /// The work folder could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The correction could not be prepared (a pattern of the wrong size).
    #[error("correction: {0}")]
    Correction(#[from] crate::correct::CorrectionError),
    /// The refit scheduler's thread could not be started.
    #[error("refit scheduler: {0}")]
    Scheduler(std::io::Error),
}

/// The daemon configuration of a case.
pub fn case_config(
    model: &DriftModel,
    case: &Case,
    opts: &RunOptions,
    store: &Path,
) -> Result<EdgeConfig, ConfigError> {
    let c = model.config();
    let method = case.method.unwrap_or(Method::CpTv);
    let text = format!(
        r#"
[camera]
name = "drift-bench"
source = "sim"
width = {w}
height = {h}
fps = {fps}
bit_depth = {bits}

[correction]
blend_frames = {blend}

[fit]
method = "{method}"
cpu_method = "cp-tv"
preset = "{preset}"
device = "cpu"
downscale = {downscale}
frames = {frames}
min_motion_dn = 8.0
collect_interval_ms = 500
min_moving_fraction = {moving}
fit_on_start = true

[fit.budget]
gpu_seconds_per_hour = {per_hour}
max_seconds = {max_s}
max_steps = 2000
duty_cycle = 1.0
nice = 0

[fit.triggers]
max_age_s = 600
temp_drift_c = 1.0
roughness_rise = 0.3
min_interval_s = 30

[pattern]
store = {store}
"#,
        w = c.width,
        h = c.height,
        fps = c.fps,
        bits = c.bit_depth,
        blend = opts.blend_frames,
        method = method.as_str(),
        preset = opts.preset,
        frames = opts.frames,
        moving = opts.min_moving_fraction,
        per_hour = case.budget.seconds_per_hour,
        max_s = case.budget.max_seconds,
        downscale = case.budget.downscale,
        store = toml::Value::String(store.display().to_string()),
    );
    EdgeConfig::from_toml_str(&text)
}

/// Runs one case through the simulated duration.
pub fn run_case(
    model: &DriftModel,
    case: &Case,
    opts: &RunOptions,
) -> Result<CaseResult, BenchError> {
    let started = Instant::now();
    let dir = opts.work_dir.join(format!(
        "{}-{}",
        case.method_name(),
        case.budget
            .name
            .split_whitespace()
            .next()
            .unwrap_or("budget")
    ));
    std::fs::create_dir_all(&dir).map_err(|source| BenchError::Io {
        path: dir.clone(),
        source,
    })?;
    let store = dir.join("pattern.dnp");
    for stale in [store.clone(), dir.join("pattern.dnp.state.safetensors")] {
        let _ = std::fs::remove_file(stale);
    }
    let cfg = case_config(model, case, opts, &store)?;
    let (w, h) = model.size();
    let fps = model.config().fps;
    let clock = SimClock::new();
    let cache = Arc::new(PatternCache::new(store, (w as u32, h as u32)));
    let stats = Arc::new(Stats::default());
    let events = Arc::new(EventBus::default());
    let done = events.subscribe(4096);
    let scheduler = case
        .method
        .map(|_| {
            RefitScheduler::start_with_clock(
                RefitShared {
                    cache: cache.clone(),
                    stats: stats.clone(),
                    events: events.clone(),
                    config: LiveConfig::new(cfg.clone()),
                },
                build_estimator,
                Arc::new(clock.clone()),
            )
        })
        .transpose()
        .map_err(BenchError::Scheduler)?;

    let scenario = &model.config().scenario;
    let mut segments = vec![SegmentSums::default(); scenario.segments.len()];
    let mut timeline = Vec::new();
    let mut bucket = (0.0f64, 0u32);
    let mut next_bucket = opts.bucket_s;
    let mut live = LiveCorrection::new(w, h);
    let mut out = vec![0u16; w * h];
    let mut prev_applied = vec![0.0f32; w * h];
    let mut prev_clean: Option<Vec<f32>> = None;
    let mut current = None;
    let mut next_rough = 0.0f32;
    let frames = (opts.duration_s * fps) as u64;
    for seq in 0..frames {
        let t = seq as f32 / fps;
        clock.advance_to(Duration::from_secs_f64(f64::from(t)));
        let f = model.frame(seq);
        let seg = f.segment;
        let pattern = cache.current();
        let changed = match (&current, &pattern) {
            (None, None) => false,
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            _ => true,
        };
        let was_blending = live.blending();
        live.correct(&f.raw, &mut out, pattern.as_ref(), &cfg, 0)?;
        if changed && let Some(p) = &pattern {
            let truth = model.pattern_of(seq);
            let leak = measure::scene_leak(&p.data, &truth, &f.clean);
            segments[seg].leak_max = segments[seg].leak_max.max(leak);
            let [low, column, rest] = measure::error_parts(&p.data, &truth, w, h);
            let [true_low, true_column, true_rest] =
                measure::error_parts(&vec![0.0; w * h], &truth, w, h);
            tracing::info!(
                seq,
                segment = seg,
                leak,
                low,
                column,
                rest,
                true_low,
                true_column,
                true_rest,
                "pattern installed; its error and the true pattern by part (DN rms)"
            );
        }
        current = pattern;
        let flicker = match &prev_clean {
            Some(pc) if changed || was_blending || live.blending() => {
                measure::flicker(&prev_applied, live.applied(), pc, &f.clean)
            }
            _ => 0.0,
        };
        if changed || was_blending || live.blending() {
            prev_applied.copy_from_slice(live.applied());
        }
        let (psnr, nu) = measure::quality(&out, &f.clean);
        segments[seg].add_frame(psnr, nu, flicker);
        bucket = (bucket.0 + psnr, bucket.1 + 1);
        if t + 0.5 / fps >= next_bucket {
            timeline.push((t / 60.0, bucket.0 / f64::from(bucket.1.max(1))));
            bucket = (0.0, 0);
            next_bucket += opts.bucket_s;
        }
        // What the capture loop feeds the triggers.
        stats.sensor_temp_c.set(Some(f.temp_c));
        if t >= next_rough {
            stats.roughness.set(Some(roughness_u16(&out, w, h)));
            next_rough = t + 0.5;
        }
        if let Some(s) = &scheduler {
            s.offer_frame_waiting(&Arc::new(RawFrame {
                seq,
                timestamp: clock_now(&clock),
                width: w as u32,
                height: h as u32,
                data: f.raw,
                sensor_temp_c: Some(f.temp_c),
            }));
        }
        prev_clean = Some(f.clean);
        while let Ok(ev) = done.try_recv() {
            if let DaemonEvent::FitDone {
                outcome: FitEnd::Completed,
                duration_ms,
                ..
            } = ev
            {
                segments[seg].compute_s += duration_ms as f64 / 1000.0;
                segments[seg].fits += 1;
            }
        }
    }
    if let Some(s) = scheduler {
        s.shutdown();
    }
    Ok(CaseResult {
        case: case.clone(),
        segments,
        timeline,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

fn clock_now(clock: &Arc<SimClock>) -> Instant {
    crate::clock::Clock::now(clock)
}
