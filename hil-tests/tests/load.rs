//! Load: several TCP clients poll telemetry and pull snapshots while the camera runs at its
//! full rate. The link must not cost frames: the frames dropped under load are compared with
//! those the same daemon drops, unloaded, over a stretch of the same length right after
//! (what the busy machine costs shows in both). Memory must stay bounded (VmRSS before and
//! after).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use host::client::Device;
use protocol::SnapshotKind;

use crate::util::{
    CaptureCount, assert_link_drops_no_worse, connect, report, serial_guard, start, workdir,
};

/// Snapshots each client pulls: the load phase lasts until all have them (not a fixed time,
/// so a slow machine makes it longer, never a failure).
const SNAPSHOTS_PER_CLIENT: u64 = 12;

#[test]
fn many_clients_polling_do_not_drop_frames() {
    let Some(board) = Board::for_test("load", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let mut setup = EdgeSetup::for_board(&board, dir.path());
    if let Board::Sim = board {
        setup.config.camera.fps = 60.0;
    }
    let edge = start(&setup);
    let mut mon = connect(&setup);
    // Warm up: buffers and thread stacks reach their working size.
    for _ in 0..3 {
        mon.snapshot(SnapshotKind::Corrected).unwrap();
    }
    let rss_before = edge.vm_rss_kib().expect("VmRSS");
    let (requests, snapshots, bytes) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients = 4u64;
    let loaded = CaptureCount::during(&mut mon, || {
        let mut threads = Vec::new();
        for i in 0..clients {
            let opts = setup.tcp_options();
            let (requests, snapshots, bytes) = (requests.clone(), snapshots.clone(), bytes.clone());
            threads.push(std::thread::spawn(move || {
                let mut dev = Device::connect(&opts).expect("client connect");
                for k in 0..SNAPSHOTS_PER_CLIENT {
                    dev.telemetry().expect("telemetry under load");
                    requests.fetch_add(1, Ordering::Relaxed);
                    let kind = if (k + i).is_multiple_of(3) {
                        SnapshotKind::Raw
                    } else {
                        SnapshotKind::Corrected
                    };
                    let s = dev.snapshot(kind).expect("snapshot under load");
                    snapshots.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add((s.width() * s.height() * 2) as u64, Ordering::Relaxed);
                }
            }));
        }
        for t in threads {
            t.join().expect("client thread");
        }
    });
    let baseline = CaptureCount::idle(&mut mon, loaded.elapsed);
    let rss_after = edge.vm_rss_kib().expect("VmRSS");
    report(
        "load",
        &[
            ("clients", clients),
            ("requests", requests.load(Ordering::Relaxed)),
            ("snapshots", snapshots.load(Ordering::Relaxed)),
            ("snapshot_bytes", bytes.load(Ordering::Relaxed)),
            ("load_ms", loaded.elapsed.as_millis() as u64),
            ("frames_captured", loaded.frames),
            ("frames_dropped", loaded.dropped),
            ("baseline_frames", baseline.frames),
            ("baseline_dropped", baseline.dropped),
            ("rss_before_kib", rss_before),
            ("rss_after_kib", rss_after),
        ],
    );
    assert!(loaded.frames > 0, "no frames under load");
    assert!(
        snapshots.load(Ordering::Relaxed) >= clients * SNAPSHOTS_PER_CLIENT,
        "clients did not get their snapshots"
    );
    assert_link_drops_no_worse("load", &loaded, &baseline);
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory grew: {rss_before} -> {rss_after} KiB"
    );
}
