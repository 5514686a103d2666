//! `dipnuc demo`, the main job without hardware: start an edge daemon on the simulated
//! 320×256 camera (in-process, through `edge::daemon`), talk to it over a real TCP link on
//! loopback with the same client as for a real device, calibrate with TV-DIP within a CPU
//! budget — the device serves the CP-TV stage at once and blends the network's pattern in when
//! it is done — while a second connection samples the streams, then pull raw, corrected and
//! pattern frames, and write images, a PSNR-over-time chart and a report measured against the
//! simulator's ground truth (the simulator is a deterministic function of its configuration,
//! so the host rebuilds the same [`SimModel`] to get the clean scene of any frame).

mod metrics;
mod report;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::Daemon;
use edge::source::sim::SimModel;
use protocol::{FitOutcome, FitProgress, SnapshotKind};

use crate::client::{
    CalibrateOptions, ClientError, ConnectOptions, Device, FitEnd, Pixels, Snapshot, Target,
};
use crate::frame_image::{self, ImageWriteError};

pub use report::{DemoReport, FrameQuality};
pub use watch::StreamSample;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Output folder (created).
    pub out: PathBuf,
    /// Fit method on the device (`cp-tv`, `tv-dip`, `colmean`).
    pub method: String,
    /// Engine preset (`fast`, `paper`, `refine`).
    pub preset: String,
    /// Fit wall-time limit, s.
    pub max_seconds: u32,
    /// Frames in the fit set.
    pub frames: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out: PathBuf::from("dipnuc-demo"),
            method: "tv-dip".into(),
            preset: "fast".into(),
            max_seconds: 60,
            frames: 8,
        }
    }
}

