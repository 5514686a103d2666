//! `DaemonCore`: the state every part of the running daemon shares (configuration store,
//! pattern cache, counters, events, latest frame, refit scheduler, firmware control) and the
//! operations on it. The link reaches it through [`LinkBackend`](crate::link::LinkBackend)
//! (`endpoints.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwapOption;

use crate::config::{ConfigChange, ConfigError, ConfigImport, ConfigStore, EdgeConfig};
use crate::events::EventBus;
use crate::firmware::FirmwareControl;
use crate::frame::RawFrame;
use crate::frame_topic::FrameHub;
use crate::gpio::{Gpio, GpioError};
use crate::pattern_cache::{PatternCache, PatternError};
use crate::refit::{FitRequest, RefitError, RefitScheduler, RefitStatus};
use crate::source::SourceInfo;
use crate::source::sim::SimModel;
use crate::stats::{CameraState, LastFit, Stats};
use crate::system_metrics::{self, CpuLoad};
use formats::pattern::StoredPattern;

/// The newest frame, raw and corrected (for snapshots over the link).
#[derive(Debug, Clone)]
pub struct LatestFrame {
    /// As captured.
    pub raw: Arc<RawFrame>,
    /// After correction.
    pub corrected: Arc<Vec<u16>>,
}

/// A point-in-time view of the daemon's health.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySnapshot {
    /// Frames per second over the last second.
    pub fps: f32,
    /// Frames corrected since start.
    pub frames_total: u64,
    /// Frames lost (bad frames, and gaps in the driver's sequence numbers).
    pub frames_dropped: u64,
    /// From the driver's capture of the last frame to its corrected copy, µs.
    pub frame_latency_us: u32,
    /// Age of the pattern in use, seconds (None = no pattern).
    pub pattern_age_s: Option<u32>,
    /// Last completed fit.
    pub last_fit: Option<LastFit>,
    /// GPU load, %.
    pub gpu_load_pct: Option<f32>,
    /// CPU load, %.
    pub cpu_load_pct: f32,
    /// Sensor temperature, °C.
    pub sensor_temp_c: Option<f32>,
    /// SoC temperature, °C.
    pub soc_temp_c: Option<f32>,
    /// Free disk where patterns are stored, MB.
    pub disk_free_mb: u64,
    /// Roughness of the last measured corrected frame.
    pub roughness: Option<f32>,
    /// Capture restarts (disconnects, stalls).
    pub capture_restarts: u64,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Compute seconds fits used in the last hour.
    pub fit_used_s: f32,
    /// The hourly compute budget and the duty cycle (`fit.budget`).
    pub fit_budget: (f32, f32),
    /// Whether the camera delivers frames.
    pub camera: CameraState,
    /// Time since the last good frame, ms (None before the first).
    pub since_last_frame_ms: Option<u64>,
}

/// Shared state of a running daemon.
pub struct DaemonCore {
    pub(crate) store: ConfigStore,
    pub(crate) cache: Arc<PatternCache>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) latest: ArcSwapOption<LatestFrame>,
    pub(crate) refit: RefitScheduler,
    pub(crate) stop: AtomicBool,
    pub(crate) source_info: SourceInfo,
    pub(crate) sim: Option<Arc<SimModel>>,
    pub(crate) reboot_requested: AtomicBool,
    pub(crate) firmware: FirmwareControl,
    pub(crate) gpio: Mutex<Option<Gpio>>,
    pub(crate) cpu: CpuLoad,
    pub(crate) started: Instant,
    pub(crate) frames: FrameHub,
}

/// What [`DaemonCore::new`] is made of.
pub(crate) struct CoreParts {
    pub store: ConfigStore,
    pub cache: Arc<PatternCache>,
    pub stats: Arc<Stats>,
    pub events: Arc<EventBus>,
    pub refit: RefitScheduler,
    pub source_info: SourceInfo,
    pub sim: Option<Arc<SimModel>>,
    pub firmware: FirmwareControl,
    pub gpio: Option<Gpio>,
}

impl DaemonCore {
    pub(crate) fn new(p: CoreParts) -> Self {
        DaemonCore {
            store: p.store,
            cache: p.cache,
            stats: p.stats,
            events: p.events,
            latest: ArcSwapOption::empty(),
            refit: p.refit,
            stop: AtomicBool::new(false),
            source_info: p.source_info,
            sim: p.sim,
            firmware: p.firmware,
            gpio: Mutex::new(p.gpio),
            reboot_requested: AtomicBool::new(false),
            cpu: CpuLoad::default(),
            started: Instant::now(),
            frames: FrameHub::default(),
        }
    }

