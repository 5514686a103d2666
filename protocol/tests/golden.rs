//! Golden byte vectors: the exact frame of one sample per message variant, checked in at
//! `tests/golden/packets.hex`, so any change of the wire format shows up as a diff.
//! `DIPNUC_BLESS=1 cargo test -p protocol --test golden` rewrites the file after an intended
//! change (then bump `PROTOCOL_VERSION` as appropriate).

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use protocol::{PROTOCOL_VERSION, Packet, SCHEMA_HASH};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/packets.hex")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn render() -> String {
    let mut out = String::from(
        "# Golden frames: COBS(postcard(Packet) ++ CRC-32 LE) ++ 00, one per message variant.\n\
         # Regenerate with DIPNUC_BLESS=1 cargo test -p protocol --test golden\n",
    );
    let _ = writeln!(out, "protocol_version {PROTOCOL_VERSION}");
    let _ = writeln!(out, "schema_hash {SCHEMA_HASH:016x}");
    for (name, packet) in common::samples() {
        let frame = packet.to_frame().expect("encode");
        let _ = writeln!(out, "{name} {}", hex(&frame));
    }
    out
}

#[test]
fn frames_match_golden_vectors() {
    let path = golden_path();
    let now = render();
    if std::env::var_os("DIPNUC_BLESS").is_some() {
        std::fs::write(&path, &now).expect("write golden file");
        println!("blessed {}", path.display());
        return;
    }
    let before = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with DIPNUC_BLESS=1",
            path.display()
        )
    });
    let mut diffs = Vec::new();
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = now.lines().collect();
    for i in 0..old.len().max(new.len()) {
        let (a, b) = (old.get(i).copied(), new.get(i).copied());
        if a != b {
            diffs.push(format!(
                "line {}:\n  golden: {}\n  now:    {}",
                i + 1,
                a.unwrap_or("<none>"),
                b.unwrap_or("<none>")
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "wire format changed ({} lines differ); if intended, run with DIPNUC_BLESS=1:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The golden frames decode back to the samples, so the file is not only stable but right.
#[test]
fn golden_frames_decode_to_samples() {
    let text = std::fs::read_to_string(golden_path()).expect("golden file");
    let samples = common::samples();
    let mut checked = 0;
    for line in text.lines().filter(|l| {
        l.starts_with("request.") || l.starts_with("response.") || l.starts_with("topic.")
    }) {
        let (name, hexstr) = line.split_once(' ').expect("name and hex");
        let bytes: Vec<u8> = (0..hexstr.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hexstr[i..i + 2], 16).expect("hex"))
            .collect();
        let mut decoder = protocol::FrameDecoder::<{ protocol::MAX_FRAME }>::new();
        let mut input = &bytes[..];
        let payload = decoder.feed(&mut input).expect("a frame").expect("valid");
        let packet = Packet::from_payload(payload).expect("decodes");
        let (_, expected) = samples
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("golden line {name} has no sample"));
        assert_eq!(&packet, expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, samples.len());
}
