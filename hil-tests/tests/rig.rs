//! Rig-only tests: the camera's power is cut and restored (the daemon must reconnect on its
//! own and keep serving), and the shutter flag gives a ground-truth flat field that the fitted
//! pattern must resemble. Without `DIPNUC_RIG` they print why they are skipped.

use std::time::{Duration, Instant};

use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use hil_tests::rig::RigGpio;
use protocol::SnapshotKind;

use crate::util::{calibrate, connect, start, workdir};

#[test]
fn camera_power_cycle_is_survived() {
    let Some(Board::Rig(rig)) = Board::for_test("rig_power_cycle", Needs::Rig) else {
        return;
    };
    let mut gpio = RigGpio::open(&rig.harness).expect("rig GPIO");
    let dir = workdir();
    let setup = EdgeSetup::for_board(&Board::Rig(rig.clone()), dir.path());
    let _edge = start(&setup);
    let mut dev = connect(&setup);
    let before = dev.telemetry().unwrap().frames_total;
    gpio.power_cycle();
    let deadline = Instant::now() + Duration::from_secs(rig.harness.camera_return_s);
    loop {
        let now = dev
            .telemetry()
            .expect("link stays up while the camera is away");
        if now.frames_total > before + 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "camera frames did not return after the power cycle"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn fitted_pattern_matches_the_shutter_flat_field() {
    let Some(Board::Rig(rig)) = Board::for_test("rig_flat_field", Needs::Rig) else {
        return;
    };
    let mut gpio = RigGpio::open(&rig.harness).expect("rig GPIO");
    let dir = workdir();
    let setup = EdgeSetup::for_board(&Board::Rig(rig.clone()), dir.path());
    let _edge = start(&setup);
    let mut dev = connect(&setup);
    gpio.shutter(true);
    let n = (setup.config.camera.width * setup.config.camera.height) as usize;
    let mut flat = vec![0f32; n];
    for _ in 0..8 {
        let s = dev.snapshot(SnapshotKind::Raw).unwrap().to_f32();
        flat.iter_mut().zip(s).for_each(|(a, b)| *a += b / 8.0);
        std::thread::sleep(Duration::from_millis(120));
    }
    gpio.shutter(false);
    let m = hil_tests::stats::mean(&flat);
    flat.iter_mut().for_each(|v| *v -= m);
    calibrate(&mut dev);
    let pattern = dev.snapshot(SnapshotKind::Pattern).unwrap().to_f32();
    let pm = hil_tests::stats::mean(&pattern);
    let (mut sxy, mut sxx, mut syy) = (0f64, 0f64, 0f64);
    for (x, y) in flat.iter().zip(&pattern) {
        let (x, y) = (f64::from(*x), f64::from(*y - pm));
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
    }
    let corr = sxy / (sxx.sqrt() * syy.sqrt()).max(1e-9);
    println!("correlation of the fitted pattern with the flat field: {corr:.3}");
    assert!(
        corr > 0.5,
        "fitted pattern does not resemble the ground truth (r = {corr:.3})"
    );
}
