//! The link server over TCP loopback with the real protocol client: handshake, the token gate
//! (nothing but Hello/Auth before authenticating), telemetry, heartbeat topic, config get/set
//! with key-naming refusals, snapshot and pattern pull, pattern push verified before applying,
//! config export/import.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::{Daemon, DaemonHandle};
use formats::pattern::{PatternMeta, StoredPattern};
use protocol::client::{CallError, Client};
use protocol::io::FramedStream;
use protocol::tracker::RetryPolicy;
use protocol::{
    Capabilities, Hello, NackCode, ObjectEncoding, ObjectKind, ObjectMeta, Request, SnapshotKind,
    Topic,
};

fn start(dir: &std::path::Path) -> DaemonHandle {
    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[device]
id = "link-test"
[camera]
source = "sim"
width = 64
height = 48
fps = 50.0
[fit]
fit_on_start = false
[pattern]
store = "{}"
[link.tcp]
listen = "127.0.0.1:0"
token = "s3cret"
"#,
        dir.join("p.dnp").display()
    ))
    .unwrap();
    Daemon::start(cfg).unwrap()
}

fn connect(d: &DaemonHandle) -> Client<TcpStream> {
    let stream = TcpStream::connect(d.local_tcp_addr().unwrap()).unwrap();
    let mut c = Client::new(FramedStream::tcp(stream).unwrap(), RetryPolicy::default());
    let peer = c
        .handshake(&Hello::new("test-host", "0.0.0", Capabilities::NONE))
        .unwrap();
    assert_eq!(peer.device_id.as_str(), "link-test");
    assert!(peer.capabilities.contains(Capabilities::AUTH_REQUIRED));
    c
}

fn nack_code(e: CallError) -> (NackCode, String) {
    match e {
        CallError::Nack(n) => (n.code, n.detail.to_string()),
        other => panic!("expected a Nack, got {other}"),
    }
}

#[test]
fn unauthenticated_clients_get_nothing_but_hello() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let mut c = connect(&d);
    let (code, _) = nack_code(c.telemetry().unwrap_err());
    assert_eq!(code, NackCode::Unauthorized);
    let (code, _) = nack_code(c.auth("wrong").unwrap_err());
    assert_eq!(code, NackCode::Unauthorized);
    let (code, _) = nack_code(c.config_get("camera.width").unwrap_err());
    assert_eq!(code, NackCode::Unauthorized);
    c.auth("s3cret").unwrap();
    assert!(c.telemetry().is_ok());
    d.shutdown();
}

