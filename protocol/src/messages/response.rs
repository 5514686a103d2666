//! Everything the device answers (`Response`), one variant per kind of answer.

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::bulk::{ChunkData, ObjectKind, ObjectMeta};
use super::config::{ConfigChange, ConfigKey, ConfigText};
use super::error::Nack;
use super::firmware::FirmwareState;
use super::fit::FitStatus;
use super::hello::Hello;
use super::info::DeviceInfo;
use super::stream::StreamOpened;
use super::telemetry::Telemetry;

/// Capacity of [`Response::InProgress`]'s stage text.
pub const STAGE_LEN: usize = 32;

/// An answer from the device, carrying the id of the request it answers.
///
/// Every request gets exactly one *final* response; long operations send `InProgress`
/// responses (same id) before it, and the host extends its timeout on each.
// See `Request` for why the chunk variant is left inline.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub enum Response {
    // `Hello` must stay the first variant (see `Request`).
    /// The device's handshake.
    Hello(Hello),
    /// Done, nothing to report.
    Ack,
    /// Answer to `Ping`.
    Pong,
    /// Refused; the request had no effect unless the detail says otherwise.
    Nack(Nack),
    /// Not final: the operation is running. The host extends its deadline.
    InProgress {
        /// Rough completion, 0–100.
        percent: u8,
        /// What is being done (`"verifying signature"`).
        stage: String<STAGE_LEN>,
    },
    /// Answer to `GetInfo`.
    Info(DeviceInfo),
    /// Answer to `GetTelemetry`.
    Telemetry(Telemetry),
    /// A configuration value (answer to `ConfigGet`; secrets read as `"<redacted>"`).
    ConfigValue {
        /// The key.
        key: ConfigKey,
        /// The value in effect, as TOML literal text.
        value: ConfigText,
    },
    /// A fit was started.
    CalibrateStarted {
        /// Id used by the `FitProgress`/`FitDone` topics of this fit.
        fit_id: u32,
    },
    /// Answer to `CalibrateStatus`.
    FitStatus(FitStatus),
    /// An object is ready to be read with `BulkRead` (answer to `SnapshotRequest`,
    /// `PatternPull`, `ConfigExport`). The device keeps it until `BulkCancel`, until it is
    /// replaced by newer offers, or until the link has been idle for a while.
    BulkOffer {
        /// Id to pass to `BulkRead`.
        transfer_id: u32,
        /// What the object is.
        kind: ObjectKind,
        /// Total size in bytes.
        total_len: u32,
        /// CRC-32/ISO-HDLC of the whole object.
        crc32: u32,
        /// Description of the object.
        meta: ObjectMeta,
    },
    /// Answer to `BulkRead`.
    BulkChunk {
        /// The transfer read from.
        transfer_id: u32,
        /// Offset of `data[0]` in the object.
        offset: u32,
        /// The bytes (empty at or past the end).
        data: ChunkData,
    },
    /// Answer to `BulkBegin`: the upload may proceed.
    BulkAccepted {
        /// Id to pass to `BulkWrite`/`BulkCommit`.
        transfer_id: u32,
        /// Bytes already received from an earlier, interrupted upload of the same object;
        /// the host continues from here (0 for a fresh upload).
        resume_offset: u32,
    },
    /// Answer to `BulkWrite` and `BulkStatus`.
    BulkProgress {
        /// The transfer.
        transfer_id: u32,
        /// Bytes received contiguously from the start; the next write must start at or before
        /// this offset.
        next_offset: u32,
    },
    /// Answer to `FirmwareStatus`.
    FirmwareState(FirmwareState),
    /// Answer to `TimeSync`.
    TimeSync {
        /// Device clock, Unix time in milliseconds.
        device_unix_ms: u64,
        /// Device monotonic clock, milliseconds since the daemon started.
        device_monotonic_ms: u64,
    },
    /// Answer to `ConfigSet`: the value now configured, whether it applies live or after a
    /// restart, and whether it was saved.
    ConfigChanged(ConfigChange),
    /// Answer to `FrameSubscribe`: the frame stream is open.
    StreamOpened(StreamOpened),
}

impl Response {
    /// Stable name of the variant, for error messages (`"expected info, got nack"`).
    pub const fn name(&self) -> &'static str {
        match self {
            Response::Hello(_) => "hello",
            Response::Ack => "ack",
            Response::Pong => "pong",
            Response::Nack(_) => "nack",
            Response::InProgress { .. } => "in-progress",
            Response::Info(_) => "info",
            Response::Telemetry(_) => "telemetry",
            Response::ConfigValue { .. } => "config-value",
            Response::CalibrateStarted { .. } => "calibrate-started",
            Response::FitStatus(_) => "fit-status",
            Response::BulkOffer { .. } => "bulk-offer",
            Response::BulkChunk { .. } => "bulk-chunk",
            Response::BulkAccepted { .. } => "bulk-accepted",
            Response::BulkProgress { .. } => "bulk-progress",
            Response::FirmwareState(_) => "firmware-state",
            Response::TimeSync { .. } => "time-sync",
            Response::ConfigChanged(_) => "config-changed",
            Response::StreamOpened(_) => "stream-opened",
        }
    }

    /// True for `InProgress`, which is not the final answer to a request.
    pub const fn is_in_progress(&self) -> bool {
        matches!(self, Response::InProgress { .. })
    }
}
