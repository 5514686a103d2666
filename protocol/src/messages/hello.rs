//! `Hello`: the first message each end sends (the handshake that checks it is in
//! `crate::handshake`).

use core::fmt;

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::info::{Capabilities, Ident};

/// A `major.minor` protocol version.
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
    Hash,
    PartialOrd,
    Ord,
)]
pub struct ProtocolVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The first message each end sends: who it is and which protocol it speaks.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct Hello {
    /// Version of the protocol the sender speaks.
    pub protocol_version: ProtocolVersion,
    /// [`SCHEMA_HASH`](crate::SCHEMA_HASH) of the sender's build.
    pub schema_hash: u64,
    /// Device id (from the device) or host name (from the host).
    pub device_id: Ident,
    /// Version of the sender's software.
    pub firmware_version: Ident,
    /// What the sender can do (hosts usually send none).
    pub capabilities: Capabilities,
}
