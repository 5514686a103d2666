//! The capture watchdog and the daemon's liveness check. The frame loop restarts a source that
//! stops delivering by itself; this thread catches the case the loop cannot — a capture thread
//! wedged inside a driver call — by retiring that thread and starting a new one on a freshly
//! opened source (or on a stand-in that waits for the camera). It also feeds systemd's
//! watchdog: while the frame loop iterates, whether frames arrive or the camera is away, and
//! while a replacement thread gets its chance; only when [`MAX_REPLACEMENTS`] replacements in
//! a row never beat does it stop, so systemd restarts the whole daemon. The status LED, the
//! CPU load sample and the systemd status line (camera present or absent) are kept here too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{error, warn};

use super::capture::{self, CaptureBeat};
use super::core::DaemonCore;
use crate::service::{self, ServiceWatchdog};
use crate::source::open_or_wait;
use crate::stats::CameraState;

/// Replacement capture threads that may fail to beat in a row before the daemon stops
/// feeding systemd's watchdog.
pub const MAX_REPLACEMENTS: u32 = 3;

/// How often the watchdog looks, at most (a shorter `WatchdogSec` makes it look more often).
const TICK: Duration = Duration::from_millis(250);

/// While the camera is away the status line is refreshed this often (it shows for how long).
const ABSENT_STATUS_EVERY: Duration = Duration::from_secs(10);

/// Watches the capture loop until shutdown.
pub fn run(core: Arc<DaemonCore>, beat: Arc<CaptureBeat>, wd: Arc<ServiceWatchdog>) {
    let started = core.started;
    // Four looks per ping interval, so a ping is never late by more than a quarter of it.
    let tick = wd.interval().map_or(TICK, |i| (i / 4).min(TICK));
    let mut led: Option<bool> = None;
    let mut next_cpu = Instant::now();
    let mut status = StatusLine::default();
    let mut liveness = Liveness::default();
    let mut gave_up = false;
    while !core.stopping() {
        std::thread::sleep(tick);
        // The liveness check and the feed come first in each look, so no other work (a slow
        // reopen, file reads) delays a ping.
        let cfg = core.config();
        let now_ms = started.elapsed().as_millis() as u64;
        let loop_ms = beat.loop_ms.load(Ordering::Relaxed);
        // The loop iterates at least every 200 ms plus the reconnect wait; far beyond that it is
        // stuck inside the source.
        let limit_ms = ((cfg.watchdog.capture_timeout_s + cfg.watchdog.reconnect_interval_s)
            * 1000.0) as u64
            + 1000;
        let verdict = if core.sim.is_some() {
            // The simulator cannot wedge; there is nothing to reopen independently.
            Verdict::Alive
        } else {
            liveness.check(now_ms, loop_ms, limit_ms)
        };
        if verdict == Verdict::GiveUp {
            if !gave_up {
                error!(
                    replacements = MAX_REPLACEMENTS,
                    "capture threads keep wedging; leaving the restart to the service manager"
                );
                gave_up = true;
            }
        } else {
            gave_up = false;
            wd.feed();
        }
        if verdict == Verdict::Replace {
            warn!(
                stuck_ms = now_ms - loop_ms,
                "capture thread stuck; starting a new one"
            );
            core.stats.capture_restarts.fetch_add(1, Ordering::Relaxed);
            core.stats.set_camera(CameraState::Absent);
            let generation = beat.generation.fetch_add(1, Ordering::Relaxed) + 1;
            beat.loop_ms.store(now_ms, Ordering::Relaxed);
            liveness.replaced(now_ms);
            start_capture(&core, &beat, generation);
        }
        if core.firmware.check_trial() {
            core.request_reboot();
            return;
        }
        if Instant::now() >= next_cpu {
            next_cpu += Duration::from_secs(1);
            core.stats.cpu_load_pct.set(Some(core.cpu.sample()));
        }
        // Status LED: lit while frames flow.
        let flowing = core
            .stats
            .since_last_frame()
            .is_some_and(|d| d <= Duration::from_secs(1));
        if led != Some(flowing) {
            led = Some(flowing);
            if let Err(e) = core.set_status_led(flowing) {
                warn!(error = %e, "status LED");
            }
        }
        status.update(&core);
    }
    let _ = core.set_status_led(false);
}

