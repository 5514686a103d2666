//! Plumbing shared by the test modules.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hil_tests::{EdgeProcess, EdgeSetup};
use host::client::{CalibrateOptions, Device, FitEnd, Snapshot, fit_completed};
use protocol::SnapshotKind;

/// Held by the tests that measure real-time behaviour (frames dropped under link load and
/// faults) and by the tests that run many daemons at once, so the two never overlap: the
/// drop counts compare against zero on a machine that is not also running five daemons.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh work folder for one daemon.
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dipnuc-hil-")
        .tempdir()
        .expect("creating a temp folder")
}

/// Connects to the daemon over TCP.
pub fn connect(setup: &EdgeSetup) -> Device {
    Device::connect(&setup.tcp_options()).expect("connecting over TCP")
}

/// Starts a fit with the fast CPU method and waits for its end.
pub fn calibrate(dev: &mut Device) -> FitEnd {
    dev.subscribe_fit().expect("subscribing to fit topics");
    let fit_id = dev
        .calibrate_start(&CalibrateOptions {
            max_steps: 150,
            max_seconds: 20,
            ..CalibrateOptions::default()
        })
        .expect("fit/start");
    let never = AtomicBool::new(false);
    let end = dev
        .follow_fit(fit_id, Duration::from_secs(60), &never, |_| {})
        .expect("following the fit");
    assert!(fit_completed(&end), "fit did not complete: {end:?}");
    end
}

/// Mean roughness of `n` snapshots of `kind` (frames a few tens of ms apart).
pub fn mean_roughness(dev: &mut Device, kind: SnapshotKind, n: usize) -> f32 {
    let mut sum = 0.0;
    for _ in 0..n {
        let s: Snapshot = dev.snapshot(kind).expect("snapshot");
        sum += hil_tests::stats::roughness(&s).expect("16-bit snapshot");
        std::thread::sleep(Duration::from_millis(40));
    }
    sum / n as f32
}

/// Prints one line of counts for the test log.
pub fn report(test: &str, counts: &[(&str, u64)]) {
    let kv: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("hil-counts {test}: {}", kv.join(" "));
}

/// Starts a daemon for the setup, panicking with its log on failure.
pub fn start(setup: &EdgeSetup) -> EdgeProcess {
    EdgeProcess::start(setup).unwrap_or_else(|e| panic!("{e:#}"))
}
