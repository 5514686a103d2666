//! kill -9 at the worst moments: while the daemon saves a pushed pattern, and while it installs
//! a firmware image. After a restart it must come up with a valid pattern (the old one or the
//! new one, never a mix) and working firmware.

use std::sync::mpsc;
use std::time::Duration;

use formats::pattern::StoredPattern;
use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use hil_tests::edge_process::{EdgeProcess, Launch};
use host::client::{Device, ResumePolicy};

use crate::firmware::wrapper_image;
use crate::util::{connect, report, start, workdir};

#[test]
fn kill_during_pattern_save_leaves_a_valid_pattern() {
    let Some(board) = Board::for_test("crash_pattern_save", Needs::Any) else {
        return;
    };
    let dir = workdir();
    let setup = EdgeSetup::for_board(&board, dir.path());
    let (w, h) = (setup.config.camera.width, setup.config.camera.height);
    let mut edge = start(&setup);
    let mut current = StoredPattern {
        width: w,
        height: h,
        data: vec![3.0; (w * h) as usize],
        meta: Default::default(),
    };
    connect(&setup).pattern_push(&current).unwrap();
    let (mut kept_old, mut got_new) = (0u64, 0u64);
    for (round, delay_ms) in [0u64, 1, 2, 4, 8, 16].into_iter().enumerate() {
        let mut next = current.clone();
        next.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i % 5) as f32 + round as f32);
        let bytes = next.encode();
        let (tx, rx) = mpsc::channel();
        let opts = setup.tcp_options();
        let pusher = std::thread::spawn(move || {
            let mut dev = Device::connect(&opts).expect("connect");
            let total = bytes.len() as u32;
            let meta = protocol::ObjectMeta::opaque(protocol::ObjectEncoding::F32Le, "crash");
            let _ = dev.push(
                protocol::ObjectKind::Pattern,
                meta,
                &bytes,
                |sent, _| {
                    if sent >= total {
                        let _ = tx.send(());
                    }
                },
                |_, _| {},
            );
        });
        // Upload done: the commit (verify, install, save) is what the kill interrupts.
        let _ = rx.recv_timeout(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(delay_ms));
        edge.kill9();
        let _ = pusher.join();
        edge = start(&setup);
        let on_disk = std::fs::read(setup.pattern_store()).expect("pattern store exists");
        let stored =
            StoredPattern::decode(&on_disk).expect("stored pattern is valid after kill -9");
        let served = connect(&setup).pattern_pull().unwrap();
        assert_eq!(served.data, stored.data, "daemon serves what is stored");
        if stored.data == current.data {
            kept_old += 1;
        } else if stored.data == next.data {
            got_new += 1;
            current = next;
        } else {
            panic!("round {round}: stored pattern is neither the old nor the new one");
        }
    }
    report(
        "crash_pattern_save",
        &[("kills", 6), ("kept_old", kept_old), ("got_new", got_new)],
    );
}

#[test]
fn kill_during_firmware_install_leaves_working_firmware() {
    let Some(board) = Board::for_test("crash_firmware_install", Needs::Any) else {
        return;
    };
    let dir = workdir();
    let setup = EdgeSetup::for_board(&board, dir.path());
    let mut edge =
        EdgeProcess::start_as(&setup, Launch::Launcher).unwrap_or_else(|e| panic!("{e:#}"));
    let (mut old_kept, mut new_installed) = (0u64, 0u64);
    for (round, delay_ms) in [0u64, 3, 10, 30].into_iter().enumerate() {
        let version = format!("crash-{round}");
        // A 3 MB image: verifying and writing it takes long enough to be interrupted.
        let image = wrapper_image(&setup, &version, 3 << 20);
        let (tx, rx) = mpsc::channel();
        let opts = setup.tcp_options();
        let flasher = std::thread::spawn(move || {
            let mut dev = Device::connect(&opts).expect("connect");
            let total = image.len() as u32;
            let _ = dev.flash(
                &image,
                ResumePolicy {
                    attempts: 0,
                    ..ResumePolicy::default()
                },
                |ev| {
                    if let host::client::FlashEvent::Sent { sent, .. } = ev
                        && sent >= total
                    {
                        let _ = tx.send(());
                    }
                },
            );
        });
        let _ = rx.recv_timeout(Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(delay_ms));
        edge.kill9();
        let _ = flasher.join();
        // systemd restarts the service through the launcher; so do we.
        edge = EdgeProcess::start_as(&setup, Launch::Launcher)
            .unwrap_or_else(|e| panic!("round {round}: no working firmware after kill -9: {e:#}"));
        let mut dev = connect(&setup);
        let st = dev.firmware_status().expect("firmware status");
        dev.ping().expect("ping");
        if st.version.as_str() == version {
            new_installed += 1;
            // Running on trial from the new slot: it works, so confirm it.
            dev.firmware_confirm().expect("confirm");
        } else {
            old_kept += 1;
        }
        let state = std::fs::read(setup.slots_dir().join("state.json"));
        if let Ok(bytes) = state {
            serde_json_free_check(&bytes);
        }
    }
    report(
        "crash_firmware_install",
        &[
            ("kills", 4),
            ("old_firmware_kept", old_kept),
            ("new_firmware_installed", new_installed),
        ],
    );
}

/// The slot state file is whole JSON (written atomically).
fn serde_json_free_check(bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).expect("state.json is UTF-8");
    let t = text.trim();
    assert!(
        t.starts_with('{') && t.ends_with('}'),
        "state.json torn: {t}"
    );
}
