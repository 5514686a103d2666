//! An unplugged camera never takes the service down. The daemon runs as systemd runs it
//! (`NOTIFY_SOCKET`, `WATCHDOG_USEC`), with the watchdog and restart settings read from the
//! packaged unit file, in time accelerated by [`TIME_SCALE`]: the unit's durations and the
//! daemon's own (capture stall and reconnect timing) are all divided by it. Its camera, a
//! replay folder, vanishes for longer than a daemon killed by the watchdog at every start
//! takes to exhaust `StartLimitBurst` ((WatchdogSec + RestartSec) × StartLimitBurst, beyond
//! WatchdogSec × StartLimitBurst). Throughout, the watchdog must never go unfed for
//! WatchdogSec (no kill, so no restart, so the unit never fails), the link must answer with
//! "camera absent" and a growing time since the last frame (telemetry and heartbeat), and
//! capture must come back by itself when the folder returns.

use std::time::{Duration, Instant};

use engine::imageio::{BitDepth, GrayImage, save_gray};
use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use hil_tests::edge_process::EdgeProcess;
use hil_tests::service_manager::{NotifySocket, UnitSettings, judge_watchdog};
use host::client::Topics;
use protocol::{CameraState, Topic};

use crate::util::{connect, report, serial_guard, wait_until, workdir};

/// Every duration is divided by this: the unit's WatchdogSec=10 becomes 2 s, so a ping may
/// still be held up by 1.5 s on a busy machine, as by 7.5 s on a board, before it counts.
const TIME_SCALE: u32 = 5;

