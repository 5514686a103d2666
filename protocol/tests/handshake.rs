//! Handshake: compatible peers accept each other, a different major version or schema hash is
//! refused with an error naming both versions and hashes, and the schema hash follows the
//! message definitions.

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use protocol::schema::schema_hash;
use protocol::{
    Capabilities, HandshakeError, Hello, PROTOCOL_VERSION, Packet, ProtocolVersion, SCHEMA_HASH,
};

#[test]
fn same_build_accepts() {
    let host = Hello::new("laptop", "0.1.0", Capabilities::NONE);
    let device = Hello::new("sim-0001", "0.1.0", Capabilities::CUDA);
    assert_eq!(host.check(&device), Ok(()));
    assert_eq!(device.check(&host), Ok(()));
    // A different minor version alone is fine.
    let mut newer = device.clone();
    newer.protocol_version.minor += 1;
    assert_eq!(host.check(&newer), Ok(()));
}

#[test]
fn major_mismatch_names_both_versions_and_hashes() {
    let host = Hello::new("laptop", "0.1.0", Capabilities::NONE);
    let mut device = Hello::new("sim-0001", "9.9.9", Capabilities::NONE);
    device.protocol_version = ProtocolVersion { major: 2, minor: 3 };
    device.schema_hash = 0x0bad_cafe_0000_0001;
    let err = host.check(&device).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("protocol {PROTOCOL_VERSION}")),
        "{text}"
    );
    assert!(text.contains("protocol 2.3"), "{text}");
    assert!(text.contains(&format!("{SCHEMA_HASH:016x}")), "{text}");
    assert!(text.contains("0badcafe00000001"), "{text}");
    assert!(
        text.contains("sim-0001") && text.contains("9.9.9"),
        "{text}"
    );
    assert!(matches!(err, HandshakeError::Incompatible { .. }));
}

#[test]
fn schema_hash_mismatch_with_same_version_is_refused() {
    let host = Hello::new("laptop", "0.1.0", Capabilities::NONE);
    let mut device = host.clone();
    device.schema_hash ^= 1;
    let text = host.check(&device).unwrap_err().to_string();
    assert!(
        text.contains(&format!("{:016x}", SCHEMA_HASH ^ 1)),
        "{text}"
    );
}

#[test]
fn schema_hash_is_the_packet_schema_hash() {
    assert_eq!(SCHEMA_HASH, schema_hash::<Packet>());
    assert_eq!(
        Hello::new("a", "b", Capabilities::NONE).schema_hash,
        SCHEMA_HASH
    );
}

// Copies of `Hello` to show the hash is derived from the definition: an identical copy hashes
// the same, and each kind of change (field type, field name, added field, capacity) differs.
mod same {
    use super::*;
    #[derive(Serialize, Deserialize, Schema, MaxSize)]
    pub struct Hello {
        pub protocol_version: protocol::ProtocolVersion,
        pub schema_hash: u64,
        pub device_id: String<32>,
        pub firmware_version: String<32>,
        pub capabilities: protocol::Capabilities,
    }
}
mod retyped {
    use super::*;
    #[derive(Serialize, Deserialize, Schema, MaxSize)]
    pub struct Hello {
        pub protocol_version: protocol::ProtocolVersion,
        pub schema_hash: u32,
        pub device_id: String<32>,
        pub firmware_version: String<32>,
        pub capabilities: protocol::Capabilities,
    }
}
mod renamed {
    use super::*;
    #[derive(Serialize, Deserialize, Schema, MaxSize)]
    pub struct Hello {
        pub protocol_version: protocol::ProtocolVersion,
        pub schema_hash: u64,
        pub device_name: String<32>,
        pub firmware_version: String<32>,
        pub capabilities: protocol::Capabilities,
    }
}
mod extended {
    use super::*;
    #[derive(Serialize, Deserialize, Schema, MaxSize)]
    pub struct Hello {
        pub protocol_version: protocol::ProtocolVersion,
        pub schema_hash: u64,
        pub device_id: String<32>,
        pub firmware_version: String<32>,
        pub capabilities: protocol::Capabilities,
        pub serial: u32,
    }
}
mod resized {
    use super::*;
    #[derive(Serialize, Deserialize, Schema, MaxSize)]
    pub struct Hello {
        pub protocol_version: protocol::ProtocolVersion,
        pub schema_hash: u64,
        pub device_id: String<64>,
        pub firmware_version: String<32>,
        pub capabilities: protocol::Capabilities,
    }
}

#[test]
fn changing_a_message_changes_the_hash() {
    let original = schema_hash::<Hello>();
    assert_eq!(schema_hash::<same::Hello>(), original);
    for (what, changed) in [
        ("field type", schema_hash::<retyped::Hello>()),
        ("field name", schema_hash::<renamed::Hello>()),
        ("added field", schema_hash::<extended::Hello>()),
        ("string capacity", schema_hash::<resized::Hello>()),
    ] {
        assert_ne!(
            changed, original,
            "changing the {what} must change the hash"
        );
    }
}
