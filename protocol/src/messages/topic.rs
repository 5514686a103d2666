//! Unsolicited messages from the device (`Topic`): heartbeat, fit progress, log lines, streamed
//! frames.

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::fit::{FitDone, FitProgress};
use super::stream::{FrameData, FrameHeader};
use super::system::LogLine;
use super::telemetry::Telemetry;

/// A message the device sends without being asked, to links that subscribed to it
/// (`SubscribeTopics`). Topics carry no request id.
// See `Request` for why the chunk-carrying variant (`FrameData`) stays inline.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub enum Topic {
    /// 1 Hz status.
    Heartbeat(Telemetry),
    /// Progress of a running fit.
    FitProgress(FitProgress),
    /// A fit ended.
    FitDone(FitDone),
    /// A log line at or above the subscribed level.
    Log(LogLine),
    /// A streamed frame begins (after `FrameSubscribe`).
    FrameStart(FrameHeader),
    /// Pixels of the streamed frame begun by the last `FrameStart`.
    FrameData(FrameData),
}

impl Topic {
    /// Stable name of the topic (`"heartbeat"`).
    pub const fn name(&self) -> &'static str {
        match self {
            Topic::Heartbeat(_) => "heartbeat",
            Topic::FitProgress(_) => "fit/progress",
            Topic::FitDone(_) => "fit/done",
            Topic::Log(_) => "log",
            Topic::FrameStart(_) => "frame/start",
            Topic::FrameData(_) => "frame/data",
        }
    }
}
