//! Everything the host can ask the device (`Request`), one variant per endpoint.

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::bulk::{ChunkData, ObjectKind, ObjectMeta, SnapshotKind};
use super::config::{ConfigKey, ConfigText};
use super::fit::MethodName;
use super::hello::Hello;
use super::stream::FrameKind;
use super::system::LogLevel;

/// Capacity of the pre-shared token in `Auth`.
pub const TOKEN_LEN: usize = 64;

/// A request from the host; the device answers each with one final [`Response`] carrying the
/// same request id (possibly preceded by `InProgress` responses).
///
/// [`Response`]: super::response::Response
// One inline chunk buffer makes the write variant large; boxing is not possible without an
// allocator, and a request is built once and sent, so the size costs nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub enum Request {
    // `Hello` must stay the first variant with an unchanged layout: peers built from different
    // message sets still decode each other's `Hello` and can report the mismatch.
    /// Handshake: the host's identity, versions and schema hash. → `Response::Hello`.
    Hello(Hello),
    /// Authenticate with the pre-shared token (TCP). → `Ack` or `Nack(Unauthorized)`.
    Auth {
        /// The pre-shared token.
        token: String<TOKEN_LEN>,
    },
    /// Liveness check. → `Pong`.
    Ping,
    /// → `Info`.
    GetInfo,
    /// → `Telemetry`.
    GetTelemetry,
    /// Read one configuration value. → `ConfigValue` or `Nack(UnknownKey)`.
    ConfigGet {
        /// Dotted key, e.g. `correction.offset`.
        key: ConfigKey,
    },
    /// Change one configuration value (validated, applied, persisted on the device).
    /// → `ConfigChanged` or `Nack(UnknownKey | InvalidValue | DeviceLocal)`.
    ConfigSet {
        /// Dotted key, e.g. `fit.method`.
        key: ConfigKey,
        /// TOML literal text, e.g. `"cp-tv"` (with quotes) or `0.5`.
        value: ConfigText,
    },
    /// Export the whole configuration as TOML. → `BulkOffer` (kind `Config`).
    ConfigExport,
    /// Start a calibration fit. → `CalibrateStarted` or `Nack(Busy)`.
    CalibrateStart {
        /// Preset name (`"default"`, `"fast"`, `"thorough"`); empty = the configured default.
        preset: MethodName,
        /// Wall-time limit in seconds; 0 = the configured budget.
        max_seconds: u32,
        /// Step limit; 0 = the preset's default.
        max_steps: u32,
    },
    /// Abort the running fit; the previous pattern stays applied. → `Ack` or `Nack(NotFound)`.
    CalibrateAbort,
    /// → `FitStatus`.
    CalibrateStatus,
    /// Capture a frame of the given kind. → `BulkOffer` (kind `Frame`).
    SnapshotRequest {
        /// Raw, pattern or corrected.
        kind: SnapshotKind,
    },
    /// Fetch the applied noise pattern. → `BulkOffer` (kind `Pattern`) or `Nack(NotFound)`.
    PatternPull,
    /// Read part of an offered object. → `BulkChunk` (at most `len` bytes, fewer at the end).
    BulkRead {
        /// From the `BulkOffer`.
        transfer_id: u32,
        /// First byte wanted.
        offset: u32,
        /// Bytes wanted, at most `BULK_CHUNK`.
        len: u16,
    },
    /// Announce an upload (pattern push, config import, firmware).
    /// → `BulkAccepted` (with the offset to resume from when the same object was partly
    /// received before) or `Nack(TooLarge | Unsupported | Busy)`.
    BulkBegin {
        /// What the object is.
        kind: ObjectKind,
        /// Total size in bytes.
        total_len: u32,
        /// CRC-32/ISO-HDLC of the whole object.
        crc32: u32,
        /// Description of the object.
        meta: ObjectMeta,
    },
    /// Upload one chunk. Resends of received ranges are accepted; gaps are refused.
    /// → `BulkProgress` or `Nack(BadRequest | NotFound)`.
    BulkWrite {
        /// From `BulkAccepted`.
        transfer_id: u32,
        /// Offset of `data[0]` in the object.
        offset: u32,
        /// The bytes.
        data: ChunkData,
    },
    /// Finish an upload: the device verifies the whole-object CRC (and, for firmware, the
    /// signature) and only then applies it. → `InProgress`…, then `Ack` or
    /// `Nack(ChecksumMismatch | SignatureInvalid | BadRequest)`.
    BulkCommit {
        /// From `BulkAccepted`.
        transfer_id: u32,
    },
    /// How much of an upload has arrived (for resuming). → `BulkProgress`.
    BulkStatus {
        /// From `BulkAccepted`.
        transfer_id: u32,
    },
    /// Drop an unfinished transfer (either direction) and free its resources. → `Ack`.
    BulkCancel {
        /// The transfer to drop.
        transfer_id: u32,
    },
    /// → `FirmwareState`.
    FirmwareStatus,
    /// Mark the running image healthy, cancelling the rollback timer. → `Ack`.
    FirmwareConfirm,
    /// Restart the daemon (or the device, as configured). → `Ack`, then the link drops.
    Reboot,
    /// Exchange clocks. → `TimeSync`.
    TimeSync {
        /// Host clock, Unix time in milliseconds.
        host_unix_ms: u64,
    },
    /// Set the minimum level of the log topic. → `Ack`.
    LogSubscribe {
        /// Lines below this severity are not sent.
        min_level: LogLevel,
    },
    /// Choose which topics this link receives (all are off after connecting). → `Ack`.
    SubscribeTopics {
        /// 1 Hz `Heartbeat`.
        heartbeat: bool,
        /// `FitProgress` and `FitDone`.
        fit_progress: bool,
        /// `Log` lines.
        logs: bool,
    },
    /// Stream frames of `kind` to this link as `FrameStart`/`FrameData` topics, at most
    /// `max_fps` per second (replaces this link's earlier stream).
    /// → `StreamOpened` or `Nack(InvalidValue | Busy)`.
    FrameSubscribe {
        /// Raw or corrected frames.
        kind: FrameKind,
        /// Highest rate wanted, frames per second (> 0; capped by `recording.max_fps`).
        max_fps: f32,
    },
    /// Stop this link's frame stream. → `Ack` (also when none was open).
    FrameUnsubscribe,
}

