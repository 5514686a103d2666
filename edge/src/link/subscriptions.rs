//! [`Subscriptions`]: which topics one connection asked for, shared between its request
//! handling (which sets them) and its topic and frame senders (which read them).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use protocol::LogLevel as WireLogLevel;

use super::frame_sender::FrameSlot;
use crate::events::LogLevel;

/// What a connection has subscribed to.
#[derive(Default)]
pub struct Subscriptions {
    /// Heartbeat (telemetry) at 1 Hz.
    pub heartbeat: AtomicBool,
    /// Fit progress and fit done.
    pub fit_progress: AtomicBool,
    /// Log lines.
    pub logs: AtomicBool,
    /// Most verbose log level wanted (wire encoding: 0 = error … 4 = trace).
    pub log_level: AtomicU8,
    /// The connection ended.
    pub closed: AtomicBool,
    /// Topics may be sent (handshake and authentication done).
    pub open: AtomicBool,
    /// The frame stream (`FrameSubscribe`), for the connection's frame sender.
    pub frames: FrameSlot,
}

impl Subscriptions {
    /// Whether a log line of `level` is wanted.
    pub fn wants_log(&self, level: LogLevel) -> bool {
        self.logs.load(Ordering::Relaxed)
            && wire_level(level) as u8 <= self.log_level.load(Ordering::Relaxed)
    }

    /// `LogSubscribe`: log lines down to `min_level`.
    pub fn subscribe_logs(&self, min_level: WireLogLevel) {
        self.log_level.store(min_level as u8, Ordering::Relaxed);
        self.logs.store(true, Ordering::Relaxed);
    }

    /// `SubscribeTopics`: log lines start at info unless `LogSubscribe` chose a level.
    pub fn choose(&self, heartbeat: bool, fit_progress: bool, logs: bool) {
        self.heartbeat.store(heartbeat, Ordering::Relaxed);
        self.fit_progress.store(fit_progress, Ordering::Relaxed);
        if logs && !self.logs.load(Ordering::Relaxed) {
            self.log_level
                .store(WireLogLevel::Info as u8, Ordering::Relaxed);
        }
        self.logs.store(logs, Ordering::Relaxed);
    }
}

/// The daemon's log level on the wire.
pub fn wire_level(l: LogLevel) -> WireLogLevel {
    match l {
        LogLevel::Error => WireLogLevel::Error,
        LogLevel::Warn => WireLogLevel::Warn,
        LogLevel::Info => WireLogLevel::Info,
        LogLevel::Debug => WireLogLevel::Debug,
        LogLevel::Trace => WireLogLevel::Trace,
    }
}
