//! [`DaemonCollector`]: the daemon's state as Prometheus metrics, read at scrape time from the
//! same counters telemetry reads (nothing is sampled in between, so a scrape is always current).
//!
//! Names follow the Prometheus conventions: a `dipnuc_` prefix, base units in the name
//! (`_seconds`, `_bytes`, `_celsius`, `_ratio`), `_total` on counters, and labels for the
//! dimensions (`method`, `outcome`, `reason`). A value the board cannot read (a GPU
//! temperature without a GPU, the pattern age before the first pattern) has no sample.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Unit;

use super::fit_tally::FitTally;
use crate::daemon::DaemonCore;
use crate::system_metrics;

/// Reads the daemon at each scrape.
pub struct DaemonCollector {
    pub(super) core: Arc<DaemonCore>,
    pub(super) fits: Arc<Mutex<FitTally>>,
}

impl std::fmt::Debug for DaemonCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonCollector").finish_non_exhaustive()
    }
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: u64,
) -> std::fmt::Result {
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, unit, MetricType::Counter)?)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: Option<f64>,
) -> std::fmt::Result {
    match v {
        Some(v) => {
            ConstGauge::new(v).encode(enc.encode_descriptor(name, help, unit, MetricType::Gauge)?)
        }
        None => Ok(()),
    }
}

fn flag(b: bool) -> Option<f64> {
    Some(if b { 1.0 } else { 0.0 })
}

