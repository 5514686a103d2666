//! The frame loop: read a frame, check its shape, correct it against the current pattern,
//! update counters, hand it to the refit scheduler, the outputs and the link, and beat for the
//! capture watchdog. Bad frames are logged (rate-limited) and skipped; a lost or stalled
//! source is marked absent and re-opened every `watchdog.reconnect_interval_s` until it is
//! back, the loop beating all the while. Dropped frames are the gaps in the driver's sequence
//! numbers plus the bad frames; latency runs from the driver's capture time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::core::{DaemonCore, LatestFrame};
use crate::frame::RawFrame;
use crate::live_correction::LiveCorrection;
use crate::outputs::{LoopbackOutput, SnapshotWriter};
use crate::roughness::roughness_u16;
use crate::source::{FrameSource, SourceError};
use crate::stats::{CameraState, unix_ms};

/// Logs a repeating problem at most once per interval, with the count of those suppressed.
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn new() -> Self {
        RateLimited {
            last: None,
            suppressed: 0,
        }
    }

    /// Returns `Some(suppressed_count)` when a line should be logged now.
    fn hit(&mut self, every: Duration) -> Option<u64> {
        if self.last.is_none_or(|t| t.elapsed() >= every) {
            self.last = Some(Instant::now());
            let n = self.suppressed;
            self.suppressed = 0;
            Some(n)
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// Liveness of the capture thread, watched by the capture watchdog.
#[derive(Default)]
pub struct CaptureBeat {
    /// ms since daemon start of the last loop iteration (frames or none).
    pub loop_ms: AtomicU64,
    /// Incremented to retire a wedged capture thread (a new one is started).
    pub generation: AtomicU64,
}

/// Runs the frame loop until shutdown or until `generation` is retired.
pub fn run(
    core: Arc<DaemonCore>,
    mut source: Box<dyn FrameSource>,
    beat: Arc<CaptureBeat>,
    generation: u64,
) {
    let info = source.info();
    let expected = (info.width, info.height);
    let started = core.started;
    let ms_now = || started.elapsed().as_millis() as u64;
    let mut live = LiveCorrection::new(info.width as usize, info.height as usize);
    let mut last_seq: Option<u64> = None;
    let mut fps_window = (Instant::now(), 0u32);
    let mut last_rough: Option<Instant> = None;
    let mut last_frame = Instant::now();
    let mut connected = true;
    let mut ended = false;
    let mut bad_log = RateLimited::new();
    let mut lost_log = RateLimited::new();
    let mut out_log = RateLimited::new();
    let mut loopback: Option<LoopbackOutput> = None;
    let mut loopback_path = None;
    let mut snapshots: Option<(std::path::PathBuf, SnapshotWriter)> = None;
    let mut last_snapshot = Instant::now();

    while !core.stopping() && beat.generation.load(Ordering::Relaxed) == generation {
        beat.loop_ms.store(ms_now(), Ordering::Relaxed);
        // The generation first: a change between the two reads is then seen again next time.
        let cfg_gen = core.config_generation();
        let cfg = core.config();
        if ended {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if !connected {
            std::thread::sleep(Duration::from_secs_f32(cfg.watchdog.reconnect_interval_s));
            match source.reopen() {
                Ok(()) => {
                    // Absent until a frame arrives.
                    info!(source = %info.name, "capture source back");
                    connected = true;
                    last_frame = Instant::now();
                    last_seq = None;
                }
                Err(e) => {
                    if let Some(n) = lost_log.hit(Duration::from_secs(10)) {
                        warn!(error = %e, retries = n + 1, "capture source still unavailable");
                    }
                }
            }
            continue;
        }
        let frame = match source.next_frame(Duration::from_millis(200)) {
            Ok(Some(f)) => f,
            Ok(None) => {
                let timeout = Duration::from_secs_f32(cfg.watchdog.capture_timeout_s);
                if last_frame.elapsed() > timeout {
                    warn!(
                        seconds = last_frame.elapsed().as_secs_f32(),
                        "capture stalled; restarting it"
                    );
                    core.stats.capture_restarts.fetch_add(1, Ordering::Relaxed);
                    core.stats.set_camera(CameraState::Absent);
                    connected = false;
                    last_frame = Instant::now();
                }
                continue;
            }
            Err(SourceError::BadFrame(msg)) => {
                core.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
                if let Some(n) = bad_log.hit(Duration::from_secs(5)) {
                    warn!(reason = %msg, suppressed = n, "bad frame skipped");
                }
                continue;
            }
            Err(SourceError::EndOfStream) => {
                info!(source = %info.name, "source has no more frames");
                core.stats.set_camera(CameraState::Ended);
                ended = true;
                continue;
            }
            Err(e) => {
                warn!(error = %e, "capture source lost; reconnecting");
                core.stats.capture_restarts.fetch_add(1, Ordering::Relaxed);
                core.stats.set_camera(CameraState::Absent);
                connected = false;
                continue;
            }
        };
        if let Err(msg) = frame.check_shape(expected) {
            core.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = bad_log.hit(Duration::from_secs(5)) {
                warn!(reason = %msg, suppressed = n, "bad frame skipped");
            }
            continue;
        }
        last_frame = Instant::now();
        // Frames the driver dropped show as a jump in its sequence numbers; a sequence that
        // restarts (a reopened device) is no loss.
        if let Some(prev) = last_seq
            && frame.seq > prev + 1
        {
            core.stats
                .frames_dropped
                .fetch_add(frame.seq - prev - 1, Ordering::Relaxed);
        }
        last_seq = Some(frame.seq);

        // Rebuilt when the pattern or the configuration changed; a new pattern is blended in.
        let pattern = if cfg.correction.enabled {
            core.cache.current()
        } else {
            None
        };
        let mut corrected = vec![0u16; frame.data.len()];
        if let Err(e) = live.correct(&frame.data, &mut corrected, pattern.as_ref(), &cfg, cfg_gen) {
            // Cannot happen for cache-checked patterns and validated configs; pass the frame
            // through rather than stop the stream.
            if let Some(n) = bad_log.hit(Duration::from_secs(5)) {
                warn!(error = %e, suppressed = n, "correction not updated");
            }
            corrected.copy_from_slice(&frame.data);
        }
        let frame = Arc::new(frame);
        let corrected = Arc::new(corrected);
        let s = &core.stats;
        let latency = frame.timestamp.elapsed();
        s.latency_us.store(
            latency.as_micros().min(u128::from(u32::MAX)) as u32,
            Ordering::Relaxed,
        );
        s.frame_latency.observe(latency.as_secs_f64());
        // Streaming before counted (Release, read with Acquire by telemetry): a reader that
        // sees the frame counted sees the camera streaming too.
        s.frame_arrived();
        s.frames_total.fetch_add(1, Ordering::Release);
        s.sensor_temp_c.set(frame.sensor_temp_c);
        fps_window.1 += 1;
        let el = fps_window.0.elapsed();
        if el >= Duration::from_secs(1) {
            s.fps.set(Some(fps_window.1 as f32 / el.as_secs_f32()));
            fps_window = (Instant::now(), 0);
        }
        if last_rough.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            last_rough = Some(Instant::now());
            s.roughness.set(Some(roughness_u16(
                &corrected,
                expected.0 as usize,
                expected.1 as usize,
            )));
        }
        core.refit.offer_frame(&frame);
        core.latest.store(Some(Arc::new(LatestFrame {
            raw: frame.clone(),
            corrected: corrected.clone(),
        })));
        // Frame streams (recordings): queued or counted as skipped, never waited for.
        core.frames
            .offer(&frame, &corrected, pattern.as_ref().map(|p| p.meta.unix_ms));

        // Outputs.
        if cfg.outputs.loopback != loopback_path {
            loopback_path = cfg.outputs.loopback.clone();
            loopback = None;
            if let Some(path) = &loopback_path {
                match LoopbackOutput::open(path, expected.0, expected.1) {
                    Ok(l) => {
                        info!(device = %path.display(), "corrected frames go to the loopback device");
                        loopback = Some(l);
                    }
                    Err(e) => warn!(error = %e, "loopback output unavailable"),
                }
            }
        }
        if let Some(l) = loopback.as_mut()
            && let Err(e) = l.write_frame(&corrected)
            && let Some(n) = out_log.hit(Duration::from_secs(10))
        {
            warn!(error = %e, suppressed = n, "loopback write failed");
        }
        write_snapshot(&cfg, &mut snapshots, &mut last_snapshot, &frame, &corrected);
    }
}

fn write_snapshot(
    cfg: &crate::config::EdgeConfig,
    snapshots: &mut Option<(std::path::PathBuf, SnapshotWriter)>,
    last: &mut Instant,
    frame: &RawFrame,
    corrected: &Arc<Vec<u16>>,
) {
    let o = &cfg.outputs;
    let (Some(dir), true) = (&o.snapshot_dir, o.snapshot_interval_s > 0) else {
        return;
    };
    if last.elapsed() < Duration::from_secs(o.snapshot_interval_s) {
        return;
    }
    *last = Instant::now();
    if snapshots.as_ref().is_none_or(|(d, _)| d != dir) {
        match SnapshotWriter::start(dir.clone(), o.snapshot_keep) {
            Ok(w) => *snapshots = Some((dir.clone(), w)),
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "snapshot folder unavailable");
                return;
            }
        }
    }
    if let Some((_, w)) = snapshots {
        w.submit(
            format!("snapshot-{}-{:08}.png", unix_ms(), frame.seq),
            frame.width,
            frame.height,
            corrected.clone(),
        );
    }
}