/// Starts a capture thread of `generation` on a freshly opened source (or a stand-in that
/// waits for the camera).
fn start_capture(core: &Arc<DaemonCore>, beat: &Arc<CaptureBeat>, generation: u64) {
    match open_or_wait(&core.config().camera) {
        Ok(source) => {
            let (core, beat) = (core.clone(), beat.clone());
            // The old thread exits on its own once its call returns (its generation is
            // retired); it is not joined, a wedged driver call may never return.
            let spawned = std::thread::Builder::new()
                .name("dipnuc-capture".into())
                .spawn(move || capture::run(core, source, beat, generation));
            if let Err(e) = spawned {
                error!(error = %e, "cannot start a new capture thread");
            }
        }
        Err(e) => error!(error = %e, "cannot reopen the camera"),
    }
}

/// What the liveness check makes of the frame loop's beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It beat recently (frames or not), or a replacement still has its chance: feed.
    Alive,
    /// It is stuck: retire it, start a replacement, feed.
    Replace,
    /// [`MAX_REPLACEMENTS`] replacements in a row never beat: stop feeding.
    GiveUp,
}

/// Replacements since the frame loop last beat by itself, and when the last one was made
/// (the watchdog writes that time into the beat, so only a later beat is the loop's own).
#[derive(Debug, Default)]
struct Liveness {
    replacements: u32,
    replaced_at_ms: u64,
}

impl Liveness {
    fn check(&mut self, now_ms: u64, loop_ms: u64, limit_ms: u64) -> Verdict {
        if loop_ms > self.replaced_at_ms {
            self.replacements = 0;
        }
        if now_ms.saturating_sub(loop_ms) <= limit_ms {
            Verdict::Alive
        } else if self.replacements >= MAX_REPLACEMENTS {
            Verdict::GiveUp
        } else {
            Verdict::Replace
        }
    }

    fn replaced(&mut self, now_ms: u64) {
        self.replacements += 1;
        self.replaced_at_ms = now_ms;
    }
}

/// The systemd status line (`systemctl status`): set when the camera comes or goes, and
/// refreshed while it is away with how long it has been.
#[derive(Default)]
struct StatusLine {
    shown: Option<CameraState>,
    at: Option<Instant>,
}

impl StatusLine {
    fn update(&mut self, core: &DaemonCore) {
        let state = core.stats.camera();
        let stale = self.at.is_none_or(|t| t.elapsed() >= ABSENT_STATUS_EVERY);
        if self.shown == Some(state) && !(state == CameraState::Absent && stale) {
            return;
        }
        let since = core.stats.since_last_frame();
        let text = match (state, since) {
            (CameraState::Streaming, _) => format!("capturing from {}", core.source_info().name),
            (CameraState::Absent, Some(d)) => format!(
                "camera absent: no frame for {} s; waiting for it, link up",
                d.as_secs()
            ),
            (CameraState::Absent, None) => {
                "camera absent (no frame yet); waiting for it, link up".to_string()
            }
            (CameraState::Ended, _) => "replay ended; link up".to_string(),
        };
        service::notify_status(&text);
        self.shown = Some(state);
        self.at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_replaces_a_stuck_loop_then_gives_up_unless_it_beats_again() {
        let mut l = Liveness::default();
        let limit = 1000;
        assert_eq!(l.check(500, 400, limit), Verdict::Alive);
        // Stuck: replaced; the replacement's grace runs from the replacement.
        let mut beat = 400;
        let mut now = 1500;
        for _ in 0..MAX_REPLACEMENTS {
            assert_eq!(l.check(now, beat, limit), Verdict::Replace);
            beat = now; // what the watchdog writes into the beat
            l.replaced(now);
            assert_eq!(l.check(now + limit, beat, limit), Verdict::Alive);
            now += limit + 1;
        }
        assert_eq!(l.check(now, beat, limit), Verdict::GiveUp);
        assert_eq!(l.check(now + 10_000, beat, limit), Verdict::GiveUp);
        // A beat of the loop's own (a replacement that got going) makes it alive again, with
        // its full count of replacements.
        let mut l = Liveness::default();
        assert_eq!(l.check(1500, 400, limit), Verdict::Replace);
        l.replaced(1500);
        assert_eq!(l.check(1600, 1550, limit), Verdict::Alive);
        assert_eq!(l.replacements, 0);
    }
}
