//! Killing a process while it saves patterns (kill -9, at several moments) never leaves a
//! broken pattern file: what is on disk afterwards is one of the complete patterns.
//!
//! The saving process is this test binary itself, run with `DIPNUC_SAVE_LOOP_DIR` set: the
//! `save_loop_child` test then saves in a loop until it is killed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use edge::pattern_cache::{load_pattern, save_pattern};
use formats::pattern::{PatternMeta, StoredPattern};

const W: u32 = 640;
const H: u32 = 512;

fn pattern(v: f32) -> StoredPattern {
    StoredPattern {
        width: W,
        height: H,
        data: (0..W * H).map(|i| v + (i % 7) as f32).collect(),
        meta: PatternMeta {
            method: format!("value {v}"),
            ..PatternMeta::default()
        },
    }
}

/// The child side: saves alternating patterns forever (only when started by the parent).
#[test]
fn save_loop_child() {
    let Some(dir) = std::env::var_os("DIPNUC_SAVE_LOOP_DIR") else {
        return;
    };
    let path = Path::new(&dir).join("pattern.dnp");
    let (a, b) = (pattern(1.0), pattern(2.0));
    save_pattern(&path, &a).unwrap();
    std::fs::write(Path::new(&dir).join("ready"), b"").unwrap();
    loop {
        save_pattern(&path, &b).unwrap();
        save_pattern(&path, &a).unwrap();
    }
}

#[test]
fn kill_during_save_leaves_a_complete_pattern() {
    let exe = std::env::current_exe().unwrap();
    for delay_ms in [5u64, 37, 120, 333] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "save_loop_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("DIPNUC_SAVE_LOOP_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ready = dir.path().join("ready");
        let mut waited = 0;
        while !ready.exists() {
            std::thread::sleep(Duration::from_millis(5));
            waited += 5;
            assert!(waited < 20_000, "child never became ready");
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let p = load_pattern(&dir.path().join("pattern.dnp"))
            .unwrap_or_else(|e| panic!("after kill at {delay_ms} ms: {e}"));
        assert!(
            p == pattern(1.0) || p == pattern(2.0),
            "after kill at {delay_ms} ms the pattern is neither complete version"
        );
    }
}
