//! The security rules of the link, against the real daemon's endpoints, over the protocol's
//! in-memory transport (no TCP): secrets never leave the device; trust anchors, secrets and
//! paths are changed only in the file on the device; the admin's file is never written (link
//! changes go to the overrides file and survive a restart); an export imported elsewhere
//! reproduces the effective config; a public listen address needs a token; and after any
//! sequence of link commands, firmware not signed by the configured key is refused while the
//! running firmware keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use edge::config::{EdgeConfig, KEYS, Overrides};
use edge::daemon::{Daemon, DaemonHandle, DaemonOptions};
use edge::firmware::Slots;
use edge::link::{AuthGate, LinkBackend, MemoryPeer, Session, Transfers};
use proptest::prelude::*;
use protocol::{
    Capabilities, ConfigApply, ConfigChange, Hello, NackCode, ObjectEncoding, ObjectKind,
    ObjectMeta, Request, Response,
};

const TOKEN: &str = "s3cret-token-1234";

fn device_key() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}

fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&[0x66; 32])
}

fn hex(key: &SigningKey) -> String {
    formats::firmware::hex_encode(key.verifying_key().as_bytes())
}

/// The admin's file: comments, a profile, the trust anchors.
fn write_admin_file(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("board.toml"),
        "# a board profile\n[device]\nboard = \"test-board\"\n[fit]\nmethod = \"colmean\"\n",
    )
    .unwrap();
    let path = dir.join("edge.toml");
    std::fs::write(
        &path,
        format!(
            r#"# The admin's configuration. Comments and the profile must survive link changes.
profile = "board.toml"

[device]
id = "sec-test"   # trailing comment
state_dir = "{state}"

[camera]
source = "sim"
width = 32
height = 24
fps = 50.0

[fit]
fit_on_start = false

[pattern]
store = "{store}"

[link.tcp]
token = "{TOKEN}"

[firmware]
public_key = "{key}"
slots_dir = "{slots}"
"#,
            state = dir.join("state").display(),
            store = dir.join("pattern.dnp").display(),
            key = hex(&device_key()),
            slots = dir.join("firmware").display(),
        ),
    )
    .unwrap();
    path
}

/// A daemon started as the service starts it: the admin's file, link overrides in the state
/// folder.
fn start(admin: &Path) -> DaemonHandle {
    let cfg = EdgeConfig::load(admin).unwrap();
    let opts = DaemonOptions {
        overrides_file: Some(cfg.overrides_path()),
        ..DaemonOptions::default()
    };
    Daemon::start_with(cfg, opts).unwrap()
}

/// An in-memory link to `d`: through the token gate (as TCP) or trusted (as serial).
fn connect(d: &DaemonHandle, gate: AuthGate) -> MemoryPeer {
    let backend: Arc<dyn LinkBackend> = d.core().clone();
    let session = Session::new(backend, Arc::new(Transfers::default()), gate, "test".into());
    let mut peer = MemoryPeer::new(session);
    let hello = Hello::new("test-host", "0", Capabilities::NONE);
    assert!(matches!(
        peer.ask(Request::Hello(hello)).unwrap(),
        Response::Hello(_)
    ));
    peer
}

fn authed(d: &DaemonHandle) -> MemoryPeer {
    let mut peer = connect(d, AuthGate::token(TOKEN.into()));
    assert_eq!(peer.ask(auth(TOKEN)).unwrap(), Response::Ack);
    peer
}

fn auth(token: &str) -> Request {
    Request::Auth {
        token: protocol::text::truncate(token),
    }
}

fn set(key: &str, value: &str) -> Request {
    Request::ConfigSet {
        key: protocol::text::truncate(key),
        value: protocol::text::truncate(value),
    }
}

fn get(key: &str) -> Request {
    Request::ConfigGet {
        key: protocol::text::truncate(key),
    }
}

fn nack(r: &Response) -> Option<(NackCode, String)> {
    match r {
        Response::Nack(n) => Some((n.code, n.detail.to_string())),
        _ => None,
    }
}

/// Uploads an object in one write and commits it; returns the final answer.
fn upload(
    peer: &mut MemoryPeer,
    kind: ObjectKind,
    encoding: ObjectEncoding,
    bytes: &[u8],
) -> Response {
    let begin = Request::BulkBegin {
        kind,
        total_len: bytes.len() as u32,
        crc32: protocol::bulk::object_crc32(bytes),
        meta: ObjectMeta::opaque(encoding, "upload"),
    };
    let transfer_id = match peer.ask(begin).unwrap() {
        Response::BulkAccepted { transfer_id, .. } => transfer_id,
        other => return other,
    };
    for (i, chunk) in bytes.chunks(protocol::BULK_CHUNK).enumerate() {
        let w = Request::BulkWrite {
            transfer_id,
            offset: (i * protocol::BULK_CHUNK) as u32,
            data: protocol::bulk::chunk_data(chunk),
        };
        if let Some(n) = nack(&peer.ask(w).unwrap()) {
            panic!("write refused: {n:?}");
        }
    }
    peer.ask(Request::BulkCommit { transfer_id }).unwrap()
}

