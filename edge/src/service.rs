//! systemd integration (`Type=notify`): readiness, status text, stopping, and the service
//! watchdog. The watchdog is fed by the daemon's liveness check (the capture watchdog thread,
//! while the frame loop iterates or is being replaced), not by frames: a camera that is away
//! is waited for and reported, not a reason for systemd to restart the daemon, while a daemon
//! whose capture thread cannot be revived is restarted. Outside systemd every call is a no-op.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Feeds systemd's watchdog every quarter of `WatchdogSec`: a ping may then be held up by
/// three quarters of it (a board busy fitting, slow storage) before systemd acts.
pub struct ServiceWatchdog {
    interval: Option<Duration>,
    last: Mutex<Option<Instant>>,
}

impl ServiceWatchdog {
    /// Reads `WATCHDOG_USEC` (set by systemd when `WatchdogSec=` is configured).
    pub fn from_env() -> Self {
        ServiceWatchdog {
            interval: sd_notify::watchdog_enabled().map(|d| d / 4),
            last: Mutex::new(None),
        }
    }

    /// Whether systemd expects watchdog pings.
    pub fn enabled(&self) -> bool {
        self.interval.is_some()
    }

    /// How often [`ServiceWatchdog::feed`] pings systemd (a quarter of `WatchdogSec`), if at
    /// all.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Called by the liveness check while the daemon is healthy; pings systemd when a quarter
    /// of `WatchdogSec` has passed since the last ping.
    pub fn feed(&self) {
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
