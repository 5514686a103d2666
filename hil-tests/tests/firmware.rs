//! Signed firmware update end to end, the way the service runs it: the daemon is started
//! through `boards/systemd/dipnuc-edge-launch` (which runs the active A/B slot), `dipnuc flash`'s
//! library call uploads through a faulty link, the daemon installs and exits 75, the launcher
//! starts the new slot on trial; a confirmed image stays, an unconfirmed one is rolled back;
//! corrupted, truncated and unsigned images are refused while the running firmware keeps going.

use std::time::Duration;

use hil_tests::board::{Board, Needs};
use hil_tests::edge_binary::edge_binary;
use hil_tests::edge_process::{EdgeProcess, Launch};
use hil_tests::{EdgeSetup, FaultPlan, FaultProxy};
use host::client::{Device, ResumePolicy};

use crate::util::{connect, report, serial_guard, workdir};

/// A signed image whose payload is an executable that runs the daemon under test (padded to
/// `size` bytes so transfers and installs take realistic time).
pub fn wrapper_image(setup: &EdgeSetup, version: &str, size: usize) -> Vec<u8> {
    let mut payload = format!(
        "#!/bin/sh\n# dipnuc-edge {version}\nexec '{}' \"$@\"\n",
        edge_binary().display()
    )
    .into_bytes();
    payload.push(b'#');
    while payload.len() < size {
        payload.push(b'x');
    }
    payload.push(b'\n');
    formats::firmware::sign_image(&payload, version, &setup.firmware_key).expect("signing")
}

fn launch(setup: &EdgeSetup) -> EdgeProcess {
    EdgeProcess::start_as(setup, Launch::Launcher).unwrap_or_else(|e| panic!("{e:#}"))
}

/// After an install (or a rollback) the daemon exits 75 to be restarted.
fn expect_restart_request(edge: &mut EdgeProcess) {
    let status = edge
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("daemon did not restart itself; log:\n{}", edge.log_tail(30)));
    assert_eq!(
        status.code(),
        Some(75),
        "exit status after a firmware switch"
    );
}

#[test]
fn flash_trial_confirm_and_rollback() {
    let Some(board) = Board::for_test("firmware_ab", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let mut setup = EdgeSetup::for_board(&board, dir.path());
    setup.config.firmware.confirm_timeout_s = 4;
    let mut edge = launch(&setup);
    let mut dev = connect(&setup);
    let st0 = dev.firmware_status().unwrap();
    assert_eq!(st0.pending_slot, None, "fresh slots: {st0:?}");

    // Refused images: the running firmware keeps running and nothing is switched.
    let good = wrapper_image(&setup, "2.0.0-hil", 256 << 10);
    let mut corrupted = good.clone();
    corrupted[1000] ^= 0x40;
    let truncated = good[..good.len() - 10].to_vec();
    let unsigned = b"#!/bin/sh\nexit 0\n".repeat(100);
    let mut refused = 0;
    for (what, img) in [
        ("corrupted", &corrupted),
        ("truncated", &truncated),
        ("unsigned", &unsigned),
    ] {
        let e = dev
            .flash(img, ResumePolicy::default(), |_| {})
            .expect_err(&format!("{what} image accepted"));
        println!("{what} image refused: {e}");
        refused += 1;
        dev.ping()
            .unwrap_or_else(|e| panic!("device gone after a {what} image: {e}"));
        assert!(edge.is_running());
        assert_eq!(dev.firmware_status().unwrap().active_slot, st0.active_slot);
    }

    // A good image through a link that corrupts and cuts: resumed, verified, installed.
    let proxy = FaultProxy::start(
        setup.tcp_addr().parse().unwrap(),
        0xF1A5,
        FaultPlan::noisy_with_cuts((20_000, 200_000), 3),
    )
    .unwrap();
    let mut via = Device::connect(&setup.tcp_options_via(&proxy.addr().to_string()))
        .or_else(|_| Device::connect(&setup.tcp_options_via(&proxy.addr().to_string())))
        .expect("connect through proxy");
    let mut resumes = 0u64;
    via.flash(
        &good,
        ResumePolicy {
            backoff: Duration::from_millis(100),
            ..ResumePolicy::default()
        },
        |ev| {
            if let host::client::FlashEvent::Reconnecting { .. } = ev {
                resumes += 1;
            }
        },
    )
    .expect("flash through a faulty link");
    expect_restart_request(&mut edge);
    let mut edge = launch(&setup);
    let mut dev = connect(&setup);
    let st = dev.firmware_status().unwrap();
    assert_eq!(st.version.as_str(), "2.0.0-hil");
    assert!(!st.confirmed, "new image must start on trial");
    assert_ne!(st.active_slot, st0.active_slot);
    dev.firmware_confirm().expect("confirm");
    assert!(dev.firmware_status().unwrap().confirmed);

    // A second image that is never confirmed: rolled back after the timeout.
    let v3 = wrapper_image(&setup, "3.0.0-hil", 64 << 10);
    dev.flash(&v3, ResumePolicy::default(), |_| {})
        .expect("flash v3");
    expect_restart_request(&mut edge);
    let mut edge = launch(&setup);
    assert_eq!(
        connect(&setup).firmware_status().unwrap().version.as_str(),
        "3.0.0-hil"
    );
    expect_restart_request(&mut edge); // the trial ran out
    let _edge = launch(&setup);
    let mut dev = connect(&setup);
    let st = dev.firmware_status().unwrap();
    assert_eq!(st.version.as_str(), "2.0.0-hil", "not rolled back: {st:?}");
    assert!(st.confirmed);
    let why = st
        .last_error
        .map(|e| e.as_str().to_string())
        .unwrap_or_default();
    assert!(why.contains("rolled back"), "last_error: {why}");
    let c = proxy.counts();
    report(
        "firmware_ab",
        &[
            ("images_refused", refused),
            ("flash_resumes", resumes),
            ("cuts", c.cuts),
            ("bytes_corrupted", c.bytes_corrupted),
            ("rollbacks", 1),
        ],
    );
}
