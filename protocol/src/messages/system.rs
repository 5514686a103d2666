//! System-level messages: log lines and their levels.

use core::fmt;

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Capacity of [`LogLine::target`].
pub const LOG_TARGET_LEN: usize = 32;
/// Capacity of [`LogLine::message`].
pub const LOG_MESSAGE_LEN: usize = 160;

/// Severity of a log line; ordered from most to least severe.
#[derive(
    Serialize,
    Deserialize,
    Schema,
    MaxSize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something is wrong but the device continues.
    Warn,
    /// Normal operation.
    Info,
    /// Detail for diagnosis.
    Debug,
    /// Very verbose detail.
    Trace,
}

impl LogLevel {
    /// Lower-case name (`"warn"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// True when a line of level `self` passes a subscription at `min_level`.
    pub fn passes(self, min_level: LogLevel) -> bool {
        self <= min_level
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Topic: one log line from the device.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// Module that logged it (`"edge::refit"`), truncated.
    pub target: String<LOG_TARGET_LEN>,
    /// The message, truncated.
    pub message: String<LOG_MESSAGE_LEN>,
}