impl Collector for DaemonCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let core = &self.core;
        let cfg = core.config();
        let t = core.telemetry();
        let s = core.stats();
        let secs = Some(&Unit::Seconds);
        let celsius = Some(&Unit::Celsius);

        let info = core.source_info();
        let (_, firmware) = core.firmware().state();
        Info::new(vec![
            ("device_id", cfg.device.id.clone()),
            ("firmware_version", firmware),
            ("board", cfg.device.board.clone()),
            ("camera", cfg.camera.name.clone()),
            ("width", info.width.to_string()),
            ("height", info.height.to_string()),
        ])
        .encode(enc.encode_descriptor(
            "device",
            "Identity of the device",
            None,
            MetricType::Info,
        )?)?;
        let started =
            crate::stats::unix_ms() as f64 / 1000.0 - core.started().elapsed().as_secs_f64();
        gauge(
            &mut enc,
            "start_time",
            "When the daemon started, Unix time",
            secs,
            Some(started),
        )?;

        // Frames.
        counter(
            &mut enc,
            "frames_captured",
            "Frames delivered by the camera and corrected",
            None,
            t.frames_total,
        )?;
        counter(
            &mut enc,
            "frames_dropped",
            "Frames lost: bad frames skipped and gaps in the camera's sequence",
            None,
            t.frames_dropped,
        )?;
        counter(
            &mut enc,
            "capture_restarts",
            "Times the capture was restarted (camera lost or stalled)",
            None,
            t.capture_restarts,
        )?;
        s.frame_latency.encode(enc.encode_descriptor(
            "frame_latency",
            "Capture-to-corrected latency of each frame",
            secs,
            MetricType::Histogram,
        )?)?;
        gauge(
            &mut enc,
            "frames_per_second",
            "Corrected frames per second over the last second",
            None,
            Some(f64::from(t.fps)),
        )?;
        // The capture loop's own account (as telemetry and the heartbeat give it): absent from
        // a loss or a stall until the next frame.
        let last_frame_age = core.stats.since_last_frame().map(|d| d.as_secs_f64());
        let present = core.stats.camera() == crate::stats::CameraState::Streaming;
        gauge(
            &mut enc,
            "camera_present",
            "1 while the camera delivers frames, 0 while it is absent or stalled",
            None,
            flag(present),
        )?;
        gauge(
            &mut enc,
            "last_frame_age",
            "Time since the last good frame",
            secs,
            last_frame_age,
        )?;

        // The pattern and the fits.
        gauge(
            &mut enc,
            "pattern_applied",
            "1 when a noise pattern is applied",
            None,
            flag(t.pattern_age_s.is_some()),
        )?;
        gauge(
            &mut enc,
            "pattern_age",
            "Age of the applied noise pattern",
            secs,
            t.pattern_age_s.map(f64::from),
        )?;
        gauge(
            &mut enc,
            "fit_running",
            "1 while a fit runs",
            None,
            flag(matches!(
                core.fit_status().state,
                crate::refit::RefitState::Running { .. }
            )),
        )?;
        {
            let fits = self.fits.lock().unwrap_or_else(|e| e.into_inner());
            let mut m = enc.encode_descriptor(
                "fits",
                "Fits finished since start, by method and outcome",
                None,
                MetricType::Counter,
            )?;
            for ((method, outcome), n) in &fits.counts {
                let labels = [("method", method.as_str()), ("outcome", *outcome)];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
            let mut m = enc.encode_descriptor(
                "fit_duration",
                "Wall time of the completed fits, by method",
                secs,
                MetricType::Histogram,
            )?;
            for (method, h) in &fits.durations {
                h.encode(m.encode_family(&[("method", method.as_str())])?)?;
            }
            let mut m = enc.encode_descriptor(
                "fit_loss",
                "Final loss of the last completed fit, by method",
                None,
                MetricType::Gauge,
            )?;
            for (method, loss) in &fits.last_loss {
                ConstGauge::new(*loss).encode(m.encode_family(&[("method", method.as_str())])?)?;
            }
        }
        let used = s.fit_seconds_last_hour.get().map_or(0.0, f64::from);
        gauge(
            &mut enc,
            "fit_budget_used",
            "Compute time fits used in the last hour",
            secs,
            Some(used),
        )?;
        let allowed = f64::from(cfg.fit.budget.gpu_seconds_per_hour);
        gauge(
            &mut enc,
            "fit_budget_allowed",
            "Compute time fits may use in any hour (fit.budget.gpu_seconds_per_hour)",
            secs,
            Some(allowed),
        )?;
        gauge(
            &mut enc,
            "roughness",
            "Roughness of recent corrected frames (lower is better)",
            None,
            t.roughness.map(f64::from),
        )?;

        // The board.
        gauge(
            &mut enc,
            "sensor_temperature",
            "Sensor (focal plane) temperature",
            celsius,
            t.sensor_temp_c.map(f64::from),
        )?;
        gauge(
            &mut enc,
            "cpu_temperature",
            "SoC/CPU temperature (hottest thermal zone)",
            celsius,
            t.soc_temp_c.map(f64::from),
        )?;
        gauge(
            &mut enc,
            "gpu_temperature",
            "GPU temperature",
            celsius,
            system_metrics::gpu_temp_c().map(f64::from),
        )?;
        gauge(
            &mut enc,
            "cpu_load",
            "CPU load over the last second, all cores",
            Some(&Unit::Ratios),
            Some(f64::from(t.cpu_load_pct) / 100.0),
        )?;
        gauge(
            &mut enc,
            "gpu_load",
            "GPU load",
            Some(&Unit::Ratios),
            t.gpu_load_pct.map(|p| f64::from(p) / 100.0),
        )?;
        gauge(
            &mut enc,
            "disk_free",
            "Free space where the pattern is stored",
            Some(&Unit::Bytes),
            Some(t.disk_free_mb as f64 * 1024.0 * 1024.0),
        )?;

        // The link and recordings.
        gauge(
            &mut enc,
            "link_clients",
            "Link connections open now (TCP and serial)",
            None,
            Some(s.link_clients.load(Ordering::Relaxed) as f64),
        )?;
        let hub = core.frame_streams();
        gauge(
            &mut enc,
            "frame_streams",
            "Frame streams (recordings) open now",
            None,
            Some(hub.open_streams() as f64),
        )?;
        counter(
            &mut enc,
            "stream_frames_sent",
            "Frames queued to frame streams",
            None,
            hub.frames_sent(),
        )?;
        let mut m = enc.encode_descriptor(
            "stream_frames_skipped",
            "Frames a stream skipped: above its rate, or while its link was behind",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(hub.skipped_rate()).encode(m.encode_family(&[("reason", "rate")])?)?;
        ConstCounter::new(hub.skipped_busy()).encode(m.encode_family(&[("reason", "busy")])?)?;
        Ok(())
    }
}
