//! Live counters of the running daemon (frames, drops, latency, rates, last fit), written by
//! the capture loop and the refit worker with atomics and read by telemetry without locks on
//! the frame path.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use crate::histogram::{AtomicHistogram, FRAME_LATENCY_BOUNDS_S};

/// An `f32` stored in an `AtomicU32`; NaN means "none".
#[derive(Debug)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    /// Holding `None`.
    pub fn none() -> Self {
        AtomicF32(AtomicU32::new(f32::NAN.to_bits()))
    }
    /// Stores a value (`None` clears it).
    pub fn set(&self, v: Option<f32>) {
        self.0
            .store(v.unwrap_or(f32::NAN).to_bits(), Ordering::Relaxed);
    }
    /// The value, if any.
    pub fn get(&self) -> Option<f32> {
        let v = f32::from_bits(self.0.load(Ordering::Relaxed));
        (!v.is_nan()).then_some(v)
    }
}

/// Summary of the last completed fit.
#[derive(Debug, Clone, PartialEq)]
pub struct LastFit {
    /// Method name.
    pub method: String,
    /// Final loss.
    pub loss: f32,
    /// Duration, ms.
    pub duration_ms: u32,
    /// Steps.
    pub steps: u32,
    /// When it finished, ms since the epoch.
    pub unix_ms: u64,
}

/// The daemon's counters.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    /// Frames delivered by the source and corrected.
    pub frames_total: AtomicU64,
    /// Frames lost: bad frames skipped and frames the source skipped (sequence gaps).
    pub frames_dropped: AtomicU64,
    /// Capture-to-corrected latency of the last frame, µs.
    pub latency_us: AtomicU32,
    /// Frame rate over the last second.
    pub fps: AtomicF32,
    /// Sensor temperature of the last frame.
    pub sensor_temp_c: AtomicF32,
    /// Roughness of the last measured corrected frame.
    pub roughness: AtomicF32,
    /// Times the capture was restarted (disconnects, stalls).
    pub capture_restarts: AtomicU64,
    /// CPU load over the last second, % (sampled by the watchdog thread).
    pub cpu_load_pct: AtomicF32,
    /// Compute seconds used by fits in the last hour (written by the scheduler).
    pub fit_seconds_last_hour: AtomicF32,
    /// The last completed fit.
    pub last_fit: Mutex<Option<LastFit>>,
    /// Capture-to-corrected latency of every frame, seconds.
    pub frame_latency: AtomicHistogram,
    /// Link connections open now (TCP and serial).
    pub link_clients: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            frames_total: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            latency_us: AtomicU32::new(0),
            fps: AtomicF32::none(),
            sensor_temp_c: AtomicF32::none(),
            roughness: AtomicF32::none(),
            capture_restarts: AtomicU64::new(0),
            cpu_load_pct: AtomicF32::none(),
            fit_seconds_last_hour: AtomicF32::none(),
            last_fit: Mutex::new(None),
            frame_latency: AtomicHistogram::new(FRAME_LATENCY_BOUNDS_S),
            link_clients: AtomicU64::new(0),
        }
    }
}

impl Stats {
    /// Seconds since the daemon started.
    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The last fit, if any.
    pub fn last_fit(&self) -> Option<LastFit> {
        self.last_fit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
