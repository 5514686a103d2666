//! The replay source inside the daemon: wrong-size and truncated frames are logged and skipped
//! (counted as dropped) while good frames keep flowing; a folder that disappears is waited for
//! and replay resumes when it is back.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::Daemon;
use edge::stats::CameraState;

fn write_png(path: &Path, w: u32, h: u32, level: u16) {
    let data: Vec<u16> = (0..w * h).map(|i| level + (i % w) as u16).collect();
    edge::outputs::write_png16(path, w, h, &data).unwrap();
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_frames_are_skipped_and_a_vanished_folder_comes_back() {
    let root = tempfile::tempdir().unwrap();
    let frames = root.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 0..4 {
        write_png(&frames.join(format!("f{i}.png")), 32, 24, 1000 + i * 100);
    }
    write_png(&frames.join("f5-wrong-size.png"), 16, 24, 500);
    // A PNG cut in half.
    write_png(&frames.join("f6-truncated.png"), 32, 24, 700);
    let bytes = std::fs::read(frames.join("f6-truncated.png")).unwrap();
    std::fs::write(frames.join("f6-truncated.png"), &bytes[..bytes.len() / 2]).unwrap();

    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[camera]
source = "replay"
path = "{}"
width = 32
height = 24
fps = 200.0
[fit]
fit_on_start = false
[pattern]
store = "{}"
[watchdog]
capture_timeout_s = 0.5
reconnect_interval_s = 0.05
"#,
        frames.display(),
        root.path().join("p.dnp").display()
    ))
    .unwrap();
    let daemon = Daemon::start(cfg).unwrap();
    let stats = daemon.core().stats().clone();
    wait_until("good and bad frames", 20, || {
        stats.frames_total.load(Ordering::Relaxed) >= 8
            && stats.frames_dropped.load(Ordering::Relaxed) >= 2
    });
    let latest = daemon.core().latest_frame().unwrap();
    assert_eq!((latest.raw.width, latest.raw.height), (32, 24));

    // The folder goes away (card unmounted) ...
    let moved = root.path().join("moved");
    std::fs::rename(&frames, &moved).unwrap();
    wait_until("the disconnect to be noticed", 20, || {
        stats.capture_restarts.load(Ordering::Relaxed) >= 1 && stats.camera() == CameraState::Absent
    });
    // While it is gone no frame arrives: the time since the last one grows past several
    // reconnect attempts (a frame would reset it) and the count stands still.
    let during = stats.frames_total.load(Ordering::Relaxed);
    wait_until("time to pass without frames", 20, || {
        stats
            .since_last_frame()
            .is_some_and(|d| d >= Duration::from_millis(500))
    });
    assert_eq!(
        stats.frames_total.load(Ordering::Relaxed),
        during,
        "frames while the folder is gone"
    );
    assert_eq!(stats.camera(), CameraState::Absent);
    // ... and comes back.
    std::fs::rename(&moved, &frames).unwrap();
    wait_until("frames after the folder is back", 20, || {
        stats.frames_total.load(Ordering::Relaxed) >= during + 8
    });
    assert_eq!(stats.camera(), CameraState::Streaming);
    daemon.shutdown();
}
