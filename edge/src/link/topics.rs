//! The topics of one connection: daemon events (fit progress, fit done, log lines) and the
//! 1 Hz heartbeat, sent from their own thread once the handshake is done, as subscribed.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::io::FrameWriter;
use protocol::text::truncate;
use protocol::{FitDone, FitOutcome as WireFitOutcome, FitProgress, LogLine, Packet, Topic};

use super::backend::LinkBackend;
use super::subscriptions::{Subscriptions, wire_level};
use crate::events::{DaemonEvent, FitEnd};

/// The daemon's fit outcome on the wire.
pub fn wire_outcome(e: FitEnd) -> WireFitOutcome {
    match e {
        FitEnd::Completed => WireFitOutcome::Completed,
        FitEnd::Aborted => WireFitOutcome::Aborted,
        FitEnd::Failed => WireFitOutcome::Failed,
    }
}

/// Sends the subscribed topics until the connection closes or the daemon stops.
pub fn send_topics<W: Write>(
    backend: &dyn LinkBackend,
    writer: &Mutex<FrameWriter<W>>,
    subs: &Subscriptions,
) {
    let events = backend.events().subscribe(256);
    let mut next_beat = Instant::now();
    while !subs.closed.load(Ordering::Relaxed) && !backend.stopping() {
        let event = events.recv_timeout(Duration::from_millis(100)).ok();
        if !subs.open.load(Ordering::Relaxed) {
            continue;
        }
        let mut out: Vec<Topic> = Vec::new();
        if let Some(t) = event.and_then(|ev| topic_for(&ev, subs)) {
            out.push(t);
        }
        if subs.heartbeat.load(Ordering::Relaxed) && Instant::now() >= next_beat {
            next_beat = Instant::now() + Duration::from_secs(1);
            out.push(Topic::Heartbeat(backend.heartbeat()));
        }
        for t in out {
            let sent = writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(&Packet::Topic(t));
            if sent.is_err() {
                subs.closed.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn clamp_u32(v: u64) -> u32 {
    v.min(u64::from(u32::MAX)) as u32
}

fn topic_for(ev: &DaemonEvent, subs: &Subscriptions) -> Option<Topic> {
    match ev {
        DaemonEvent::FitProgress {
            fit_id,
            step,
            total_steps,
            loss,
            ms_per_step,
            elapsed_ms,
            eta_ms,
        } if subs.fit_progress.load(Ordering::Relaxed) => Some(Topic::FitProgress(FitProgress {
            fit_id: *fit_id,
            step: *step,
            total_steps: *total_steps,
            loss: *loss,
            ms_per_step: *ms_per_step,
            elapsed_ms: clamp_u32(*elapsed_ms),
            eta_ms: clamp_u32(*eta_ms),
        })),
        DaemonEvent::FitDone {
            fit_id,
            outcome,
            loss,
            steps,
            duration_ms,
            detail,
            ..
        } if subs.fit_progress.load(Ordering::Relaxed) => Some(Topic::FitDone(FitDone {
            fit_id: *fit_id,
            outcome: wire_outcome(*outcome),
            loss: *loss,
            steps: *steps,
            duration_ms: clamp_u32(*duration_ms),
            detail: truncate(detail),
        })),
        DaemonEvent::Log {
            level,
            target,
            message,
        } if subs.wants_log(*level) => Some(Topic::Log(LogLine {
            level: wire_level(*level),
            target: truncate(target),
            message: truncate(message),
        })),
        _ => None,
    }
}
