//! The wire error: `Nack { code, detail }`, the typed refusal any request can get.

use core::fmt;

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Capacity of [`Nack::detail`].
pub const NACK_DETAIL_LEN: usize = 96;

/// Why a request was refused. The detail text says which key, offset or limit was involved.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NackCode {
    /// The link is not authenticated; only `Hello` and `Auth` are answered.
    Unauthorized,
    /// The configuration key does not exist.
    UnknownKey,
    /// The value was refused by the device's validation for that key.
    InvalidValue,
    /// The device is busy with a conflicting operation (e.g. a fit is already running).
    Busy,
    /// The transfer, fit or object referred to does not exist (any more).
    NotFound,
    /// The request is malformed or not valid in the current state (e.g. a gap in a bulk write).
    BadRequest,
    /// A whole-object checksum did not match the received bytes.
    ChecksumMismatch,
    /// A firmware image signature did not verify.
    SignatureInvalid,
    /// The object or value exceeds a device limit.
    TooLarge,
    /// The device does not support this request (missing capability).
    Unsupported,
    /// A device-side failure (I/O, storage); the detail says what.
    Internal,
    /// The operation did not finish within its time limit on the device.
    Timeout,
    /// The device refused the protocol version or schema of the peer.
    VersionMismatch,
    /// The configuration key is device-local (a trust anchor, a secret or a path): it can be
    /// changed only in the configuration file on the device, never over the link.
    DeviceLocal,
}

impl NackCode {
    /// Stable lower-case name, used in messages and JSON output.
    pub const fn as_str(self) -> &'static str {
        match self {
            NackCode::Unauthorized => "unauthorized",
            NackCode::UnknownKey => "unknown key",
            NackCode::InvalidValue => "invalid value",
            NackCode::Busy => "busy",
            NackCode::NotFound => "not found",
            NackCode::BadRequest => "bad request",
            NackCode::ChecksumMismatch => "checksum mismatch",
            NackCode::SignatureInvalid => "signature invalid",
            NackCode::TooLarge => "too large",
            NackCode::Unsupported => "unsupported",
            NackCode::Internal => "internal error",
            NackCode::Timeout => "timeout",
            NackCode::VersionMismatch => "version mismatch",
            NackCode::DeviceLocal => "device-local key",
        }
    }
}

impl fmt::Display for NackCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the code says what kind of failure, the detail names the specifics
/// (`"correction.offset: expected a float"`).
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct Nack {
    /// The kind of failure.
    pub code: NackCode,
    /// Human-readable specifics (key, offset, limit), truncated to fit.
    pub detail: String<NACK_DETAIL_LEN>,
}

impl Nack {
    /// Builds a Nack, truncating `detail` to the wire capacity.
    pub fn new(code: NackCode, detail: &str) -> Self {
        Nack {
            code,
            detail: crate::text::truncate(detail),
        }
    }
}

impl fmt::Display for Nack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "device refused the request: {}", self.code)
        } else {
            write!(
                f,
                "device refused the request: {}: {}",
                self.code, self.detail
            )
        }
    }
}

impl core::error::Error for Nack {}
