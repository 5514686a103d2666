//! The capture watchdog: a capture thread wedged inside its source (a driver call that never
//! returns) is retired and capture restarts on a freshly opened source; shutdown does not hang
//! on the wedged thread.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::{Daemon, DaemonOptions};
use edge::frame::RawFrame;
use edge::source::{FrameSource, SourceError, SourceInfo};

/// Delivers a few frames, then blocks forever in `next_frame`, ignoring its timeout.
struct WedgingSource {
    sent: u64,
}

impl FrameSource for WedgingSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: "wedging test source".into(),
            width: 32,
            height: 24,
            bit_depth: 14,
        }
    }

    fn next_frame(&mut self, _timeout: Duration) -> Result<Option<RawFrame>, SourceError> {
        if self.sent >= 5 {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        self.sent += 1;
        std::thread::sleep(Duration::from_millis(10));
        Ok(Some(RawFrame {
            seq: self.sent,
            timestamp: Instant::now(),
            width: 32,
            height: 24,
            data: vec![1000; 32 * 24],
            sensor_temp_c: None,
        }))
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

#[test]
fn wedged_capture_is_replaced_by_a_fresh_source() {
    let dir = tempfile::tempdir().unwrap();
    // The configured source (used for the restart) is the simulator, same size.
    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[camera]
source = "sim"
width = 32
height = 24
fps = 100.0
[fit]
fit_on_start = false
[pattern]
store = "{}"
[watchdog]
capture_timeout_s = 0.3
reconnect_interval_s = 0.05
"#,
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let daemon = Daemon::start_with(
        cfg,
        DaemonOptions {
            source: Some(Box::new(WedgingSource { sent: 0 })),
            ..DaemonOptions::default()
        },
    )
    .unwrap();
    let stats = daemon.core().stats().clone();
    let start = Instant::now();
    while stats.frames_total.load(Ordering::Relaxed) < 50 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "capture did not come back (frames {}, restarts {})",
            stats.frames_total.load(Ordering::Relaxed),
            stats.capture_restarts.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stats.capture_restarts.load(Ordering::Relaxed) >= 1);
    let t = Instant::now();
    daemon.shutdown();
    assert!(t.elapsed() < Duration::from_secs(10), "shutdown hung");
}
