//! The handshake: both ends introduce themselves with `Hello` (versions, schema hash, identity,
//! capabilities; the wire type is in `messages::hello`) and refuse a peer built from a
//! different message set.

pub use crate::messages::hello::{Hello, ProtocolVersion};
use crate::messages::info::{Capabilities, Ident};
use crate::schema::SCHEMA_HASH;

/// The protocol version this build speaks. Bump `major` for incompatible changes, `minor` for
/// additions; the schema hash catches what a forgotten bump would miss.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 2, minor: 1 };

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
