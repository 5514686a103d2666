//! The wire message types, one file per area. `Request`, `Response` and `Topic` are the three
//! enums that travel inside a [`Packet`](crate::envelope::Packet).

pub mod bulk;
pub mod config;
pub mod error;
pub mod firmware;
pub mod fit;
pub mod hello;
pub mod info;
pub mod request;
pub mod response;
pub mod stream;
pub mod system;
pub mod telemetry;
pub mod topic;

pub use bulk::{BULK_CHUNK, ChunkData, ObjectEncoding, ObjectKind, ObjectMeta, SnapshotKind};
pub use config::{
    CONFIG_KEY_LEN, CONFIG_VALUE_LEN, ConfigApply, ConfigChange, ConfigKey, ConfigText,
};
pub use error::{Nack, NackCode};
pub use firmware::FirmwareState;
pub use fit::{FitDone, FitOutcome, FitProgress, FitState, FitStatus, FitSummary, MethodName};
pub use info::{Capabilities, DeviceInfo, Ident};
pub use request::{Request, TOKEN_LEN};
pub use response::Response;
pub use stream::{FrameData, FrameHeader, FrameKind, StreamOpened};
pub use system::{LogLevel, LogLine};
pub use telemetry::Telemetry;
pub use topic::Topic;

/// Capacities of the bounded wire strings, in bytes.
pub use self::{
    bulk::LABEL_LEN, error::NACK_DETAIL_LEN, firmware::FIRMWARE_ERROR_LEN, fit::FIT_DETAIL_LEN,
    fit::METHOD_LEN, info::IDENT_LEN, response::STAGE_LEN, system::LOG_MESSAGE_LEN,
    system::LOG_TARGET_LEN,
};
