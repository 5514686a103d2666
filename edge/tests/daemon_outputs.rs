//! Periodic snapshots: the daemon writes corrected frames as 16-bit PNGs into
//! `outputs.snapshot_dir` every `outputs.snapshot_interval_s`, keeping the newest
//! `outputs.snapshot_keep`.

use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::Daemon;

#[test]
fn corrected_frames_are_snapshotted_as_16_bit_png() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snaps");
    let cfg = EdgeConfig::from_toml_str(&format!(
        "[camera]\nsource = \"sim\"\nwidth = 40\nheight = 30\nfps = 50.0\n[fit]\nfit_on_start = false\n\
         [pattern]\nstore = \"{}\"\n[outputs]\nsnapshot_dir = \"{}\"\nsnapshot_interval_s = 1\nsnapshot_keep = 2\n",
        dir.path().join("p.dnp").display(),
        snaps.display()
    ))
    .unwrap();
    let daemon = Daemon::start(cfg).unwrap();
    let list = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&snaps)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "png"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let start = Instant::now();
    while list().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(15), "no snapshots");
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.shutdown();
    let files = list();
    assert!(files.len() <= 2, "{files:?}");
    let img = image::open(&files[0]).unwrap();
    assert_eq!((img.width(), img.height()), (40, 30));
    let px = img.into_luma16();
    assert!(px.pixels().any(|p| p.0[0] > 255), "16-bit values expected");
}