#[test]
fn telemetry_topics_config_and_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let mut c = connect(&d);
    c.auth("s3cret").unwrap();

    // Telemetry and the 1 Hz heartbeat.
    std::thread::sleep(Duration::from_millis(300));
    let t = c.telemetry().unwrap();
    assert!(t.frames_total > 0, "{t:?}");
    c.subscribe(true, true, None).unwrap();
    let start = Instant::now();
    let mut beats = 0;
    while beats < 2 {
        assert!(start.elapsed() < Duration::from_secs(5), "no heartbeat");
        if let Some(Topic::Heartbeat(h)) = c.next_topic(Duration::from_millis(500)).unwrap() {
            assert!(h.fps >= 0.0);
            beats += 1;
        }
    }
    let info = c.info().unwrap();
    assert_eq!((info.width, info.height, info.bit_depth), (64, 48, 14));

    // Config get/set, refusals name the key.
    assert_eq!(c.config_get("camera.width").unwrap().as_str(), "64");
    let change = c.config_set("correction.offset", "100").unwrap();
    assert_eq!(change.value.as_str(), "100");
    assert_eq!(change.apply, protocol::ConfigApply::Live);
    assert!(
        !change.persisted,
        "no state folder given: kept in memory only"
    );
    let (code, detail) = nack_code(c.config_set("correction.offset", "99999").unwrap_err());
    assert_eq!(code, NackCode::InvalidValue);
    assert!(detail.starts_with("correction.offset"), "{detail}");
    let (code, _) = nack_code(c.config_get("camera.nope").unwrap_err());
    assert_eq!(code, NackCode::UnknownKey);

    // Snapshots.
    let raw = c
        .pull(
            Request::SnapshotRequest {
                kind: SnapshotKind::Raw,
            },
            |_, _| {},
        )
        .unwrap();
    assert_eq!(raw.kind, ObjectKind::Frame);
    assert_eq!(raw.meta.encoding, ObjectEncoding::U16Le);
    assert_eq!(raw.data.len(), 64 * 48 * 2);
    assert!(
        raw.meta.seq.is_some(),
        "snapshots carry their frame's sequence number"
    );
    let (code, _) = nack_code(c.pull(Request::PatternPull, |_, _| {}).unwrap_err());
    assert_eq!(code, NackCode::NotFound);

    // Pattern push: a wrong size or a mislabelled object is refused and nothing is applied;
    // a right one is installed and comes back on pull, byte for byte.
    let pattern = |w: u32, h: u32| StoredPattern {
        width: w,
        height: h,
        data: (0..w * h).map(|i| (i % w) as f32 - 31.5).collect(),
        meta: PatternMeta {
            method: "test".into(),
            unix_ms: 1_764_000_000_000,
            ..PatternMeta::default()
        },
    };
    let push = |c: &mut Client<TcpStream>, meta: ObjectMeta, bytes: &[u8]| {
        c.push(
            ObjectKind::Pattern,
            meta,
            bytes,
            RetryPolicy::default(),
            |_, _| {},
            |_, _| {},
        )
    };
    let (meta, bytes) = formats::pattern_object::encode(&pattern(10, 10), 14);
    assert_eq!(
        nack_code(push(&mut c, meta, &bytes).unwrap_err()).0,
        NackCode::InvalidValue
    );
    let (mut meta, bytes) = formats::pattern_object::encode(&pattern(64, 48), 14);
    meta.encoding = ObjectEncoding::F32Le;
    let (code, detail) = nack_code(push(&mut c, meta, &bytes).unwrap_err());
    assert_eq!(code, NackCode::InvalidValue);
    assert!(detail.contains("PatternFile"), "{detail}");
    assert!(d.core().pattern().is_none());
    let (meta, bytes) = formats::pattern_object::encode(&pattern(64, 48), 14);
    push(&mut c, meta, &bytes).unwrap();
    assert_eq!(d.core().pattern().unwrap().data, pattern(64, 48).data);
    let pulled = c.pull(Request::PatternPull, |_, _| {}).unwrap();
    assert_eq!(pulled.meta.encoding, ObjectEncoding::PatternFile);
    assert_eq!(pulled.data, bytes);
    assert!(edge::pattern_cache::load_pattern(&dir.path().join("p.dnp")).is_ok());

    // Config export / import round trip; a bad import changes nothing.
    let exported = c.pull(Request::ConfigExport, |_, _| {}).unwrap();
    let text = String::from_utf8(exported.data).unwrap();
    assert!(text.contains("offset = 100"), "{text}");
    let bad = text.replace("offset = 100", "offset = 123456");
    let e = c
        .push(
            ObjectKind::Config,
            ObjectMeta::opaque(ObjectEncoding::TomlUtf8, "edge.toml"),
            bad.as_bytes(),
            RetryPolicy::default(),
            |_, _| {},
            |_, _| {},
        )
        .unwrap_err();
    let (code, detail) = nack_code(e);
    assert_eq!(code, NackCode::InvalidValue);
    assert!(detail.contains("correction.offset"), "{detail}");
    assert_eq!(d.core().config().correction.offset, 100);
    let good = text.replace("offset = 100", "offset = 7");
    c.push(
        ObjectKind::Config,
        ObjectMeta::opaque(ObjectEncoding::TomlUtf8, "edge.toml"),
        good.as_bytes(),
        RetryPolicy::default(),
        |_, _| {},
        |_, _| {},
    )
    .unwrap();
    assert_eq!(d.core().config().correction.offset, 7);

    // A second client at the same time.
    let mut c2 = connect(&d);
    c2.auth("s3cret").unwrap();
    assert!(c2.ping().is_ok() && c.ping().is_ok());
    d.shutdown();
}

/// The recording limits are live: a change over the link applies to the next stream opened.
#[test]
fn recording_limits_apply_to_the_next_stream() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let mut c = connect(&d);
    c.auth("s3cret").unwrap();
    let granted = |c: &mut Client<TcpStream>| match c.call(Request::FrameSubscribe {
        kind: protocol::FrameKind::Raw,
        max_fps: 500.0,
    }) {
        Ok(protocol::Response::StreamOpened(o)) => o.max_fps,
        other => panic!("expected the stream, got {other:?}"),
    };
    assert_eq!(granted(&mut c), 30.0, "the default recording.max_fps");
    let change = c.config_set("recording.max_fps", "5.0").unwrap();
    assert_eq!(change.apply, protocol::ConfigApply::Live);
    assert_eq!(granted(&mut c), 5.0);
    c.call(Request::FrameUnsubscribe).unwrap();
    d.shutdown();
}
