//! Load: several TCP clients poll telemetry and pull snapshots while the camera runs at its
//! full rate. No frame may be dropped because of the link (`frames_dropped` unchanged) and the
//! daemon's memory must stay bounded (VmRSS before and after).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use host::client::Device;
use protocol::SnapshotKind;

use crate::util::{connect, report, start, workdir};

#[test]
fn many_clients_polling_do_not_drop_frames() {
    let _alone = crate::util::exclusive();
    let Some(board) = Board::for_test("load", Needs::Any) else {
        return;
    };
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
    let t0 = mon.telemetry().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (requests, snapshots, bytes) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients = 4;
    let mut threads = Vec::new();
    for i in 0..clients {
        let opts = setup.tcp_options();
        let (stop, requests, snapshots, bytes) = (
            stop.clone(),
            requests.clone(),
            snapshots.clone(),
            bytes.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut dev = Device::connect(&opts).expect("client connect");
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
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
                k += 1;
            }
        }));
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    let elapsed = started.elapsed().as_secs_f32();
    let t1 = mon.telemetry().unwrap();
    let rss_after = edge.vm_rss_kib().expect("VmRSS");
    let frames = t1.frames_total - t0.frames_total;
    let expected = (elapsed * setup.config.camera.fps) as u64;
    report(
        "load",
        &[
            ("clients", clients as u64),
            ("requests", requests.load(Ordering::Relaxed)),
            ("snapshots", snapshots.load(Ordering::Relaxed)),
            ("snapshot_bytes", bytes.load(Ordering::Relaxed)),
            ("frames_captured", frames),
            ("frames_expected", expected),
            ("frames_dropped", t1.frames_dropped - t0.frames_dropped),
            ("rss_before_kib", rss_before),
            ("rss_after_kib", rss_after),
        ],
    );
    assert_eq!(
        t1.frames_dropped, t0.frames_dropped,
        "frames dropped under link load"
    );
    assert!(
        frames as f32 >= 0.85 * expected as f32,
        "capture fell behind: {frames} of {expected}"
    );
    assert!(
        snapshots.load(Ordering::Relaxed) >= clients as u64 * 5,
        "clients starved"
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory grew: {rss_before} -> {rss_after} KiB"
    );
}