#[test]
fn camera_gone_longer_than_the_restart_budget_keeps_the_service_up() {
    let Some(_board) = Board::for_test("unplug", Needs::Sim) else {
        return;
    };
    let _serial = serial_guard();
    let unit = UnitSettings::packaged().expect("the packaged unit file");
    let fast = unit.scaled(TIME_SCALE);
    let dir = workdir();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let mut setup = EdgeSetup::sim(dir.path());
    let (w, h) = (
        setup.config.camera.width as usize,
        setup.config.camera.height as usize,
    );
    for i in 0..4 {
        let level = 4000.0 + 500.0 * i as f32;
        let data: Vec<f32> = (0..w * h).map(|p| level + (p % w) as f32).collect();
        save_gray(
            &frames.join(format!("{i}.png")),
            &GrayImage::from_f32(w, h, BitDepth::Sixteen, &data),
        )
        .unwrap();
    }
    let c = &mut setup.config;
    c.camera.source = edge::config::SourceKind::Replay;
    c.camera.path = Some(frames.clone());
    c.camera.replay_loop = true;
    // The daemon's own timing as packaged (the defaults boards/edge.toml keeps), accelerated.
    let packaged = edge::config::EdgeConfig::default().watchdog;
    c.watchdog.capture_timeout_s = packaged.capture_timeout_s / TIME_SCALE as f32;
    c.watchdog.reconnect_interval_s = packaged.reconnect_interval_s / TIME_SCALE as f32;

    let notify = NotifySocket::bind(dir.path()).unwrap();
    let mut edge = EdgeProcess::start_supervised(&setup, &notify, fast.watchdog)
        .unwrap_or_else(|e| panic!("{e:#}"));
    notify
        .wait_for(Duration::from_secs(20), |n| n.has("READY", "1"))
        .expect("READY=1");
    let mut dev = connect(&setup);
    wait_until(
        "frames from the replay camera",
        Duration::from_secs(20),
        || {
            let t = dev.telemetry().unwrap();
            t.camera == CameraState::Streaming && t.frames_total > 0
        },
    );

    // Unplug: the folder goes away.
    let away = dir.path().join("frames-unplugged");
    std::fs::rename(&frames, &away).unwrap();
    let unplugged = Instant::now();
    wait_until(
        "telemetry to say the camera is absent",
        Duration::from_secs(20),
        || dev.telemetry().unwrap().camera == CameraState::Absent,
    );
    notify
        .wait_for(Duration::from_secs(20), |n| {
            n.get("STATUS").is_some_and(|s| s.contains("camera absent"))
        })
        .expect("systemd status line says the camera is absent");
    let mut hb = connect(&setup);
    hb.subscribe(Topics {
        heartbeat: true,
        ..Topics::default()
    })
    .unwrap();
    // Hold the camera out for the whole restart budget, asking the daemon as we go.
    let absence = unit.time_to_fail_when_never_fed() / TIME_SCALE + fast.watchdog;
    assert!(absence > fast.watchdog * unit.start_limit_burst);
    let (mut asked, mut last_age, mut heartbeats_absent) = (0u64, 0u64, 0u64);
    while unplugged.elapsed() < absence {
        let t = dev
            .telemetry()
            .expect("the link answers while the camera is away");
        assert_eq!(t.camera, CameraState::Absent);
        let age = t
            .since_last_frame_ms
            .expect("a frame was seen before the unplug");
        assert!(
            age >= last_age,
            "time since the last frame went back: {last_age} -> {age}"
        );
        last_age = age;
        asked += 1;
        // The heartbeat says the same (it arrives at 1 Hz; this also paces the loop).
        if let Some(Topic::Heartbeat(b)) = hb.next_topic(Duration::from_millis(1500)).unwrap() {
            assert_eq!(b.camera, CameraState::Absent);
            assert!(b.since_last_frame_ms.is_some());
            heartbeats_absent += 1;
        }
    }
    // The daemon saw the camera gone for the whole budget, not only the test.
    assert!(
        Duration::from_millis(last_age) + fast.watchdog >= absence,
        "daemon reports {last_age} ms without frames, the camera was away {absence:?}"
    );
    assert!(
        edge.is_running(),
        "the daemon exited while the camera was away"
    );

    // Plug back in: capture resumes on its own, in the same process.
    let before = dev.telemetry().unwrap();
    std::fs::rename(&away, &frames).unwrap();
    let replugged = Instant::now();
    wait_until("capture to come back", Duration::from_secs(20), || {
        let t = dev.telemetry().unwrap();
        t.camera == CameraState::Streaming && t.frames_total > before.frames_total
    });
    let after = dev.telemetry().unwrap();
    assert!(after.uptime_ms >= before.uptime_ms, "the daemon restarted");
    assert!(after.since_last_frame_ms.is_some_and(|ms| ms < last_age));

    let verdict = judge_watchdog(&notify.notices(), &fast, Instant::now());
    let ms_from_unplug = |t: Instant| match t.checked_duration_since(unplugged) {
        Some(d) => d.as_millis() as i64,
        None => -(unplugged.duration_since(t).as_millis() as i64),
    };
    if let Some(t) = verdict.longest_silence_from {
        println!(
            "longest silence: {:?} from {} ms after the unplug (the camera was back at {} ms)",
            verdict.longest_silence,
            ms_from_unplug(t),
            ms_from_unplug(replugged)
        );
    }
    report(
        "unplug",
        &[
            ("time_scale", u64::from(TIME_SCALE)),
            ("watchdog_ms", fast.watchdog.as_millis() as u64),
            ("absence_ms", absence.as_millis() as u64),
            ("daemon_saw_no_frames_ms", last_age),
            ("telemetry_reads", asked),
            ("heartbeats_absent", heartbeats_absent),
            ("watchdog_pings", verdict.pings as u64),
            (
                "longest_silence_ms",
                verdict.longest_silence.as_millis() as u64,
            ),
            ("watchdog_expiries", verdict.expiries as u64),
            ("restarts_systemd_would_make", u64::from(verdict.restarts)),
            ("unit_failed", u64::from(verdict.unit_failed)),
        ],
    );
    assert!(
        heartbeats_absent > 0,
        "no heartbeat while the camera was away"
    );
    assert_eq!(
        (verdict.expiries, verdict.unit_failed),
        (0, false),
        "systemd would have killed the daemon {} times{} (longest silence {:?}, WatchdogSec \
         {:?} scaled)",
        verdict.restarts,
        if verdict.unit_failed {
            " and failed the unit"
        } else {
            ""
        },
        verdict.longest_silence,
        fast.watchdog
    );
    edge.terminate(Duration::from_secs(10)).unwrap();
}
