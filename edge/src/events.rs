//! The daemon's event bus: fit progress, fit results and log lines fanned out to every
//! subscriber (link clients). Publishing never blocks: a subscriber that does not keep up
//! loses events (counted), the frame path and the fit never wait for a slow client.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use engine::nuc::Method;

/// How a fit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitEnd {
    /// Ran to its budget and installed the pattern.
    Completed,
    /// Stopped on request; nothing installed.
    Aborted,
    /// Failed; nothing installed.
    Failed,
}

/// Severity of a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Fine detail.
    Trace,
    /// Debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something is off.
    Warn,
    /// Something failed.
    Error,
}

/// Something that happened in the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonEvent {
    /// A fit made progress.
    FitProgress {
        /// Fit number.
        fit_id: u32,
        /// Steps done.
        step: u32,
        /// Steps planned.
        total_steps: u32,
        /// Current loss.
        loss: f32,
        /// Compute ms per step.
        ms_per_step: f32,
        /// Wall ms since the start.
        elapsed_ms: u64,
        /// Estimated ms to go.
        eta_ms: u64,
    },
    /// A fit ended.
    FitDone {
        /// Fit number.
        fit_id: u32,
        /// Method that ran, or was to run.
        method: Method,
        /// Outcome.
        outcome: FitEnd,
        /// Final loss.
        loss: f32,
        /// Steps done.
        steps: u32,
        /// Wall duration, ms.
        duration_ms: u64,
        /// Detail (error text, method, trigger).
        detail: String,
    },
    /// A log line.
    Log {
        /// Severity.
        level: LogLevel,
        /// Module that logged it.
        target: String,
        /// The message.
        message: String,
    },
}

/// Fan-out of [`DaemonEvent`]s.
#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<SyncSender<DaemonEvent>>>,
    lost: AtomicU64,
}

impl EventBus {
    /// A new subscription holding up to `depth` undelivered events.
    pub fn subscribe(&self, depth: usize) -> Receiver<DaemonEvent> {
        let (tx, rx) = sync_channel(depth.max(1));
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// Sends to every live subscriber without blocking; gone subscribers are dropped.
    pub fn publish(&self, event: DaemonEvent) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Events dropped because a subscriber was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_subscribers_lose_events_instead_of_blocking() {
        let bus = EventBus::default();
        let rx = bus.subscribe(2);
        for i in 0..5 {
            bus.publish(DaemonEvent::Log {
                level: LogLevel::Info,
                target: "t".into(),
                message: i.to_string(),
            });
        }
        assert_eq!(rx.try_iter().count(), 2);
        assert_eq!(bus.lost(), 3);
        drop(rx);
        bus.publish(DaemonEvent::Log {
            level: LogLevel::Info,
            target: "t".into(),
            message: "x".into(),
        });
        assert!(bus.subscribers.lock().unwrap().is_empty());
    }
}
