//! Every message survives encoding: proptest round trips of `Request`, `Response`, `Topic` and
//! whole `Packet`s (postcard alone and through a frame), and the largest frame fits the limits.

mod common;

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use postcard_schema::schema::DataModelType;
use proptest::prelude::*;

use protocol::framing::max_frame_len;
use protocol::{FrameDecoder, MAX_FRAME, MAX_PAYLOAD, Packet, Request, Response, Topic};

fn roundtrip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = postcard::to_stdvec(value).expect("encode");
    postcard::from_bytes(&bytes).expect("decode")
}

proptest! {
    #[test]
    fn request_round_trips(req in common::request()) {
        prop_assert_eq!(roundtrip(&req), req);
    }

    #[test]
    fn response_round_trips(resp in common::response()) {
        prop_assert_eq!(roundtrip(&resp), resp);
    }

    #[test]
    fn topic_round_trips(topic in common::topic()) {
        prop_assert_eq!(roundtrip(&topic), topic);
    }

    #[test]
    fn packet_round_trips_through_a_frame(packet in common::packet()) {
        let frame = packet.to_frame().unwrap();
        prop_assert!(frame.len() <= MAX_FRAME);
        prop_assert_eq!(frame.iter().filter(|&&b| b == 0).count(), 1, "only the delimiter is zero");
        let mut decoder = FrameDecoder::<MAX_FRAME>::new();
        let mut input = &frame[..];
        let payload = decoder.feed(&mut input).expect("one frame").expect("valid frame");
        prop_assert_eq!(Packet::from_payload(payload).unwrap(), packet);
        prop_assert!(input.is_empty());
    }
}

/// Variant names of an enum wire type, from its schema.
fn variant_names<T: Schema>() -> Vec<&'static str> {
    match T::SCHEMA.ty {
        DataModelType::Enum(variants) => variants.iter().map(|v| v.name).collect(),
        other => panic!("{} is not an enum: {other:?}", T::SCHEMA.name),
    }
}

/// The samples (used by the golden test) cover every variant of every message enum, so a new
/// message cannot be added without a golden vector.
#[test]
fn samples_cover_every_variant() {
    let samples = common::samples();
    let mut seen = std::collections::BTreeSet::new();
    for (_, packet) in &samples {
        let (kind, variant) = match packet {
            Packet::Request { body, .. } => ("Request", format!("{body:?}")),
            Packet::Response { body, .. } => ("Response", format!("{body:?}")),
            Packet::Topic(topic) => ("Topic", format!("{topic:?}")),
        };
        let name: String = variant
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        seen.insert(format!("{kind}::{name}"));
    }
    let all: Vec<String> = [
        ("Request", variant_names::<Request>()),
        ("Response", variant_names::<Response>()),
        ("Topic", variant_names::<Topic>()),
    ]
    .iter()
    .flat_map(|(kind, names)| names.iter().map(move |n| format!("{kind}::{n}")))
    .collect();
    let missing: Vec<&String> = all.iter().filter(|n| !seen.contains(*n)).collect();
    assert!(missing.is_empty(), "variants without a sample: {missing:?}");
    assert_eq!(samples.len(), all.len(), "one sample per variant");
}

/// The largest possible packet fits a frame, and the numbers quoted in the docs hold.
#[test]
fn largest_frame_fits() {
    let max_payload = Packet::POSTCARD_MAX_SIZE;
    let max_frame = max_frame_len(max_payload);
    println!(
        "largest packet: {max_payload} bytes postcard; largest frame: {max_frame} bytes \
         (MAX_PAYLOAD {MAX_PAYLOAD}, MAX_FRAME {MAX_FRAME})"
    );
    assert!(max_payload <= MAX_PAYLOAD);
    assert!(max_frame <= MAX_FRAME);

    // Encode the biggest real values: a full bulk chunk at maximal ids and offsets.
    let full = heapless::Vec::from_slice(&[0xa5; protocol::BULK_CHUNK]).unwrap();
    let write = Packet::Request {
        id: u32::MAX,
        body: Request::BulkWrite {
            transfer_id: u32::MAX,
            offset: u32::MAX,
            data: full,
        },
    };
    let frame = write.to_frame().unwrap();
    println!("full BulkWrite frame: {} bytes", frame.len());
    assert!(frame.len() <= max_frame);
    // A full chunk dominates every other message.
    assert!(write.to_payload().unwrap().len() + 16 >= max_payload);
}

#[test]
fn wire_error_and_capabilities_display() {
    use protocol::{Capabilities, Nack, NackCode};
    let nack = Nack::new(
        NackCode::InvalidValue,
        "correction.offset: expected a float",
    );
    assert_eq!(
        nack.to_string(),
        "device refused the request: invalid value: correction.offset: expected a float"
    );
    let as_error: &dyn std::error::Error = &nack;
    assert!(as_error.source().is_none());
    // Over-long details are cut at the wire capacity, not refused.
    let long = Nack::new(NackCode::Internal, &"x".repeat(500));
    assert_eq!(
        long.detail.len(),
        protocol::messages::error::NACK_DETAIL_LEN
    );

    let caps = Capabilities::CUDA | Capabilities::FIRMWARE_UPDATE | Capabilities(1 << 30);
    assert_eq!(caps.to_string(), "cuda,firmware-update,0x40000000");
    assert!(caps.contains(Capabilities::CUDA));
    assert!(!caps.contains(Capabilities::GPIO));
    assert_eq!(Capabilities::NONE.to_string(), "none");
}
