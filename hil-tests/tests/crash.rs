//! kill -9 at the worst moments: while the daemon saves a pushed pattern, and while it writes
//! a firmware image into its slot. Each kill is made the moment the write's temporary file is
//! opened or written to (inotify, not a guessed delay), and each must be seen to have landed
//! inside the write window: the temporary is still there afterwards, the rename that ends the
//! write never happened. After a restart the daemon must come up with the old pattern, whole,
//! and with working firmware (the old image, the new one never half-installed).

use std::time::Duration;

use formats::pattern::StoredPattern;
use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use hil_tests::edge_process::{EdgeProcess, Launch};
use hil_tests::write_window::{WritePhase, WriteWatch};
use host::client::{Device, ResumePolicy};

use crate::firmware::wrapper_image;
use crate::util::{connect, report, serial_guard, start, workdir};

/// Kills that may miss the window (the write finished between the wake-up and the kill) before
/// a round gives up; each miss is retried with a fresh write.
const TRIES_PER_KILL: u32 = 5;

/// The phases kills are made at, round by round.
const PHASES: [WritePhase; 2] = [WritePhase::Opened, WritePhase::Writing];

#[test]
fn kill_during_pattern_save_leaves_a_valid_pattern() {
    let Some(board) = Board::for_test("crash_pattern_save", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let setup = EdgeSetup::for_board(&board, dir.path());
    let (w, h) = (setup.config.camera.width, setup.config.camera.height);
    let mut edge = start(&setup);
    let current = StoredPattern {
        width: w,
        height: h,
        data: vec![3.0; (w * h) as usize],
        meta: Default::default(),
    };
    connect(&setup).pattern_push(&current).unwrap();
    let (mut kills, mut misses) = (0u64, 0u64);
    for (round, phase) in PHASES.into_iter().cycle().take(6).enumerate() {
        let mut next = current.clone();
        next.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i % 5) as f32 + round as f32);
        let mut landed = false;
        for _ in 0..TRIES_PER_KILL {
            let watch = WriteWatch::new(&[setup.pattern_store()]).unwrap();
            let opts = setup.tcp_options();
            let pushed = next.clone();
            let pusher = std::thread::spawn(move || {
                let _ = Device::connect(&opts).and_then(|mut d| d.pattern_push(&pushed));
            });
            // The commit (verify, install, save) is what the kill interrupts.
            let temporary = watch
                .wait(phase, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
            edge.kill9();
            let _ = pusher.join();
            landed = temporary.exists();
            edge = start(&setup);
            let on_disk = std::fs::read(setup.pattern_store()).expect("pattern store exists");
            let stored =
                StoredPattern::decode(&on_disk).expect("stored pattern is valid after kill -9");
            let served = connect(&setup).pattern_pull().unwrap();
            assert_eq!(served.data, stored.data, "daemon serves what is stored");
            if landed {
                // Killed before the rename: the old pattern, whole.
                assert_eq!(
                    stored.data, current.data,
                    "round {round} ({phase:?}): killed inside the write, yet not the old pattern"
                );
                kills += 1;
                break;
            }
            // The write finished before the kill: the new pattern, whole. Put the old one
            // back and try again.
            assert_eq!(
                stored.data, next.data,
                "round {round}: neither old nor new pattern"
            );
            misses += 1;
            connect(&setup).pattern_push(&current).unwrap();
        }
        assert!(
            landed,
            "round {round}: no kill landed inside the write window in {TRIES_PER_KILL} tries"
        );
    }
    report(
        "crash_pattern_save",
        &[
            ("kills_inside_the_write", kills),
            ("missed_and_retried", misses),
        ],
    );
}

#[test]
fn kill_during_firmware_install_leaves_working_firmware() {
    let Some(board) = Board::for_test("crash_firmware_install", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let setup = EdgeSetup::for_board(&board, dir.path());
    // The slot folders exist before the first install, so their writes can be watched.
    for slot in ["slot-a", "slot-b"] {
        std::fs::create_dir_all(setup.slots_dir().join(slot)).unwrap();
    }
    let mut edge =
        EdgeProcess::start_as(&setup, Launch::Launcher).unwrap_or_else(|e| panic!("{e:#}"));
    let (mut kills, mut misses) = (0u64, 0u64);
    let mut attempt = 0u32;
    for (round, phase) in PHASES.into_iter().cycle().take(4).enumerate() {
        let mut landed = false;
        for _ in 0..TRIES_PER_KILL {
            attempt += 1;
            let before = connect(&setup).firmware_status().expect("firmware status");
            let version = format!("crash-{attempt}");
            // A 3 MB image: verifying and writing it takes long enough to be interrupted.
            let image = wrapper_image(&setup, &version, 3 << 20);
            let slots = ["slot-a", "slot-b"].map(|s| setup.slots_dir().join(s).join("dipnuc-edge"));
            let watch = WriteWatch::new(&[&slots[0], &slots[1]]).unwrap();
            let opts = setup.tcp_options();
            let flasher = std::thread::spawn(move || {
                let _ = Device::connect(&opts).and_then(|mut dev| {
                    dev.flash(
                        &image,
                        ResumePolicy {
                            attempts: 0,
                            ..ResumePolicy::default()
                        },
                        |_| {},
                    )
                });
            });
            // Whichever slot is the inactive one is written.
            let temporary = watch
                .wait(phase, Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
            edge.kill9();
            let _ = flasher.join();
            landed = temporary.exists();
            // systemd restarts the service through the launcher; so do we.
            edge = EdgeProcess::start_as(&setup, Launch::Launcher).unwrap_or_else(|e| {
                panic!("round {round}: no working firmware after kill -9: {e:#}")
            });
            let mut dev = connect(&setup);
            let st = dev.firmware_status().expect("firmware status");
            dev.ping().expect("ping");
            if let Ok(bytes) = std::fs::read(setup.slots_dir().join("state.json")) {
                serde_json_free_check(&bytes);
            }
            if landed {
                assert_eq!(
                    st.version, before.version,
                    "round {round} ({phase:?}): killed inside the slot write, yet not the old firmware"
                );
                kills += 1;
                break;
            }
            // The write finished before the kill. Running on trial from the new slot, it
            // works: confirm it and try again.
            misses += 1;
            if st.version.as_str() == version {
                dev.firmware_confirm().expect("confirm");
            }
        }
        assert!(
            landed,
            "round {round}: no kill landed inside the slot write in {TRIES_PER_KILL} tries"
        );
    }
    report(
        "crash_firmware_install",
        &[
            ("kills_inside_the_write", kills),
            ("missed_and_retried", misses),
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