/// Reads an offered object whole.
fn pull(peer: &mut MemoryPeer, req: Request) -> Vec<u8> {
    let Response::BulkOffer {
        transfer_id,
        total_len,
        ..
    } = peer.ask(req).unwrap()
    else {
        panic!("expected an offer")
    };
    let mut out = Vec::new();
    while out.len() < total_len as usize {
        let r = Request::BulkRead {
            transfer_id,
            offset: out.len() as u32,
            len: protocol::BULK_CHUNK as u16,
        };
        match peer.ask(r).unwrap() {
            Response::BulkChunk { data, .. } => out.extend_from_slice(&data),
            other => panic!("expected a chunk, got {other:?}"),
        }
    }
    out
}

#[test]
fn secrets_are_never_sent_over_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&write_admin_file(dir.path()));
    // Through the gate (TCP) and on a trusted link (serial) alike.
    for mut peer in [authed(&d), connect(&d, AuthGate::trusted())] {
        assert_eq!(
            peer.ask(get("link.tcp.token")).unwrap(),
            Response::ConfigValue {
                key: protocol::text::truncate("link.tcp.token"),
                value: protocol::text::truncate("\"<redacted>\""),
            }
        );
        for spec in KEYS {
            let r = format!("{:?}", peer.ask(get(spec.key)).unwrap());
            assert!(!r.contains(TOKEN), "{}: {r}", spec.key);
        }
        let export = String::from_utf8(pull(&mut peer, Request::ConfigExport)).unwrap();
        assert!(!export.contains(TOKEN), "{export}");
        assert!(
            export.contains("link.tcp.token"),
            "the export says what it left out"
        );
        // Refusals do not echo it either, and an import cannot probe it (refused even when
        // it is right).
        let r = peer.ask(set("link.tcp.token", "\"x\"")).unwrap();
        assert!(!format!("{r:?}").contains(TOKEN));
        let r = upload(
            &mut peer,
            ObjectKind::Config,
            ObjectEncoding::TomlUtf8,
            format!("[link.tcp]\ntoken = \"{TOKEN}\"\n").as_bytes(),
        );
        assert_eq!(nack(&r).map(|n| n.0), Some(NackCode::DeviceLocal), "{r:?}");
    }
    d.shutdown();
}

#[test]
fn trust_anchors_and_paths_change_only_in_the_file_on_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&write_admin_file(dir.path()));
    let before = d.core().config();
    let mut peer = authed(&d);
    let evil = format!("\"{}\"", hex(&attacker_key()));
    for (key, value) in [
        ("firmware.public_key", evil.as_str()),
        ("firmware.slots_dir", "\"/tmp/evil-slots\""),
        ("link.tcp.token", "\"hijacked\""),
        ("link.tcp.listen", "\"0.0.0.0:7700\""),
        ("link.tcp.allow_unauthenticated", "true"),
        ("link.serial.require_token", "false"),
        ("pattern.store", "\"/etc/passwd\""),
        ("device.state_dir", "\"/tmp/evil\""),
        ("outputs.loopback", "\"/etc/shadow\""),
        ("outputs.snapshot_dir", "\"/etc\""),
        ("camera.path", "\"/root\""),
        ("gpio.led_pin", "4"),
        ("profile", "\"/etc/passwd\""),
        // What the device exposes: the metrics endpoint on every interface, an announcement.
        ("metrics.listen", "\"0.0.0.0:7701\""),
        ("discovery.enabled", "true"),
    ] {
        let r = peer.ask(set(key, value)).unwrap();
        let (code, detail) = nack(&r).unwrap_or_else(|| panic!("{key} accepted: {r:?}"));
        assert_eq!(code, NackCode::DeviceLocal, "{key}: {detail}");
        assert!(
            detail.starts_with(key) && detail.contains("config file on the device"),
            "{detail}"
        );
    }
    // An import may carry them only unchanged (an export does).
    let export = String::from_utf8(pull(&mut peer, Request::ConfigExport)).unwrap();
    let evil_import = export.replace(&hex(&device_key()), &hex(&attacker_key()));
    assert_ne!(evil_import, export);
    let r = upload(
        &mut peer,
        ObjectKind::Config,
        ObjectEncoding::TomlUtf8,
        evil_import.as_bytes(),
    );
    let (code, detail) = nack(&r).expect("refused");
    assert_eq!(code, NackCode::DeviceLocal);
    assert!(detail.starts_with("firmware.public_key"), "{detail}");
    assert_eq!(d.core().config(), before, "nothing changed");
    let r = upload(
        &mut peer,
        ObjectKind::Config,
        ObjectEncoding::TomlUtf8,
        export.as_bytes(),
    );
    assert_eq!(r, Response::Ack);
    d.shutdown();
}

