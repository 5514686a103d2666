//! The capture watchdog: the frame loop restarts a source that stops delivering by itself;
//! this thread catches the case the loop cannot — a capture thread wedged inside a driver call
//! — by retiring that thread and starting a new one on a freshly opened source.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{error, warn};

use super::capture::{self, CaptureBeat};
use super::core::DaemonCore;
use crate::service::ServiceWatchdog;
use crate::source::open_source;

/// Watches the capture loop until shutdown.
pub fn run(core: Arc<DaemonCore>, beat: Arc<CaptureBeat>, wd: Arc<ServiceWatchdog>) {
    let started = core.started;
    let mut led: Option<bool> = None;
    let mut next_cpu = std::time::Instant::now();
    while !core.stopping() {
        if std::time::Instant::now() >= next_cpu {
            next_cpu += Duration::from_secs(1);
            core.stats.cpu_load_pct.set(Some(core.cpu.sample()));
        }
        // Status LED: lit while frames flow.
        let flowing = started.elapsed().as_millis() as u64
            <= beat.frame_ms.load(Ordering::Relaxed) + 1000
            && beat.frame_ms.load(Ordering::Relaxed) > 0;
        if led != Some(flowing) {
            led = Some(flowing);
            if let Err(e) = core.set_status_led(flowing) {
                warn!(error = %e, "status LED");
            }
        }
        std::thread::sleep(Duration::from_millis(250));
        if core.firmware.check_trial() {
            core.request_reboot();
            return;
        }
        let cfg = core.config();
        let now_ms = started.elapsed().as_millis() as u64;
        let loop_ms = beat.loop_ms.load(Ordering::Relaxed);
        // The loop iterates at least every 200 ms plus the reconnect wait; far beyond that it is
        // stuck inside the source.
        let limit = ((cfg.watchdog.capture_timeout_s + cfg.watchdog.reconnect_interval_s) * 1000.0)
            as u64
            + 1000;
        if now_ms.saturating_sub(loop_ms) <= limit {
            continue;
        }
        if core.sim.is_some() {
            // The simulator cannot wedge; nothing to reopen independently.
            continue;
        }
        warn!(
            stuck_ms = now_ms - loop_ms,
            "capture thread stuck; starting a new one"
        );
        core.stats.capture_restarts.fetch_add(1, Ordering::Relaxed);
        let generation = beat.generation.fetch_add(1, Ordering::Relaxed) + 1;
        beat.loop_ms.store(now_ms, Ordering::Relaxed);
        match open_source(&cfg.camera) {
            Ok(source) => {
                let (core, beat, wd) = (core.clone(), beat.clone(), wd.clone());
                // The old thread exits on its own once its call returns (its generation is
                // retired); it is not joined, a wedged driver call may never return.
                let spawned = std::thread::Builder::new()
                    .name("dipnuc-capture".into())
                    .spawn(move || capture::run(core, source, beat, generation, wd));
                if let Err(e) = spawned {
                    error!(error = %e, "cannot start a new capture thread");
                }
            }
            Err(e) => warn!(error = %e, "cannot reopen the camera yet"),
        }
    }
    let _ = core.set_status_led(false);
}
