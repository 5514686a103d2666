//! The handshake: both ends introduce themselves with `Hello` (versions, schema hash, identity,
//! capabilities) and refuse a peer built from a different message set.

use core::fmt;

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::messages::info::{Capabilities, Ident};
use crate::schema::SCHEMA_HASH;

/// The protocol version this build speaks. Bump `major` for incompatible changes, `minor` for
/// additions; the schema hash catches what a forgotten bump would miss.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 1, minor: 1 };

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
    /// [`SCHEMA_HASH`] of the sender's build.
    pub schema_hash: u64,
    /// Device id (from the device) or host name (from the host).
    pub device_id: Ident,
    /// Version of the sender's software.
    pub firmware_version: Ident,
    /// What the sender can do (hosts usually send none).
    pub capabilities: Capabilities,
}

impl Hello {
    /// A `Hello` for this build: current [`PROTOCOL_VERSION`] and [`SCHEMA_HASH`]; the strings
    /// are truncated to fit.
    pub fn new(device_id: &str, firmware_version: &str, capabilities: Capabilities) -> Self {
        Hello {
            protocol_version: PROTOCOL_VERSION,
            schema_hash: SCHEMA_HASH,
            device_id: crate::text::truncate(device_id),
            firmware_version: crate::text::truncate(firmware_version),
            capabilities,
        }
    }

    /// Accepts `peer` if it speaks the same major version with the same schema hash.
    ///
    /// A different minor version alone is accepted (it can only differ together with the hash
    /// if a message changed, and then the hash refuses it).
    pub fn check(&self, peer: &Hello) -> Result<(), HandshakeError> {
        if self.protocol_version.major != peer.protocol_version.major
            || self.schema_hash != peer.schema_hash
        {
            return Err(HandshakeError::Incompatible {
                local_version: self.protocol_version,
                local_hash: self.schema_hash,
                peer_version: peer.protocol_version,
                peer_hash: peer.schema_hash,
                peer_id: peer.device_id.clone(),
                peer_firmware: peer.firmware_version.clone(),
            });
        }
        Ok(())
    }
}

/// Why a handshake was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer speaks a different major version or a different message set.
    #[error(
        "protocol mismatch: this side speaks protocol {local_version} (schema {local_hash:016x}), \
         peer {peer_id:?} ({peer_firmware}) speaks protocol {peer_version} (schema {peer_hash:016x}); \
         update one side so both are built from the same protocol crate"
    )]
    Incompatible {
        /// Our version.
        local_version: ProtocolVersion,
        /// Our schema hash.
        local_hash: u64,
        /// The peer's version.
        peer_version: ProtocolVersion,
        /// The peer's schema hash.
        peer_hash: u64,
        /// The peer's id, for the message.
        peer_id: Ident,
        /// The peer's software version, for the message.
        peer_firmware: Ident,
    },
}
