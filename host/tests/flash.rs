//! Firmware: `dipnuc keygen`, signing with `flash --key`, images the device or the host must
//! refuse, and an upload that resumes after the link drops in the middle.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use edge::firmware::Slots;
use formats::firmware::parse_signing_key;
use host::client::{ConnectOptions, Device, FlashEvent, ResumePolicy, Target};

use crate::util::{TOKEN, TestDaemon, dipnuc, fails, json, ok};

/// A daemon with firmware slots and the public half of a fresh key; returns it and the secret
/// key file.
fn daemon_with_key() -> (TestDaemon, std::path::PathBuf, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let prefix = keys.path().join("release");
    let out = json(&ok(dipnuc().args([
        "keygen",
        "--out",
        prefix.to_str().unwrap(),
        "--json",
    ])));
    let public = out["public_key"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(prefix.with_extension("pub"))
            .unwrap()
            .trim(),
        public
    );
    let slots = keys.path().join("slots");
    let extra = format!(
        "[firmware]\npublic_key = {public:?}\nslots_dir = {:?}\n",
        slots.display().to_string()
    );
    let d = TestDaemon::start_with(Some(TOKEN), &extra);
    (d, prefix.with_extension("key"), keys)
}

fn payload(len: usize) -> Vec<u8> {
    let mut v = b"\x7fELF".to_vec();
    v.extend((0..len).map(|i| (i * 31 % 251) as u8));
    v
}

#[test]
fn keygen_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    ok(dipnuc().args(["keygen", "--out", prefix.to_str().unwrap()]));
    let err = fails(
        dipnuc().args(["keygen", "--out", prefix.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("exists"), "{err}");
    let secret = std::fs::read_to_string(prefix.with_extension("key")).unwrap();
    assert!(parse_signing_key(secret.trim()).is_ok());
}

#[test]
fn bad_images_are_refused_and_nothing_is_installed() {
    let (d, key, dir) = daemon_with_key();
    let exe = dir.path().join("dipnuc-edge");
    std::fs::write(&exe, payload(10_000)).unwrap();
    // Unsigned: refused on the host before anything is sent.
    let err = fails(&mut d.cmd(&["flash", exe.to_str().unwrap()]), 2);
    assert!(err.contains("not a signed"), "{err}");
    // Signed with another key: the device refuses the signature.
    let other = dir.path().join("other");
    ok(dipnuc().args(["keygen", "--out", other.to_str().unwrap()]));
    let err = fails(
        &mut d.cmd(&[
            "flash",
            exe.to_str().unwrap(),
            "--key",
            other.with_extension("key").to_str().unwrap(),
        ]),
        1,
    );
    assert!(err.contains("signature"), "{err}");
    // Correctly signed, then corrupted or truncated.
    let signed = dir.path().join("signed.dnfw");
    let k = key.to_str().unwrap();
    // (Signed and saved even when no device answers.)
    let r = fails(
        dipnuc().args([
            "flash",
            exe.to_str().unwrap(),
            "--key",
            k,
            "--save-signed",
            signed.to_str().unwrap(),
            "--tcp",
            "127.0.0.1:1",
        ]),
        3,
    );
    assert!(r.contains("127.0.0.1:1"), "{r}");
    let mut img = std::fs::read(&signed).unwrap();
    img[100] ^= 1;
    std::fs::write(&signed, &img).unwrap();
    let err = fails(&mut d.cmd(&["flash", signed.to_str().unwrap()]), 1);
    assert!(err.contains("signature"), "{err}");
    std::fs::write(&signed, &img[50..]).unwrap();
    let err = fails(&mut d.cmd(&["flash", signed.to_str().unwrap()]), 2);
    assert!(err.contains("truncated"), "{err}");
    // The device kept running the old firmware with nothing pending.
    let st = Slots::open(&dir.path().join("slots")).unwrap().state();
    assert_eq!(st.pending, None, "{st:?}");
    assert!(!d.handle.as_ref().unwrap().reboot_requested());
    ok(&mut d.cmd(&["status"]));
}

#[test]
fn signed_image_is_installed_and_the_device_restarts() {
    let (d, key, dir) = daemon_with_key();
    let exe = dir.path().join("dipnuc-edge");
    std::fs::write(&exe, payload(20_000)).unwrap();
    let out = json(&ok(&mut d.cmd(&[
        "flash",
        exe.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--image-version",
        "9.9.9",
        "--json",
    ])));
    assert_eq!(out["version"], "9.9.9");
    let slots = Slots::open(&dir.path().join("slots")).unwrap();
    let installed = std::fs::read(slots.binary(1)).unwrap();
    assert_eq!(installed, payload(20_000));
    // The daemon stops to be restarted into the new slot.
    let h = d.handle.as_ref().unwrap();
    let t = std::time::Instant::now();
    while !h.reboot_requested() {
        assert!(t.elapsed() < Duration::from_secs(5), "no restart requested");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP proxy that cuts the first connection after `cut_after` bytes from the client.
fn cutting_proxy(upstream: String, cut_after: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let first = c.fetch_add(1, Ordering::SeqCst) == 0;
            let server = TcpStream::connect(&upstream).unwrap();
            let cut = Arc::new(AtomicBool::new(false));
            let pipe = |mut from: TcpStream,
                        mut to: TcpStream,
                        limit: Option<usize>,
                        cut: Arc<AtomicBool>| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    let mut total = 0;
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        total += n;
                        if cut.load(Ordering::SeqCst) || limit.is_some_and(|l| total > l) {
                            cut.store(true, Ordering::SeqCst);
                            break;
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                });
            };
            let limit = first.then_some(cut_after);
            pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                limit,
                cut.clone(),
            );
            pipe(server, client, None, cut);
        }
    });
    (addr, conns)
}

#[test]
fn upload_resumes_after_the_link_drops() {
    let (d, key, _dir) = daemon_with_key();
    let k = parse_signing_key(std::fs::read_to_string(&key).unwrap().trim()).unwrap();
    let image = host::firmware_image::sign(&payload(60_000), "2.0.0", &k).unwrap();
    let (proxy, conns) = cutting_proxy(d.addr.clone(), 30_000);
    let opts = ConnectOptions::new(Target::Tcp(proxy)).with_token(TOKEN);
    let mut dev = Device::connect(&opts).unwrap();
    let mut events = Vec::new();
    let policy = ResumePolicy {
        backoff: Duration::from_millis(50),
        ..ResumePolicy::default()
    };
    dev.flash(&image, policy, |e| events.push(e)).unwrap();
    assert!(
        conns.load(Ordering::SeqCst) >= 2,
        "the proxy never cut the link"
    );
    let reconnect = events
        .iter()
        .position(|e| matches!(e, FlashEvent::Reconnecting { .. }))
        .expect("a reconnect happened");
    // After reconnecting the upload continued from where the device was, not from 0.
    let resumed_at = events[reconnect..]
        .iter()
        .find_map(|e| match e {
            FlashEvent::Sent { sent, .. } => Some(*sent),
            _ => None,
        })
        .unwrap();
    assert!(
        resumed_at > 0 && resumed_at < image.len() as u32,
        "resumed at {resumed_at}"
    );
    let slots = Slots::open(&_dir.path().join("slots")).unwrap();
    assert_eq!(std::fs::read(slots.binary(1)).unwrap(), payload(60_000));
}
