//! Wire protocol shared by the dipnuc edge daemon (`dipnuc-edge`) and the host tools (`dipnuc`).
//!
//! This crate is the interface control document: the endpoint and topic tables below say what
//! each end may send, the types under [`messages`] say what it looks like. It is `no_std`
//! without the `std` feature, so a microcontroller can speak it too.
//!
//! ```text
//!   host (client)                                      edge (server)
//!   ┌────────────┐  Packet::Request { id, body }      ┌────────────┐
//!   │ Client /   │ ─────────────────────────────────▶ │ link       │
//!   │ Tracker    │ ◀───────────────────────────────── │ server     │
//!   └────────────┘  Packet::Response { id, body }     └────────────┘
//!                   Packet::Topic(..)  (unsolicited)
//!   frame on the byte stream = COBS(postcard(Packet) ‖ CRC-32 LE) ‖ 0x00
//! ```
//!
//! ## Endpoints (`Request` → final `Response`; any request may also get `Nack`)
//!
//! | Request            | Response                          | Path               |
//! |--------------------|-----------------------------------|--------------------|
//! | `Hello`            | `Hello`                           | `hello`            |
//! | `Auth`             | `Ack`                             | `auth`             |
//! | `Ping`             | `Pong`                            | `ping`             |
//! | `GetInfo`          | `Info`                            | `info/get`         |
//! | `GetTelemetry`     | `Telemetry`                       | `telemetry/get`    |
//! | `ConfigGet`        | `ConfigValue`                     | `config/get`       |
//! | `ConfigSet`        | `ConfigChanged`                   | `config/set`       |
//! | `ConfigExport`     | `BulkOffer` (Config)              | `config/export`    |
//! | `CalibrateStart`   | `CalibrateStarted`                | `fit/start`        |
//! | `CalibrateAbort`   | `Ack`                             | `fit/abort`        |
//! | `CalibrateStatus`  | `FitStatus`                       | `fit/status`       |
//! | `SnapshotRequest`  | `BulkOffer` (Frame)               | `snapshot`         |
//! | `PatternPull`      | `BulkOffer` (Pattern)             | `pattern/pull`     |
//! | `BulkRead`         | `BulkChunk`                       | `bulk/read`        |
//! | `BulkBegin`        | `BulkAccepted`                    | `bulk/begin`       |
//! | `BulkWrite`        | `BulkProgress`                    | `bulk/write`       |
//! | `BulkCommit`       | `InProgress`…, `Ack`              | `bulk/commit`      |
//! | `BulkStatus`       | `BulkProgress`                    | `bulk/status`      |
//! | `BulkCancel`       | `Ack`                             | `bulk/cancel`      |
//! | `FirmwareStatus`   | `FirmwareState`                   | `firmware/status`  |
//! | `FirmwareConfirm`  | `Ack`                             | `firmware/confirm` |
//! | `Reboot`           | `Ack`                             | `reboot`           |
//! | `TimeSync`         | `TimeSync`                        | `time/sync`        |
//! | `LogSubscribe`     | `Ack`                             | `log/subscribe`    |
//! | `SubscribeTopics`  | `Ack`                             | `topics/subscribe` |
//! | `FrameSubscribe`   | `StreamOpened`                    | `frames/subscribe` |
//! | `FrameUnsubscribe` | `Ack`                             | `frames/unsubscribe` |
//!
//! Pattern push, config import and firmware upload are `BulkBegin` with `ObjectKind::Pattern`,
//! `Config` or `Firmware`, then `BulkWrite`s, then `BulkCommit`.
//!
//! ## Topics (device → host, after `SubscribeTopics`)
//!
//! | Topic          | Payload       | Rate              | Path           |
//! |----------------|---------------|-------------------|----------------|
//! | `Heartbeat`    | `Telemetry`   | 1 Hz              | `heartbeat`    |
//! | `FitProgress`  | `FitProgress` | ≤ 10 Hz while fitting | `fit/progress` |
//! | `FitDone`      | `FitDone`     | once per fit      | `fit/done`     |
//! | `Log`          | `LogLine`     | as logged         | `log`          |
//! | `FrameStart`   | `FrameHeader` | ≤ the stream's `max_fps`, after `FrameSubscribe` | `frame/start` |
//! | `FrameData`    | `FrameData`   | the pixels of the frame begun, in chunks | `frame/data` |
//!
//! A frame stream never holds up the device: frames that come sooner than the rate allows, or
//! while the link is still sending earlier ones, are skipped and counted in the next header
//! (see [`messages::stream`]).
//!
//! ## Rules of the link
//!
//! - Both ends send `Hello` first; [`Hello::check`] refuses a different major version or
//!   [`SCHEMA_HASH`]. On a link that asks for the token (the device's `Hello` then carries
//!   `AUTH_REQUIRED`) it answers nothing but `Hello` and `Auth` until `Auth`.
//! - Secrets never cross the link: `ConfigGet` and `ConfigExport` redact them; device-local keys
//!   (trust anchors, secrets, paths) are refused with `Nack(DeviceLocal)`.
//! - Request ids are chosen by the host; each response carries the id of its request. A reply
//!   whose id is not in flight is late or unknown and is discarded (see `tracker`).
//! - Long operations send `InProgress` (same id) before the final response.
//!
//! ## Features
//!
//! - `alloc`: `Vec`-returning encoders, [`bulk::VecReceiver`].
//! - `std` (default): [`io`] (framed streams over `std::io`), [`tracker`], [`client`].
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod bulk;
pub mod envelope;
pub mod framing;
pub mod handshake;
pub mod messages;
pub mod schema;
pub mod text;

#[cfg(feature = "std")]
pub mod client;
#[cfg(feature = "std")]
pub mod io;
#[cfg(feature = "std")]
pub mod tracker;

// ---

pub use envelope::{Packet, PacketError};
pub use framing::{
    CRC_LEN, DecoderStats, FrameDecoder, FrameError, MAX_FRAME, MAX_PAYLOAD, encode_frame,
};
pub use handshake::{HandshakeError, Hello, PROTOCOL_VERSION, ProtocolVersion};
pub use messages::{
    BULK_CHUNK, CONFIG_KEY_LEN, CONFIG_VALUE_LEN, Capabilities, ChunkData, ConfigApply,
    ConfigChange, ConfigKey, ConfigText, DeviceInfo, FirmwareState, FitDone, FitOutcome,
    FitProgress, FitState, FitStatus, FitSummary, Ident, LogLevel, LogLine, MethodName, Nack,
    NackCode, ObjectEncoding, ObjectKind, ObjectMeta, Request, Response, SnapshotKind, TOKEN_LEN,
    Telemetry, Topic,
};
pub use messages::{
    FIRMWARE_ERROR_LEN, FIT_DETAIL_LEN, IDENT_LEN, LABEL_LEN, LOG_MESSAGE_LEN, LOG_TARGET_LEN,
    METHOD_LEN, NACK_DETAIL_LEN, STAGE_LEN,
};
pub use messages::{FrameData, FrameHeader, FrameKind, StreamOpened};
pub use schema::SCHEMA_HASH;