#[test]
fn a_config_set_over_the_link_leaves_the_admins_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let admin = write_admin_file(dir.path());
    let admin_bytes = std::fs::read(&admin).unwrap();
    let d = start(&admin);
    let mut peer = authed(&d);
    let Response::ConfigChanged(c) = peer.ask(set("correction.offset", "77")).unwrap() else {
        panic!("expected a change")
    };
    assert_eq!(
        c,
        ConfigChange {
            key: protocol::text::truncate("correction.offset"),
            value: protocol::text::truncate("77"),
            apply: ConfigApply::Live,
            persisted: true,
        }
    );
    let Response::ConfigChanged(c) = peer.ask(set("camera.fps", "20")).unwrap() else {
        panic!("expected a change")
    };
    assert_eq!((c.apply, c.persisted), (ConfigApply::Restart, true));
    let export = String::from_utf8(pull(&mut peer, Request::ConfigExport)).unwrap();
    let r = upload(
        &mut peer,
        ObjectKind::Config,
        ObjectEncoding::TomlUtf8,
        export.replace("offset = 77", "offset = 78").as_bytes(),
    );
    assert_eq!(r, Response::Ack);
    assert_eq!(
        std::fs::read(&admin).unwrap(),
        admin_bytes,
        "admin's file rewritten"
    );
    let running = d.core().config();
    assert_eq!(running.correction.offset, 78, "live: in use at once");
    assert_eq!(running.camera.fps, 50.0, "restart: not before the restart");
    assert_eq!(
        running.device.board, "test-board",
        "the profile still applies"
    );
    let configured = d.core().config_store().configured();
    assert_eq!(configured.camera.fps, 20.0);
    let overrides = Overrides::read(&configured.overrides_path()).unwrap();
    assert_eq!(overrides.keys(), ["camera.fps", "correction.offset"]);
    d.shutdown();

    // After a restart all of the link's changes are in effect, over the same admin's file.
    let d = start(&admin);
    assert_eq!(*d.core().config(), configured);
    assert_eq!(std::fs::read(&admin).unwrap(), admin_bytes);
    d.shutdown();

    // The export is self-contained: imported on a device started from the admin's file alone,
    // it reproduces the same configuration.
    std::fs::remove_file(configured.overrides_path()).unwrap();
    let fresh = start(&admin);
    assert_eq!(fresh.core().config().correction.offset, 0);
    let export = export.replace("offset = 77", "offset = 78");
    let r = upload(
        &mut authed(&fresh),
        ObjectKind::Config,
        ObjectEncoding::TomlUtf8,
        export.as_bytes(),
    );
    assert_eq!(r, Response::Ack);
    assert_eq!(fresh.core().config_store().configured(), configured);
    fresh.shutdown();
}

#[test]
fn a_public_listen_address_needs_a_token_or_an_explicit_yes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EdgeConfig::default();
    cfg.camera.source = edge::config::SourceKind::Sim;
    cfg.camera.width = 32;
    cfg.camera.height = 24;
    cfg.fit.fit_on_start = false;
    cfg.pattern.store = dir.path().join("p.dnp");
    cfg.link.tcp.listen = Some("0.0.0.0:0".into());
    let e = Daemon::start(cfg.clone()).err().expect("refused");
    assert!(
        e.to_string().starts_with("link.tcp.listen: not loopback"),
        "{e}"
    );
    cfg.link.tcp.allow_unauthenticated = true;
    let d = Daemon::start(cfg).expect("explicitly allowed");
    assert!(d.local_tcp_addr().is_some());
    d.shutdown();
}

