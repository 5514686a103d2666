//! Firmware update over the link: unsigned, wrongly signed and truncated images are refused and
//! nothing is switched; a signed image is installed into the inactive slot and activated (the
//! daemon asks to be restarted); the new run is on trial, a confirm keeps it, and a run that
//! is not confirmed in time is rolled back.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use edge::config::EdgeConfig;
use edge::daemon::{Daemon, DaemonHandle};
use edge::firmware::Slots;
use formats::firmware::{hex_encode, sign_image};
use protocol::client::{CallError, Client};
use protocol::io::FramedStream;
use protocol::tracker::RetryPolicy;
use protocol::{
    Capabilities, Hello, NackCode, ObjectEncoding, ObjectKind, ObjectMeta, Request, Response,
};

fn start(dir: &Path, key: &SigningKey, confirm_timeout_s: u64) -> DaemonHandle {
    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[camera]
source = "sim"
width = 32
height = 24
fps = 30.0
[fit]
fit_on_start = false
[pattern]
store = "{}"
[link.tcp]
listen = "127.0.0.1:0"
[firmware]
public_key = "{}"
slots_dir = "{}"
confirm_timeout_s = {confirm_timeout_s}
"#,
        dir.join("p.dnp").display(),
        hex_encode(key.verifying_key().as_bytes()),
        dir.join("slots").display()
    ))
    .unwrap();
    Daemon::start(cfg).unwrap()
}

fn connect(d: &DaemonHandle) -> Client<TcpStream> {
    let s = TcpStream::connect(d.local_tcp_addr().unwrap()).unwrap();
    let mut c = Client::new(FramedStream::tcp(s).unwrap(), RetryPolicy::default());
    let peer = c
        .handshake(&Hello::new("fw-test", "0", Capabilities::NONE))
        .unwrap();
    assert!(peer.capabilities.contains(Capabilities::FIRMWARE_UPDATE));
    c
}

fn flash(c: &mut Client<TcpStream>, image: &[u8]) -> Result<(), CallError> {
    c.push(
        ObjectKind::Firmware,
        ObjectMeta::opaque(ObjectEncoding::SignedImage, "dipnuc-edge"),
        image,
        RetryPolicy {
            timeout: Duration::from_secs(10),
            retries: 0,
        },
        |_, _| {},
        |_, _| {},
    )
}

fn status(c: &mut Client<TcpStream>) -> protocol::FirmwareState {
    match c.call(Request::FirmwareStatus).unwrap() {
        Response::FirmwareState(s) => s,
        other => panic!("unexpected {other:?}"),
    }
}

fn wait_restart(d: &DaemonHandle) {
    let t = Instant::now();
    while !d.reboot_requested() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no restart requested"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn nack(e: CallError) -> NackCode {
    match e {
        CallError::Nack(n) => n.code,
        other => panic!("expected a Nack, got {other}"),
    }
}

#[test]
fn signed_update_trial_confirm_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let slots = Slots::open(&dir.path().join("slots")).unwrap();

    let d = start(dir.path(), &key, 60);
    let mut c = connect(&d);
    assert!(status(&mut c).confirmed);
    // Refused: no trailer, another key, cut short. Nothing is switched.
    assert_eq!(
        nack(flash(&mut c, b"just an ELF").unwrap_err()),
        NackCode::InvalidValue
    );
    let other = SigningKey::from_bytes(&[1u8; 32]);
    let foreign = sign_image(b"new binary v2", "2.0.0", &other).unwrap();
    assert_eq!(
        nack(flash(&mut c, &foreign).unwrap_err()),
        NackCode::SignatureInvalid
    );
    let good = sign_image(b"new binary v2", "2.0.0", &key).unwrap();
    assert_eq!(
        nack(flash(&mut c, &good[..good.len() - 10]).unwrap_err()),
        NackCode::InvalidValue
    );
    assert!(!d.reboot_requested());
    assert!(
        std::fs::read_link(slots.current_link()).is_err(),
        "switched on a bad image"
    );
    assert!(status(&mut c).last_error.is_some());

    // Accepted: installed into slot b, activated, restart requested.
    flash(&mut c, &good).unwrap();
    wait_restart(&d);
    d.shutdown();
    assert_eq!(std::fs::read(slots.binary(1)).unwrap(), b"new binary v2");
    assert_eq!(
        std::fs::read_link(slots.current_link()).unwrap().to_str(),
        Some("slot-b")
    );

    // The next run is on trial until confirmed.
    let d = start(dir.path(), &key, 60);
    let mut c = connect(&d);
    let s = status(&mut c);
    assert_eq!(
        (s.active_slot, s.confirmed, s.version.as_str()),
        (1, false, "2.0.0")
    );
    assert_eq!(c.call(Request::FirmwareConfirm).unwrap(), Response::Ack);
    assert!(status(&mut c).confirmed);

    // Another update that nobody confirms is rolled back after the timeout.
    let v3 = sign_image(b"new binary v3", "3.0.0", &key).unwrap();
    flash(&mut c, &v3).unwrap();
    wait_restart(&d);
    d.shutdown();
    assert_eq!(
        std::fs::read_link(slots.current_link()).unwrap().to_str(),
        Some("slot-a")
    );
    let d = start(dir.path(), &key, 1);
    wait_restart(&d);
    d.shutdown();
    let st = slots.state();
    assert_eq!(st.active, 1, "back on the confirmed slot b");
    assert_eq!(
        std::fs::read_link(slots.current_link()).unwrap().to_str(),
        Some("slot-b")
    );
    assert!(st.last_error.unwrap().contains("rolled back"));
}
