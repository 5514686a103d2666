//! The running daemon: [`Daemon::start`] layers the link overrides over the configuration,
//! opens the source, loads the stored pattern, starts the frame loop, the capture watchdog,
//! the refit scheduler, the link servers (in front of the daemon's endpoints,
//! `endpoints.rs`), the Prometheus endpoint (`metrics/`) and the mDNS announcement when
//! configured, and returns a [`DaemonHandle`]; [`DaemonHandle::shutdown`] stops them in
//! order (the announcement first, then frames, then the link, then the fit — aborted — and any
//! pattern save in progress is finished).
//!
//! ```no_run
//! let cfg = edge::config::EdgeConfig::load(std::path::Path::new("boards/sim.toml"))?;
//! let daemon = edge::daemon::Daemon::start(cfg)?;
//! println!("serving on {:?}", daemon.local_tcp_addr());
//! daemon.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod capture;
mod core;
mod endpoints;
pub mod metrics;
mod watchdog;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{info, warn};

pub use self::capture::CaptureBeat;
use self::core::CoreParts;
pub use self::core::{DaemonCore, LatestFrame, TelemetrySnapshot};
use crate::config::{ConfigError, ConfigStore, EdgeConfig, SourceKind};
use crate::discovery::{Announcement, Announcer};
use crate::events::EventBus;
pub use crate::firmware::BUILD_VERSION;
use crate::firmware::{BootDecision, FirmwareControl};
use crate::link::{LinkBackend, LinkSettings};
use crate::pattern_cache::PatternCache;
use crate::refit::{EstimatorFactory, RefitScheduler, RefitShared, build_estimator};
use crate::service::ServiceWatchdog;
use crate::source::sim::SimCamera;
use crate::source::{FrameSource, SourceError, open_source};
use crate::stats::Stats;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The frame source cannot be opened (and waiting will not help).
    #[error("camera: {0}")]
    Source(#[from] SourceError),
    /// A link server could not start (address in use).
    #[error("link: {0}")]
    Link(#[from] crate::link::LinkStartError),
    /// The metrics endpoint could not start (address in use).
    #[error("metrics.listen {listen}: {reason}")]
    Metrics {
        /// The configured address.
        listen: String,
        /// Why it cannot be served.
        reason: String,
    },
    /// The configured GPIO lines cannot be opened.
    #[error(transparent)]
    Gpio(#[from] crate::gpio::GpioError),
    /// A thread could not be started.
    #[error("cannot start thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Choices for [`Daemon::start_with`] beyond the configuration.
pub struct DaemonOptions {
    /// Where changes made over the link are saved and read back at start, layered over the
    /// configuration (`EdgeConfig::overrides_path`; None = in memory only). The admin's
    /// configuration file itself is never written.
    pub overrides_file: Option<PathBuf>,
    /// Use this source instead of the one the configuration names (tests, embedding).
    pub source: Option<Box<dyn FrameSource>>,
    /// Builds the fit estimator (default: the engine, with CPU fallback).
    pub estimator_factory: EstimatorFactory,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            overrides_file: None,
            source: None,
            estimator_factory: build_estimator,
        }
    }
}

/// Entry points.
pub struct Daemon;

impl Daemon {
    /// Starts a daemon with this configuration (validated first).
    pub fn start(config: EdgeConfig) -> Result<DaemonHandle, DaemonError> {
        Daemon::start_with(config, DaemonOptions::default())
    }

    /// Starts a daemon with more choices.
    pub fn start_with(
        config: EdgeConfig,
        opts: DaemonOptions,
    ) -> Result<DaemonHandle, DaemonError> {
        config.validate()?;
        let store = ConfigStore::open(config, opts.overrides_file);
        let config = (*store.current()).clone();
        let mut sim = None;
        let source: Box<dyn FrameSource> = match opts.source {
            Some(s) => s,
            None if config.camera.source == SourceKind::Sim => {
                let cam = SimCamera::new(&config.camera);
                sim = Some(cam.model());
                Box::new(cam)
            }
            None => match open_source(&config.camera) {
                Ok(s) => s,
                // A camera that is not plugged in yet is waited for, like an unplugged one.
                Err(SourceError::Disconnected(msg)) => {
                    warn!(reason = %msg, "camera not available yet; will keep trying");
                    Box::new(AbsentSource::new(&config))
                }
                Err(e) => return Err(e.into()),
            },
        };
        let info = source.info();
        if (info.width, info.height) != (config.camera.width, config.camera.height) {
            return Err(DaemonError::Source(SourceError::Open(format!(
                "source delivers {}x{} but camera.width/height say {}x{}",
                info.width, info.height, config.camera.width, config.camera.height
            ))));
        }
        let cache = Arc::new(PatternCache::new(
            config.pattern.store.clone(),
            (info.width, info.height),
        ));
        match cache.load_stored() {
            Ok(true) => {
                let p = cache.current().expect("just loaded");
                info!(path = %cache.path().display(), method = %p.meta.method,
                      "stored pattern loaded")
            }
            Ok(false) => info!(path = %cache.path().display(), "no stored pattern yet"),
            Err(e) => warn!(error = %e, "stored pattern refused; starting without one"),
        }
        let gpio = crate::gpio::Gpio::open(&config.gpio)?;
        let (firmware, boot) = FirmwareControl::start(&config.firmware);
        let stats = Arc::new(Stats::default());
        let events = Arc::new(EventBus::default());
        crate::log_forward::register(&events);
        let refit = RefitScheduler::start(
            RefitShared {
                cache: cache.clone(),
                stats: stats.clone(),
                events: events.clone(),
                config: store.live().clone(),
            },
            opts.estimator_factory,
        )?;
        let core = Arc::new(DaemonCore::new(CoreParts {
            store,
            cache,
            stats,
            events,
            refit,
            source_info: info.clone(),
            sim,
            firmware,
            gpio,
        }));
        if boot == BootDecision::RolledBack {
            // Restart into the old slot at once (the service manager starts it).
            core.request_reboot();
        }
        let beat = Arc::new(CaptureBeat::default());
        let service_watchdog = Arc::new(ServiceWatchdog::from_env());
        let mut threads = Vec::new();
        let capture = {
            let (core, beat, wd) = (core.clone(), beat.clone(), service_watchdog.clone());
            std::thread::Builder::new()
                .name("dipnuc-capture".into())
                .spawn(move || capture::run(core, source, beat, 0, wd))?
        };
        {
            let (core, beat, wd) = (core.clone(), beat.clone(), service_watchdog.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("dipnuc-watchdog".into())
                    .spawn(move || watchdog::run(core, beat, wd))?,
            );
        }
        let mut handle = DaemonHandle {
            core,
            threads,
            capture: Some(capture),
            beat,
            tcp_addr: None,
            metrics_addr: None,
            announcer: None,
        };
        if let Err(e) = handle.start_links(&LinkSettings::from_config(&config.link)) {
            handle.stop_threads();
            return Err(e);
        }
        info!(source = %info.name, width = info.width, height = info.height,
              tcp = ?handle.tcp_addr, "dipnuc-edge running");
        Ok(handle)
    }
}

/// A running daemon.
pub struct DaemonHandle {
    core: Arc<DaemonCore>,
    threads: Vec<JoinHandle<()>>,
    capture: Option<JoinHandle<()>>,
    beat: Arc<CaptureBeat>,
    tcp_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    announcer: Option<Announcer>,
}

impl DaemonHandle {
    fn start_links(&mut self, settings: &LinkSettings) -> Result<(), DaemonError> {
        let backend: Arc<dyn LinkBackend> = self.core.clone();
        let servers = crate::link::start(settings, backend)?;
        self.tcp_addr = servers.tcp_addr;
        self.threads.extend(servers.threads);
        let cfg = self.core.config();
        if let Some(listen) = &cfg.metrics.listen {
            let (addr, thread) = metrics::start(&self.core, listen)?;
            self.metrics_addr = Some(addr);
            self.threads.push(thread);
        }
        if cfg.discovery.enabled
            && let Some(tcp) = self.tcp_addr
        {
            let (_, firmware) = self.core.firmware().state();
            let announcement = Announcement {
                instance: cfg
                    .discovery
                    .instance
                    .clone()
                    .unwrap_or(cfg.device.id.clone()),
                device_id: cfg.device.id.clone(),
                firmware,
                board: cfg.device.board.clone(),
                camera: cfg.camera.name.clone(),
                auth: settings.token.is_some(),
                tcp,
                metrics: self.metrics_addr,
            };
            // A device that cannot announce itself still works for whoever knows its address.
            match Announcer::start(&announcement) {
                Ok(a) => self.announcer = Some(a),
                Err(e) => warn!(error = %e, "not announced on the network"),
            }
        }
        Ok(())
    }

    /// The address of the Prometheus endpoint, when `metrics.listen` is set.
    pub fn local_metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The TCP address the link server listens on (the real port when `:0` was configured).
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The shared state (telemetry, config, patterns, fits, latest frame, sim ground truth).
    pub fn core(&self) -> &Arc<DaemonCore> {
        &self.core
    }

    /// Whether shutdown has been asked for (by a signal handler, `Reboot`, or `shutdown`).
    pub fn stopping(&self) -> bool {
        self.core.stopping()
    }

    /// Asks the daemon to stop without waiting (e.g. from a signal handler thread).
    pub fn request_stop(&self) {
        self.core.stop.store(true, Ordering::Relaxed);
    }

    /// Blocks until something asked the daemon to stop.
    pub fn wait(&self) {
        while !self.core.stopping() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether a `Reboot` request caused the stop.
    pub fn reboot_requested(&self) -> bool {
        self.core.reboot_requested()
    }

    fn stop_threads(&mut self) {
        // Withdrawn first: browsers stop listing a device that is going away.
        self.announcer.take();
        self.core.stop.store(true, Ordering::Relaxed);
        // Every thread checks the stop flag at least every few hundred ms. The first capture
        // thread, once retired by the watchdog (wedged in a driver call), may never return: it
        // is left behind rather than blocking shutdown; replacement capture threads are
        // detached and end by themselves.
        if let Some(t) = self.capture.take() {
            if self.beat.generation.load(Ordering::Relaxed) == 0 || t.is_finished() {
                let _ = t.join();
            } else {
                warn!("retired capture thread still stuck; leaving it behind");
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Aborts a running fit and waits for it (and for a pattern save in progress).
        self.core.refit.shutdown();
    }

    /// Stops everything in order and waits for it.
    pub fn shutdown(mut self) {
        self.stop_threads();
        info!("dipnuc-edge stopped");
    }
}

impl Drop for DaemonHandle {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// Stands in for a V4L2 camera that is not plugged in at start: reports "disconnected" until
/// `reopen` succeeds in opening the real device, then delegates to it.
struct AbsentSource {
    camera: crate::config::CameraConfig,
    inner: Option<Box<dyn FrameSource>>,
}

impl AbsentSource {
    fn new(cfg: &EdgeConfig) -> Self {
        AbsentSource {
            camera: cfg.camera.clone(),
            inner: None,
        }
    }
}

impl FrameSource for AbsentSource {
    fn info(&self) -> crate::source::SourceInfo {
        match &self.inner {
            Some(s) => s.info(),
            None => crate::source::SourceInfo {
                name: format!(
                    "{} {} (not connected)",
                    self.camera.source,
                    self.camera.device.as_deref().unwrap_or("")
                ),
                width: self.camera.width,
                height: self.camera.height,
                bit_depth: self.camera.bit_depth,
            },
        }
    }

    fn next_frame(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<crate::frame::RawFrame>, SourceError> {
        match &mut self.inner {
            Some(s) => s.next_frame(timeout),
            None => Err(SourceError::Disconnected("camera not connected".into())),
        }
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        match &mut self.inner {
            Some(s) => s.reopen(),
            None => {
                self.inner = Some(open_source(&self.camera)?);
                Ok(())
            }
        }
    }
}