/// One thing a peer holding the token might try.
#[derive(Debug, Clone)]
enum Attempt {
    Set(&'static str, String),
    Import(String),
    Firmware(Image),
    PatternJunk,
    WrongAuth,
    Confirm,
    Abort,
    Export,
}

/// A firmware image the peer might send; none is signed by the configured key.
#[derive(Debug, Clone)]
enum Image {
    SignedByAttacker,
    DeviceSignedButTampered(usize),
    Truncated(usize),
    Junk(Vec<u8>),
}

fn image(which: &Image) -> Vec<u8> {
    let evil =
        formats::firmware::sign_image(b"#!/bin/sh\nevil\n", "6.6.6", &attacker_key()).unwrap();
    match which {
        Image::SignedByAttacker => evil,
        Image::DeviceSignedButTampered(at) => {
            let mut good =
                formats::firmware::sign_image(b"#!/bin/sh\ngood\n", "1.0.1", &device_key())
                    .unwrap();
            let i = at % good.len();
            good[i] ^= 0x20;
            good
        }
        Image::Truncated(n) => evil[..n % evil.len()].to_vec(),
        Image::Junk(bytes) => bytes.clone(),
    }
}

fn attempt() -> impl Strategy<Value = Attempt> {
    let evil_key = format!("\"{}\"", hex(&attacker_key()));
    let anchor_sets = prop_oneof![
        Just(("firmware.public_key", evil_key.clone())),
        Just(("firmware.slots_dir", "\"/tmp/elsewhere\"".to_string())),
        Just(("link.tcp.token", "\"mine\"".to_string())),
        Just(("device.state_dir", "\"/tmp/x\"".to_string())),
        Just(("firmware.confirm_timeout_s", "999999".to_string())),
        Just(("correction.offset", "5".to_string())),
        Just(("fit.preset", "\"thorough\"".to_string())),
    ];
    let imports = prop_oneof![
        Just(format!("[firmware]\npublic_key = {evil_key}\n")),
        Just("[firmware]\nslots_dir = \"/tmp/elsewhere\"\n".to_string()),
        Just("[link.tcp]\ntoken = \"mine\"\n".to_string()),
        Just("[firmware]\nconfirm_timeout_s = 1\n[correction]\noffset = 3\n".to_string()),
        Just("profile = \"/etc/passwd\"\n".to_string()),
        Just("[correction]\noffset = \"not a number\"\n".to_string()),
    ];
    let images = prop_oneof![
        Just(Image::SignedByAttacker),
        any::<usize>().prop_map(Image::DeviceSignedButTampered),
        any::<usize>().prop_map(Image::Truncated),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Image::Junk),
    ];
    prop_oneof![
        anchor_sets.prop_map(|(k, v)| Attempt::Set(k, v)),
        imports.prop_map(Attempt::Import),
        images.prop_map(Attempt::Firmware),
        Just(Attempt::PatternJunk),
        Just(Attempt::WrongAuth),
        Just(Attempt::Confirm),
        Just(Attempt::Abort),
        Just(Attempt::Export),
    ]
}

fn run(peer: &mut MemoryPeer, a: &Attempt) {
    let r = match a {
        Attempt::Set(k, v) => peer.ask(set(k, v)).unwrap(),
        Attempt::Import(text) => upload(
            peer,
            ObjectKind::Config,
            ObjectEncoding::TomlUtf8,
            text.as_bytes(),
        ),
        Attempt::Firmware(img) => upload(
            peer,
            ObjectKind::Firmware,
            ObjectEncoding::SignedImage,
            &image(img),
        ),
        Attempt::PatternJunk => upload(
            peer,
            ObjectKind::Pattern,
            ObjectEncoding::PatternFile,
            b"DIPNUCPT junk",
        ),
        Attempt::WrongAuth => peer.ask(auth("guess")).unwrap(),
        Attempt::Confirm => peer.ask(Request::FirmwareConfirm).unwrap(),
        Attempt::Abort => peer.ask(Request::CalibrateAbort).unwrap(),
        Attempt::Export => peer.ask(Request::ConfigExport).unwrap(),
    };
    if let Attempt::Firmware(_) = a {
        assert!(nack(&r).is_some(), "{a:?} accepted: {r:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn after_any_link_commands_unsigned_firmware_is_refused_and_the_running_one_serves(
        attempts in proptest::collection::vec(attempt(), 1..10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let d = start(&write_admin_file(dir.path()));
        let slots = Slots::open(&dir.path().join("firmware")).unwrap();
        let mut peer = authed(&d);
        for a in &attempts {
            run(&mut peer, a);
        }
        prop_assert_eq!(peer.ask(auth(TOKEN)).unwrap(), Response::Ack);
        let r = upload(
            &mut peer,
            ObjectKind::Firmware,
            ObjectEncoding::SignedImage,
            &image(&Image::SignedByAttacker),
        );
        prop_assert_eq!(nack(&r).map(|n| n.0), Some(NackCode::SignatureInvalid), "{:?}", r);
        // Nothing was installed or switched; the trust anchors are the admin's.
        let st = slots.state();
        prop_assert_eq!((st.active, st.pending), (0, None));
        prop_assert!(!slots.binary(1).exists());
        let cfg = d.core().config();
        prop_assert_eq!(cfg.firmware.public_key.clone(), Some(hex(&device_key())));
        prop_assert_eq!(cfg.firmware.slots_dir.clone(), Some(dir.path().join("firmware")));
        prop_assert_eq!(cfg.link.tcp.token.as_deref(), Some(TOKEN));
        prop_assert!(Overrides::read(&cfg.overrides_path()).is_ok());
        // And the running firmware keeps serving.
        prop_assert!(!d.core().stopping());
        prop_assert_eq!(peer.ask(Request::Ping).unwrap(), Response::Pong);
        d.shutdown();
    }
}
