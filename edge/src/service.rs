//! systemd integration (`Type=notify`): readiness, status text, stopping, and the service
//! watchdog. The watchdog is fed from the frame loop only while frames flow, so systemd
//! restarts a daemon whose capture has stalled. Outside systemd every call is a no-op.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Feeds systemd's watchdog at half its interval.
pub struct ServiceWatchdog {
    interval: Option<Duration>,
    last: Mutex<Option<Instant>>,
}

impl ServiceWatchdog {
    /// Reads `WATCHDOG_USEC` (set by systemd when `WatchdogSec=` is configured).
    pub fn from_env() -> Self {
        ServiceWatchdog {
            interval: sd_notify::watchdog_enabled().map(|d| d / 2),
            last: Mutex::new(None),
        }
    }

    /// Whether systemd expects watchdog pings.
    pub fn enabled(&self) -> bool {
        self.interval.is_some()
    }

    /// Called for every frame; pings systemd when half the watchdog interval has passed.
    pub fn frame(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= interval) {
            *last = Some(Instant::now());
            let _ = sd_notify::notify(&[NotifyState::Watchdog]);
        }
    }
}

/// Tells systemd the daemon is ready, with a status line.
pub fn notify_ready(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the daemon is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Updates the status line shown by `systemctl status`.
pub fn notify_status(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Status(status)]);
}
