//! Plumbing shared by the test modules.

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use edge::source::DRIVER_BUFFERS;
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

/// Mean roughness of `n` snapshots of `kind` (frames a few tens of ms apart), less the roughness of the simulator's clean scene of each frame
/// when `sim` is given (its textured scene is rough by itself; what a fit changes is the
/// excess the pattern adds).
pub fn mean_excess_roughness(
    dev: &mut Device,
    kind: SnapshotKind,
    n: usize,
    sim: Option<&edge::source::sim::SimModel>,
) -> f32 {
    let mut sum = 0.0;
    for _ in 0..n {
        let s: Snapshot = dev.snapshot(kind).expect("snapshot");
        sum += hil_tests::stats::roughness(&s).expect("16-bit snapshot");
        if let (Some(m), Some(seq)) = (sim, s.seq()) {
            let clean: Vec<u16> = m
                .clean(seq)
                .iter()
                .map(|v| v.round().clamp(0.0, 65535.0) as u16)
                .collect();
            sum -= edge::roughness::roughness_u16(&clean, s.width(), s.height());
        }
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

/// Held by every test that runs a daemon: they compete for the same two cores, and a test
/// that measures capture (drops, latency, watchdog silences) must not share them with
/// another daemon. The suite's other tests only read files.
pub fn serial_guard() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A test that failed while holding it leaves it poisoned; the next one may still run.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `done` until it holds; panics naming `what` after `timeout` (a hang, not a speed
/// limit: the timeouts are far above what the waits take).
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Frames the daemon captured and dropped over a stretch of time, from its telemetry at
/// either end.
#[derive(Debug, Clone, Copy)]
pub struct CaptureCount {
    pub frames: u64,
    pub dropped: u64,
    pub elapsed: Duration,
}

impl CaptureCount {
    /// Counts while `work` runs.
    pub fn during(dev: &mut Device, work: impl FnOnce()) -> CaptureCount {
        let t0 = dev.telemetry().expect("telemetry");
        let start = Instant::now();
        work();
        let elapsed = start.elapsed();
        let t1 = dev.telemetry().expect("telemetry");
        CaptureCount {
            frames: t1.frames_total - t0.frames_total,
            dropped: t1.frames_dropped - t0.frames_dropped,
            elapsed,
        }
    }

    /// Counts over `length` with nothing else on the link: the baseline of what this daemon
    /// drops on this machine as it is loaded right now.
    pub fn idle(dev: &mut Device, length: Duration) -> CaptureCount {
        CaptureCount::during(dev, || std::thread::sleep(length))
    }

    /// Counts on `dev` while `work` runs, and the baseline for it: on the [`Control`] daemon
    /// over the very same stretch where there is one (the machine's load then costs both
    /// alike), else on `dev` unloaded over a stretch of the same length right after.
    pub fn with_baseline(
        dev: &mut Device,
        control: Option<&mut Control>,
        work: impl FnOnce(),
    ) -> (CaptureCount, CaptureCount) {
        match control {
            Some(c) => {
                let c0 = c.dev.telemetry().expect("control telemetry");
                let loaded = CaptureCount::during(dev, work);
                let c1 = c.dev.telemetry().expect("control telemetry");
                let baseline = CaptureCount {
                    frames: c1.frames_total - c0.frames_total,
                    dropped: c1.frames_dropped - c0.frames_dropped,
                    elapsed: loaded.elapsed,
                };
                (loaded, baseline)
            }
            None => {
                let loaded = CaptureCount::during(dev, work);
                let baseline = CaptureCount::idle(dev, loaded.elapsed);
                (loaded, baseline)
            }
        }
    }
}

/// A second simulated daemon with the same camera, running beside the one under test with
/// nothing on its link: the baseline of a real-time check taken at the same time, so a
/// burst of load from the rest of the machine (a build restarting, another test binary)
/// shows in both counts, and only what the link costs shows in the difference. A rig has one
/// camera, so there it is `None` and the baseline is taken after the load instead.
pub struct Control {
    dev: Device,
    _edge: EdgeProcess,
    _dir: tempfile::TempDir,
}

impl Control {
    /// Starts the control beside `setup` (simulated board only).
    pub fn beside(board: &hil_tests::Board, setup: &EdgeSetup) -> Option<Control> {
        if !matches!(board, hil_tests::Board::Sim) {
            return None;
        }
        let dir = workdir();
        let mut twin = EdgeSetup::sim(dir.path());
        twin.config.camera = setup.config.camera.clone();
        twin.config.device.id = "hil-control".into();
        let edge = start(&twin);
        let dev = connect(&twin);
        Some(Control {
            dev,
            _edge: edge,
            _dir: dir,
        })
    }
}

/// Frames the link may be blamed for are those dropped beyond the unloaded baseline of the
/// same stretch (see [`CaptureCount::with_baseline`]): a busy machine (other builds, this test's own clients) stalls the capture
/// thread now and then in either stretch. The allowance is for that share varying between the
/// two stretches: a driver queue's worth of frames, or 1 % of the frames, whichever is more.
/// A link that blocks or starves capture costs frames on most requests, far beyond it.
pub fn assert_link_drops_no_worse(test: &str, loaded: &CaptureCount, baseline: &CaptureCount) {
    let allowance = u64::from(DRIVER_BUFFERS).max(loaded.frames / 100);
    assert!(
        loaded.dropped <= baseline.dropped + allowance,
        "{test}: {} of {} frames dropped under link load, {} of {} in the unloaded baseline \
         (allowance {allowance})",
        loaded.dropped,
        loaded.frames,
        baseline.dropped,
        baseline.frames
    );
}
