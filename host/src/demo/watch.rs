//! The demo's second connection: while the device calibrates, it samples the raw and corrected
//! streams and the pattern in use a few times a second and scores them against the
//! simulator's clean frames, which gives the PSNR-over-time chart (raw video, then the CP-TV
//! stage served at once, then TV-DIP blended in), and keeps the first-stage pattern.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use edge::source::sim::SimModel;
use protocol::SnapshotKind;
use serde::Serialize;

use super::metrics;
use crate::client::{ConnectOptions, Device, Snapshot};

/// One sample of the streams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamSample {
    /// Seconds since the calibration was asked for.
    pub t_s: f64,
    /// Frame number of the corrected frame.
    pub seq: u64,
    /// PSNR of the raw frame, dB.
    pub raw_psnr_db: f64,
    /// PSNR of the corrected frame, dB.
    pub corrected_psnr_db: f64,
    /// Method of the pattern in use (`none` before the first).
    pub pattern: String,
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub struct Watched {
    /// The samples in time order.
    pub samples: Vec<StreamSample>,
    /// The first pattern served that was not the final method's (the CP-TV stage), if any.
    pub first_stage: Option<Snapshot>,
}

fn pair(dev: &mut Device) -> Option<(Snapshot, Snapshot)> {
    for _ in 0..4 {
        let raw = dev.snapshot(SnapshotKind::Raw).ok()?;
        let corrected = dev.snapshot(SnapshotKind::Corrected).ok()?;
        if raw.seq().is_some() && raw.seq() == corrected.seq() {
            return Some((raw, corrected));
        }
    }
    None
}

/// Samples until `stop` is set; runs on its own thread with its own connection.
pub fn watch(
    conn: ConnectOptions,
    sim: Arc<SimModel>,
    stop: Arc<AtomicBool>,
    final_method: String,
) -> Watched {
    let mut seen = Watched::default();
    let Ok(mut dev) = Device::connect(&conn) else {
        return seen;
    };
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        if let Some((raw, corrected)) = pair(&mut dev) {
            let seq = corrected.seq().unwrap_or(0);
            let clean = sim.clean(seq);
            let pattern = dev.snapshot(SnapshotKind::Pattern).ok();
            let method = pattern
                .as_ref()
                .map_or("none".to_string(), |p| p.meta.label.to_string());
            if method != "none" && method != final_method && seen.first_stage.is_none() {
                seen.first_stage = pattern;
            }
            seen.samples.push(StreamSample {
                t_s: start.elapsed().as_secs_f64(),
                seq,
                raw_psnr_db: metrics::psnr_offset_free(&raw.to_f32(), &clean),
                corrected_psnr_db: metrics::psnr_offset_free(&corrected.to_f32(), &clean),
                pattern: method,
            });
        }
        std::thread::sleep(Duration::from_millis(250).saturating_sub(t0.elapsed()));
    }
    seen
}
