//! Fault injection on the link: pattern pulls and pushes, snapshots and config exports go
//! through [`FaultProxy`] (corruption, loss, duplication, delays, cuts mid-transfer). Each
//! transfer either completes with a verified checksum — after reconnecting when the link was
//! cut — or fails with a typed error; a pushed pattern is applied whole or not at all; the
//! daemon keeps capturing throughout, dropping no more frames than a second, unloaded daemon
//! with the same camera over the same stretch.

use std::time::Duration;

use formats::pattern::StoredPattern;
use hil_tests::board::{Board, Needs};
use hil_tests::{EdgeSetup, FaultPlan, FaultProxy};
use host::client::{ClientError, Device};
use protocol::SnapshotKind;

use crate::util::{
    CaptureCount, Control, assert_link_drops_no_worse, connect, report, serial_guard, start,
    workdir,
};

const SEED: u64 = 0xD1_9C_0F_FA_17;

/// Runs `op`, reconnecting after link drops (at most 6 times).
fn with_reconnect<T>(
    dev: &mut Device,
    reconnects: &mut u64,
    mut op: impl FnMut(&mut Device) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let mut tries = 0;
    loop {
        match op(dev) {
            Err(e) if e.is_link_drop() && tries < 6 => {
                tries += 1;
                *reconnects += 1;
                std::thread::sleep(Duration::from_millis(50));
                // A reconnect can itself be cut or corrupted: keep trying within the budget.
                let mut r = dev.reconnect();
                while r.is_err() && tries < 6 {
                    tries += 1;
                    *reconnects += 1;
                    std::thread::sleep(Duration::from_millis(50));
                    r = dev.reconnect();
                }
                r?;
            }
            other => return other,
        }
    }
}

#[test]
fn transfers_complete_verified_or_fail_clearly_under_link_faults() {
    let _alone = crate::util::exclusive();
    let Some(board) = Board::for_test("link_faults", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let setup = EdgeSetup::for_board(&board, dir.path());
    let _edge = start(&setup);
    let mut control = Control::beside(&board, &setup);
    let mut direct = connect(&setup);
    let (w, h) = (setup.config.camera.width, setup.config.camera.height);
    let n = (w * h) as usize;
    let first = StoredPattern {
        width: w,
        height: h,
        data: (0..n).map(|i| (i % 13) as f32 - 6.0).collect(),
        meta: Default::default(),
    };
    direct.pattern_push(&first).expect("baseline push");

    let upstream = setup.tcp_addr().parse().unwrap();
    // Pattern files here are ~77 kB: cuts land inside transfers.
    let proxy = FaultProxy::start(
        upstream,
        SEED,
        FaultPlan::noisy_with_cuts((2_000, 120_000), 6),
    )
    .expect("proxy");
    let opts = setup.tcp_options_via(&proxy.addr().to_string());
    let mut dev = {
        let mut tries = 0;
        loop {
            match Device::connect(&opts) {
                Ok(d) => break d,
                Err(e) if tries < 10 => {
                    tries += 1;
                    println!("connect through proxy failed ({e}); retrying");
                }
                Err(e) => panic!("cannot connect through the proxy: {e}"),
            }
        }
    };

    // Capture is counted on a third connection, so neither the proxied client nor the direct
    // checks skew it.
    let mut mon = connect(&setup);
    let (mut completed, mut failed, mut reconnects) = (0u64, 0u64, 0u64);
    let mut applied = first.clone();
    let (loaded, baseline) = CaptureCount::with_baseline(&mut mon, control.as_mut(), || {
        let t_start = direct.telemetry().unwrap();
        for round in 0..12u32 {
            let kind = round % 4;
            let res: Result<(), ClientError> = match kind {
                0 => with_reconnect(&mut dev, &mut reconnects, |d| d.pattern_pull()).map(|p| {
                    // pattern_pull verified the file's checksum; it is what the device applies.
                    assert_eq!(
                        p.data, applied.data,
                        "pulled pattern differs from the applied one"
                    );
                }),
                1 => {
                    let mut next = applied.clone();
                    next.data.iter_mut().for_each(|v| *v = -*v + round as f32);
                    let r = with_reconnect(&mut dev, &mut reconnects, |d| d.pattern_push(&next));
                    // Whatever happened on the link, the device holds one whole pattern.
                    let now = direct.pattern_pull().unwrap();
                    if r.is_ok() {
                        assert_eq!(now.data, next.data, "completed push not applied");
                        applied = next;
                    } else {
                        assert!(
                            now.data == applied.data || now.data == next.data,
                            "half a pattern applied"
                        );
                        applied = now;
                    }
                    r
                }
                2 => with_reconnect(&mut dev, &mut reconnects, |d| {
                    d.snapshot(SnapshotKind::Corrected)
                })
                .map(|s| assert_eq!(s.width() * s.height(), n, "snapshot size")),
                _ => with_reconnect(&mut dev, &mut reconnects, |d| d.config_export()).map(|text| {
                    text.parse::<toml::Table>()
                        .expect("exported config is whole TOML");
                }),
            };
            match res {
                Ok(()) => completed += 1,
                // A failure comes back as a typed error (not a panic, not wrong data: those
                // are checked above), which is the point of this test.
                Err(e) => {
                    println!("transfer {round} failed cleanly: {e}");
                    failed += 1;
                }
            }
            // Capture never stops for the link.
            let t = direct.telemetry().expect("direct telemetry");
            assert!(t.frames_total > t_start.frames_total || round == 0);
        }
    });
    let c = proxy.counts();
    println!("fault proxy: {c}");
    report(
        "link_faults",
        &[
            ("seed", SEED),
            ("bytes_corrupted", c.bytes_corrupted),
            ("bytes_dropped", c.bytes_dropped),
            ("bytes_duplicated", c.bytes_duplicated),
            ("delays", c.delays),
            ("cuts", c.cuts),
            ("reconnects", reconnects),
            ("transfers_completed", completed),
            ("transfers_failed", failed),
            ("faults_ms", loaded.elapsed.as_millis() as u64),
            ("frames_captured", loaded.frames),
            ("frames_dropped", loaded.dropped),
            ("baseline_frames", baseline.frames),
            ("baseline_dropped", baseline.dropped),
        ],
    );
    assert!(
        c.bytes_corrupted + c.bytes_dropped + c.bytes_duplicated > 0,
        "no faults injected"
    );
    assert!(c.cuts > 0, "no link cut happened");
    assert!(
        completed >= 9,
        "too few transfers got through: {completed} of 12"
    );
    assert!(loaded.frames > 0, "no frames during the link faults");
    assert_link_drops_no_worse("link_faults", &loaded, &baseline);
}