    /// The live configuration.
    pub fn config(&self) -> Arc<EdgeConfig> {
        self.store.current()
    }

    /// How many times the configuration changed; read it before [`DaemonCore::config`].
    pub fn config_generation(&self) -> u64 {
        self.store.live().generation()
    }

    /// The configuration store (what the link may read and change).
    pub fn config_store(&self) -> &ConfigStore {
        &self.store
    }

    /// The event bus (fit progress, fit results, logs).
    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// The frame source's description.
    pub fn source_info(&self) -> &SourceInfo {
        &self.source_info
    }

    /// The simulated camera's ground truth, when the source is the simulator.
    pub fn sim_model(&self) -> Option<Arc<SimModel>> {
        self.sim.clone()
    }

    /// The newest frame.
    pub fn latest_frame(&self) -> Option<Arc<LatestFrame>> {
        self.latest.load_full()
    }

    /// The pattern in use.
    pub fn pattern(&self) -> Option<Arc<StoredPattern>> {
        self.cache.current()
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Whether shutdown was asked for.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// `config get` over the link (secrets redacted).
    pub fn config_get(&self, key: &str) -> Result<String, ConfigError> {
        self.store.get(key)
    }

    /// `config set` over the link: validated, applied, saved in the overrides file.
    pub fn config_set(&self, key: &str, value: &str) -> Result<ConfigChange, ConfigError> {
        self.store.set(key, value)
    }

    /// `config import` over the link.
    pub fn config_import(&self, text: &str) -> Result<ConfigImport, ConfigError> {
        self.store.import(text)
    }

    /// Installs a pattern (pushed over the link): size-checked, swapped in, persisted.
    pub fn install_pattern(&self, p: StoredPattern) -> Result<(), PatternError> {
        self.cache.install(p).map(|_| ())
    }

    /// Asks for a fit.
    pub fn request_fit(&self, req: FitRequest) -> Result<u32, RefitError> {
        self.refit.request(req)
    }

    /// Aborts the running or pending fit.
    pub fn abort_fit(&self) -> bool {
        self.refit.abort()
    }

    /// The refit scheduler's status.
    pub fn fit_status(&self) -> RefitStatus {
        self.refit.status()
    }

    /// Telemetry now.
    pub fn telemetry(&self) -> TelemetrySnapshot {
        let s = &self.stats;
        let pattern_age_s = self.cache.current().map(|p| {
            (crate::stats::unix_ms().saturating_sub(p.meta.unix_ms) / 1000).min(u64::from(u32::MAX))
                as u32
        });
        TelemetrySnapshot {
            fps: s.fps.get().unwrap_or(0.0),
            // Acquire, first: the camera state read below is at least as new as this count.
            frames_total: s.frames_total.load(Ordering::Acquire),
            frames_dropped: s.frames_dropped.load(Ordering::Relaxed),
            frame_latency_us: s.latency_us.load(Ordering::Relaxed),
            pattern_age_s,
            last_fit: s.last_fit(),
            gpu_load_pct: system_metrics::gpu_load_pct(),
            cpu_load_pct: s.cpu_load_pct.get().unwrap_or(0.0),
            sensor_temp_c: s.sensor_temp_c.get(),
            soc_temp_c: system_metrics::soc_temp_c(),
            disk_free_mb: system_metrics::disk_free_mb(self.cache.path()),
            roughness: s.roughness.get(),
            capture_restarts: s.capture_restarts.load(Ordering::Relaxed),
            uptime_s: s.uptime_s(),
            fit_used_s: s.fit_seconds_last_hour.get().unwrap_or(0.0),
            fit_budget: {
                let b = &self.config().fit.budget;
                (b.gpu_seconds_per_hour, b.duty_cycle)
            },
            camera: s.camera(),
            since_last_frame_ms: s.since_last_frame().map(|d| d.as_millis() as u64),
        }
    }

    /// The frame streams (recordings).
    pub fn frame_streams(&self) -> &FrameHub {
        &self.frames
    }

    /// When the daemon started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Firmware update control.
    pub fn firmware(&self) -> &FirmwareControl {
        &self.firmware
    }

    /// Sets the status LED (`gpio.led_pin`); `Ok(false)` when there is none.
    pub fn set_status_led(&self, on: bool) -> Result<bool, GpioError> {
        match self.gpio.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(g) => g.set_led(on),
            None => Ok(false),
        }
    }

    /// Asks the daemon to restart itself (the service manager starts it again).
    pub fn request_reboot(&self) {
        self.reboot_requested.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether a reboot (restart) was asked for.
    pub fn reboot_requested(&self) -> bool {
        self.reboot_requested.load(Ordering::Relaxed)
    }
}