impl Request {
    /// Stable name of the endpoint, for logs and error messages.
    pub const fn name(&self) -> &'static str {
        match self {
            Request::Hello(_) => "hello",
            Request::Auth { .. } => "auth",
            Request::Ping => "ping",
            Request::GetInfo => "info/get",
            Request::GetTelemetry => "telemetry/get",
            Request::ConfigGet { .. } => "config/get",
            Request::ConfigSet { .. } => "config/set",
            Request::ConfigExport => "config/export",
            Request::CalibrateStart { .. } => "fit/start",
            Request::CalibrateAbort => "fit/abort",
            Request::CalibrateStatus => "fit/status",
            Request::SnapshotRequest { .. } => "snapshot",
            Request::PatternPull => "pattern/pull",
            Request::BulkRead { .. } => "bulk/read",
            Request::BulkBegin { .. } => "bulk/begin",
            Request::BulkWrite { .. } => "bulk/write",
            Request::BulkCommit { .. } => "bulk/commit",
            Request::BulkStatus { .. } => "bulk/status",
            Request::BulkCancel { .. } => "bulk/cancel",
            Request::FirmwareStatus => "firmware/status",
            Request::FirmwareConfirm => "firmware/confirm",
            Request::Reboot => "reboot",
            Request::TimeSync { .. } => "time/sync",
            Request::LogSubscribe { .. } => "log/subscribe",
            Request::SubscribeTopics { .. } => "topics/subscribe",
            Request::FrameSubscribe { .. } => "frames/subscribe",
            Request::FrameUnsubscribe => "frames/unsubscribe",
        }
    }

    /// Whether sending this request twice has the same effect as sending it once, so a
    /// client may resend it after a timeout. Starting or aborting a fit, committing an upload
    /// and rebooting must not be repeated blindly: the client asks for status instead.
    /// (`BulkBegin` is safe: announcing the same object again resumes the same transfer.)
    pub const fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            Request::CalibrateStart { .. }
                | Request::CalibrateAbort
                | Request::BulkCommit { .. }
                | Request::Reboot
        )
    }
}