/// What the demo is doing, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoEvent {
    /// A new stage starts.
    Stage(String),
    /// The fit on the device progressed.
    Fit(FitProgress),
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The daemon did not start.
    #[error("starting the simulated edge daemon: {0}")]
    Daemon(String),
    /// Talking to it failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The fit did not produce a pattern.
    #[error("the fit did not complete: {0}")]
    Fit(String),
    /// An image could not be written.
    #[error(transparent)]
    Image(#[from] ImageWriteError),
    /// The output folder or a report could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The device sent frames that do not match the simulator.
    #[error("unexpected frame from the device: {0}")]
    Frame(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The daemon configuration of the demo: the simulated 320×256 camera of
/// `boards/cameras/sim320.toml`, no automatic refits, TCP on a free loopback port with a fresh
/// token, state in `state_dir`.
pub fn edge_config(
    opts: &DemoOptions,
    state_dir: &Path,
    token: &str,
) -> Result<EdgeConfig, DemoError> {
    let text = format!(
        r#"
[device]
id = "demo-sim"
board = "sim"

[camera]
name = "simulated-320x256"
source = "sim"
width = 320
height = 256
fps = 30.0
bit_depth = 14

[camera.sim]
seed = 7
scene_level = 7000.0
scene_contrast = 2200.0
motion_px_per_s = 50.0
column_fpn = 45.0
pixel_fpn = 18.0
lpn = 260.0
drift_per_c = 0.06
temporal_noise = 6.0
temp_start_c = 28.0
temp_drift_c_per_min = 1.6
temp_wobble_c = 2.0

[correction]
blend_frames = 15

[fit]
method = {method}
cpu_method = {method}
preset = {preset}
device = "cpu"
frames = {frames}
collect_interval_ms = 400
fit_on_start = false

[fit.budget]
max_seconds = {max_seconds}
gpu_seconds_per_hour = 3600.0
nice = 0

[fit.triggers]
max_age_s = 0
temp_drift_c = 0.0
roughness_rise = 0.0

[pattern]
store = {store}

[link.tcp]
listen = "127.0.0.1:0"
token = {token}
"#,
        method = toml_str(&opts.method),
        preset = toml_str(&opts.preset),
        frames = opts.frames,
        max_seconds = opts.max_seconds.max(1),
        store = toml_str(&state_dir.join("pattern.dnp").display().to_string()),
        token = toml_str(token),
    );
    EdgeConfig::from_toml_str(&text).map_err(|e| DemoError::Daemon(e.to_string()))
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn fresh_token() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

/// Runs the demo; returns the report (also written to `opts.out`).
pub fn run(
    opts: &DemoOptions,
    mut on_event: impl FnMut(DemoEvent),
) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(io_err(&opts.out))?;
    let state_dir = opts.out.join(".edge-state");
    std::fs::create_dir_all(&state_dir).map_err(io_err(&state_dir))?;
    // A stale pattern from an earlier run would make "before" already corrected.
    let _ = std::fs::remove_file(state_dir.join("pattern.dnp"));

    on_event(DemoEvent::Stage(
        "starting the simulated edge daemon".into(),
    ));
    let token = fresh_token();
    let cfg = edge_config(opts, &state_dir, &token)?;
    let sim = SimModel::new(&cfg.camera);
    let daemon = Daemon::start(cfg.clone()).map_err(|e| DemoError::Daemon(e.to_string()))?;
    let addr = daemon
        .local_tcp_addr()
        .ok_or_else(|| DemoError::Daemon("the daemon has no TCP link".into()))?;

    let result = (|| {
        let target = Target::Tcp(addr.to_string());
        let link = target.to_string();
        let conn = ConnectOptions::new(target)
            .with_token(token.clone())
            .with_timeouts(Duration::from_secs(5), Duration::from_secs(5));
        on_event(DemoEvent::Stage(format!("connecting over {link}")));
        let mut dev = Device::connect(&conn)?;
        let info = dev.info()?;
        let (w, h) = (usize::from(info.width), usize::from(info.height));

        on_event(DemoEvent::Stage(format!(
            "calibrating with {} (preset {}, at most {} s)",
            opts.method, opts.preset, opts.max_seconds
        )));
        dev.subscribe_fit()?;
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (conn, sim, stop) = (conn.clone(), Arc::new(sim.clone()), stop.clone());
            let method = opts.method.clone();
            std::thread::spawn(move || watch::watch(conn, sim, stop, method))
        };
        let fit_id = dev.calibrate_start(&CalibrateOptions {
            preset: opts.preset.clone(),
            max_seconds: opts.max_seconds,
            max_steps: 0,
        })?;
        let never = AtomicBool::new(false);
        // Collecting the frame set comes before the fit's own time limit.
        let wait = Duration::from_secs(u64::from(opts.max_seconds) + 60);
        let end = dev.follow_fit(fit_id, wait, &never, |p| {
            on_event(DemoEvent::Fit(p.clone()))
        });
        // Keep sampling until the new pattern is blended in.
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        let watched = watcher.join().unwrap_or_default();
        let end = end?;
        let (outcome, steps, fit_ms, loss) = match &end {
            FitEnd::Done(d) if d.outcome == FitOutcome::Completed => {
                ("completed", d.steps, d.duration_ms, d.loss)
            }
            FitEnd::Done(d) => {
                return Err(DemoError::Fit(format!("{:?}: {}", d.outcome, d.detail)));
            }
            FitEnd::Finished { summary: Some(s) } => ("completed", s.steps, s.duration_ms, s.loss),
            FitEnd::Finished { summary: None } => return Err(DemoError::Fit("no pattern".into())),
            FitEnd::TimedOut => return Err(DemoError::Fit(format!("no result after {wait:?}"))),
        };

        on_event(DemoEvent::Stage(
            "pulling raw, corrected and pattern frames".into(),
        ));
        let (raw, corrected) = same_frame_pair(&mut dev)?;
        let pattern = dev.snapshot(SnapshotKind::Pattern)?;

        on_event(DemoEvent::Stage(
            "measuring against the simulator's clean frames".into(),
        ));
        let quality = |shot: &Snapshot| -> Result<(FrameQuality, Vec<f32>), DemoError> {
            let seq = shot.seq().ok_or_else(|| {
                DemoError::Frame(format!("no frame number in {:?}", shot.meta.label))
            })?;
            let clean = sim.clean(seq);
            let v = shot.to_f32();
            if v.len() != clean.len() {
                return Err(DemoError::Frame(format!(
                    "{} pixels, the simulator has {}",
                    v.len(),
                    clean.len()
                )));
            }
            let q = FrameQuality {
                seq,
                psnr_db: metrics::psnr_offset_free(&v, &clean),
                psnr_minmax_db: metrics::psnr_minmax(&v, &clean),
                roughness: metrics::roughness(&v, w, h),
            };
            Ok((q, clean))
        };
        let (raw_q, clean) = quality(&raw)?;
        let (cor_q, _) = quality(&corrected)?;
        // The same raw frame corrected with the first-stage (CP-TV) pattern, as the device
        // corrects: raw − zero-mean pattern.
        let first_stage = watched.first_stage.as_ref().map(|p| {
            let pat = p.to_f32();
            let mean = pat.iter().map(|&v| f64::from(v)).sum::<f64>() / pat.len().max(1) as f64;
            let v: Vec<f32> = raw
                .to_f32()
                .iter()
                .zip(&pat)
                .map(|(r, p)| (r - (p - mean as f32)).round().clamp(0.0, 16383.0))
                .collect();
            let q = FrameQuality {
                seq: raw_q.seq,
                psnr_db: metrics::psnr_offset_free(&v, &clean),
                psnr_minmax_db: metrics::psnr_minmax(&v, &clean),
                roughness: metrics::roughness(&v, w, h),
            };
            (q, v, p.meta.label.to_string())
        });
        let truth = sim.pattern_of(raw_q.seq);
        let (pattern_rmse_dn, pattern_rms_dn) = metrics::pattern_error(&pattern.to_f32(), &truth);

        on_event(DemoEvent::Stage("writing images and the report".into()));
        let mut files = write_images(
            &opts.out,
            w,
            h,
            &raw,
            &corrected,
            &pattern,
            &clean,
            first_stage.as_ref().map(|f| f.1.as_slice()),
        )?;
        report::psnr_chart(&watched.samples, &opts.method)
            .save_png(&opts.out.join("psnr_over_time.png"), 900, 380)
            .map_err(|e| {
                DemoError::Image(ImageWriteError::Write {
                    path: opts.out.join("psnr_over_time.png"),
                    reason: e.to_string(),
                })
            })?;
        files.push("psnr_over_time.png".into());
        let mut report = DemoReport {
            width: w,
            height: h,
            link,
            method: opts.method.clone(),
            preset: opts.preset.clone(),
            max_seconds: opts.max_seconds,
            fit_outcome: outcome.into(),
            fit_steps: steps,
            fit_seconds: f64::from(fit_ms) / 1000.0,
            fit_loss: loss,
            raw: raw_q,
            corrected: cor_q,
            first_stage: first_stage.as_ref().map(|f| f.0),
            first_stage_method: first_stage.as_ref().map(|f| f.2.clone()),
            timeline: watched.samples,
            clean_roughness: metrics::roughness(&clean, w, h),
            pattern_rmse_dn,
            pattern_rms_dn,
            total_seconds: 0.0,
            files,
        };
        report.files.push("report.md".into());
        report.files.push("report.json".into());
        report.total_seconds = started.elapsed().as_secs_f64();
        let json_path = opts.out.join("report.json");
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        std::fs::write(&json_path, json + "\n").map_err(io_err(&json_path))?;
        let md_path = opts.out.join("report.md");
        std::fs::write(&md_path, report.to_markdown()).map_err(io_err(&md_path))?;
        Ok(report)
    })();
    daemon.shutdown();
    result
}

/// A raw and a corrected snapshot of the same frame when the device allows it (a few tries:
/// the camera moves on between the two pulls), else the closest pair.
fn same_frame_pair(dev: &mut Device) -> Result<(Snapshot, Snapshot), DemoError> {
    let mut last = None;
    for _ in 0..8 {
        let raw = dev.snapshot(SnapshotKind::Raw)?;
        let corrected = dev.snapshot(SnapshotKind::Corrected)?;
        if raw.seq().is_some() && raw.seq() == corrected.seq() {
            return Ok((raw, corrected));
        }
        last = Some((raw, corrected));
    }
    Ok(last.expect("at least one try"))
}

#[allow(clippy::too_many_arguments)]
fn write_images(
    out: &Path,
    w: usize,
    h: usize,
    raw: &Snapshot,
    corrected: &Snapshot,
    pattern: &Snapshot,
    clean: &[f32],
    first_stage: Option<&[f32]>,
) -> Result<Vec<String>, DemoError> {
    let words = |s: &Snapshot| match &s.pixels {
        Pixels::U16(v) => v.clone(),
        Pixels::F32(v) => frame_image::f32_to_u16(v, 32768.0),
    };
    frame_image::save_u16(&out.join("raw.png"), w, h, &words(raw))?;
    frame_image::save_u16(&out.join("corrected.png"), w, h, &words(corrected))?;
    frame_image::save_u16(&out.join("pattern.png"), w, h, &words(pattern))?;
    frame_image::save_u16(
        &out.join("clean.png"),
        w,
        h,
        &frame_image::f32_to_u16(clean, 0.0),
    )?;
    let (rawf, corf, patf) = (raw.to_f32(), corrected.to_f32(), pattern.to_f32());
    frame_image::save_preview(&out.join("raw.preview.png"), w, h, &rawf)?;
    frame_image::save_preview(&out.join("corrected.preview.png"), w, h, &corf)?;
    frame_image::save_preview(&out.join("pattern.preview.png"), w, h, &patf)?;
    // Raw, corrected and clean on one colour scale (the clean scene's, shifted to each
    // frame's mean), so what differs is the noise, not the contrast stretch.
    let (lo, hi) = crate::colormap::percentiles(clean, 0.5, 99.5);
    let mean =
        |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() as f32 / v.len().max(1) as f32;
    let shifted = |v: &[f32]| {
        let d = mean(v) - mean(clean);
        Some((lo + d, hi + d))
    };
    // Raw, the first stage (CP-TV) and the final method on the same frame, then the clean one.
    let mut panels = vec![(rawf.as_slice(), shifted(&rawf))];
    if let Some(v) = first_stage {
        panels.push((v, shifted(v)));
    }
    panels.push((corf.as_slice(), shifted(&corf)));
    panels.push((clean, Some((lo, hi))));
    let (sw, sh, rgb) = frame_image::side_by_side(w, h, &panels, 2, 8);
    frame_image::save_rgb(&out.join("side_by_side.png"), sw, sh, rgb)?;
    Ok([
        "raw.png",
        "corrected.png",
        "pattern.png",
        "clean.png",
        "raw.preview.png",
        "corrected.preview.png",
        "pattern.preview.png",
        "side_by_side.png",
    ]
    .map(String::from)
    .to_vec())
}
