//! Every device subcommand, run as the real `dipnuc` binary against a real daemon over TCP.

use std::process::Stdio;
use std::time::{Duration, Instant};

use formats::pattern::StoredPattern;

use crate::util::{TestDaemon, fails, json, ok, run};

#[test]
fn info_and_status_read_the_device() {
    let d = TestDaemon::start();
    let info = json(&ok(&mut d.cmd(&["info", "--json"])));
    assert_eq!(info["device_id"], "test-sim");
    assert_eq!(info["width"], 160);
    assert!(
        info["capability_names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "simulated-camera")
    );
    let status = json(&ok(&mut d.cmd(&["status", "--json"])));
    assert!(
        status["telemetry"]["frames_total"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert_eq!(status["fit"]["state"], "Idle");
    // Frames flowed (frames_total > 0), so the camera is streaming and was just seen.
    assert_eq!(status["telemetry"]["camera"], "Streaming", "{status}");
    assert!(
        status["telemetry"]["since_last_frame_ms"].is_u64(),
        "{status}"
    );
    let text = ok(&mut d.cmd(&["status"]));
    assert!(text.contains("fps") && text.contains("test-sim"), "{text}");
    assert!(
        text.contains("camera") && text.contains("streaming"),
        "{text}"
    );
}

#[test]
fn config_get_set_and_refusal_names_the_key() {
    let d = TestDaemon::start();
    assert_eq!(
        ok(&mut d.cmd(&["config", "get", "fit.method"])).trim(),
        "\"cp-tv\""
    );
    let set = json(&ok(&mut d.cmd(&[
        "config",
        "set",
        "correction.offset",
        "120",
        "--json",
    ])));
    assert_eq!(set["value"], "120");
    assert_eq!(set["applies"], "live");
    assert_eq!(set["persisted"], true);
    let out = ok(&mut d.cmd(&["config", "set", "camera.fps", "25"]));
    assert!(
        out.contains("after a restart") && out.contains("saved"),
        "{out}"
    );
    // Trust anchors and secrets stay on the device.
    let err = fails(
        &mut d.cmd(&["config", "set", "firmware.public_key", &"00".repeat(32)]),
        1,
    );
    assert!(err.contains("config file on the device"), "{err}");
    assert_eq!(
        ok(&mut d.cmd(&["config", "get", "link.tcp.token"])).trim(),
        "\"<redacted>\""
    );
    assert_eq!(
        ok(&mut d.cmd(&["config", "get", "correction.offset"])).trim(),
        "120"
    );
    // A bare word becomes a TOML string, and the device validates it.
    ok(&mut d.cmd(&["config", "set", "fit.method", "colmean"]));
    let err = fails(
        &mut d.cmd(&["config", "set", "correction.offset", "lots"]),
        1,
    );
    assert!(
        err.contains("correction.offset") && err.contains("invalid value"),
        "{err}"
    );
    let err = fails(&mut d.cmd(&["config", "get", "no.such.key"]), 1);
    assert!(err.contains("no.such.key"), "{err}");
}

#[test]
fn config_export_then_import() {
    let d = TestDaemon::start();
    let file = d.path("exported.toml");
    ok(&mut d.cmd(&["config", "export", file.to_str().unwrap()]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("[camera]"), "{text}");
    let changed = text.replace("offset = 0", "offset = 77");
    assert_ne!(changed, text, "export has correction.offset = 0");
    std::fs::write(&file, changed).unwrap();
    ok(&mut d.cmd(&["config", "import", file.to_str().unwrap()]));
    assert_eq!(
        ok(&mut d.cmd(&["config", "get", "correction.offset"])).trim(),
        "77"
    );
    // A broken file is refused as a whole, naming the problem; nothing changes.
    std::fs::write(&file, "[correction]\noffset = \"x\"\n").unwrap();
    let err = fails(&mut d.cmd(&["config", "import", file.to_str().unwrap()]), 1);
    assert!(err.contains("offset"), "{err}");
    assert_eq!(
        ok(&mut d.cmd(&["config", "get", "correction.offset"])).trim(),
        "77"
    );
    let err = fails(&mut d.cmd(&["config", "import", "/nonexistent.toml"]), 2);
    assert!(err.contains("/nonexistent.toml"), "{err}");
}

#[test]
fn calibrate_waits_for_the_fit_and_reports_it() {
    let d = TestDaemon::start();
    let out = json(&ok(&mut d.cmd(&[
        "calibrate",
        "--wait",
        "--json",
        "--max-seconds",
        "20",
    ])));
    assert_eq!(out["outcome"], "completed", "{out}");
    assert!(out["steps"].as_u64().unwrap() > 0);
    let status = json(&ok(&mut d.cmd(&["status", "--json"])));
    assert_eq!(
        status["telemetry"]["last_fit"]["method"], "cp-tv",
        "{status}"
    );
    let err = fails(&mut d.cmd(&["calibrate", "--preset", "no-such-preset"]), 1);
    assert!(err.contains("no-such-preset"), "{err}");
    // Without --wait it only starts the fit.
    let started = json(&ok(&mut d.cmd(&["calibrate", "--json"])));
    assert_eq!(started["outcome"], "started");
}

#[test]
fn ctrl_c_aborts_the_fit_on_the_device() {
    // A slow fit (TV-DIP on the CPU with many steps) so there is time to interrupt it.
    let d = TestDaemon::start_with(Some(crate::util::TOKEN), "");
    for (k, v) in [
        ("fit.method", "tv-dip"),
        ("fit.cpu_method", "tv-dip"),
        ("fit.preset", "paper"),
    ] {
        ok(&mut d.cmd(&["config", "set", k, v]));
    }
    let child = d
        .cmd(&["calibrate", "--wait", "--max-seconds", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut dev = d.device();
    let start = Instant::now();
    loop {
        let s = dev.calibrate_status().unwrap();
        if s.state == protocol::FitState::Running && s.step > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "fit never ran: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert!(stderr.contains("aborted"), "{stderr}");
    // The device is idle again and applied no pattern from the aborted fit.
    let start = Instant::now();
    loop {
        let s = dev.calibrate_status().unwrap();
        if s.state == protocol::FitState::Idle {
            assert!(s.last.is_none(), "{s:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still busy: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn telemetry_once_follow_and_csv() {
    let d = TestDaemon::start();
    let one = json(&ok(&mut d.cmd(&["telemetry", "--json"])));
    assert!(one["fps"].as_f64().is_some(), "{one}");
    let csv = d.path("t.csv");
    let out = ok(&mut d.cmd(&[
        "telemetry",
        "--follow",
        "--count",
        "2",
        "--csv",
        csv.to_str().unwrap(),
    ]));
    assert!(out.contains("FPS"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("uptime_ms,fps,"));
    assert_eq!(lines[1].split(',').count(), lines[0].split(',').count());
    let jl = ok(&mut d.cmd(&["telemetry", "--follow", "--count", "2", "--json"]));
    assert_eq!(
        jl.lines().filter(|l| json(l)["uptime_ms"].is_u64()).count(),
        2,
        "{jl}"
    );
}

#[test]
fn logs_follow_prints_device_log_lines() {
    let d = TestDaemon::start();
    let child = d
        .cmd(&[
            "logs", "--follow", "--count", "1", "--json", "--level", "info",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Something that logs at info level on the device, a few times until the CLI listens.
    let mut dev = d.device();
    let start = Instant::now();
    let mut child = child;
    loop {
        dev.config_set("correction.offset", "5").unwrap();
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no log line arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = json(String::from_utf8_lossy(&out.stdout).lines().next().unwrap());
    assert!(
        line["message"].is_string() && line["level"].is_string(),
        "{line}"
    );
}

#[test]
fn snapshots_are_16_bit_images_with_previews() {
    let d = TestDaemon::start();
    d.fit();
    for (kind, name) in [
        ("raw", "raw.png"),
        ("corrected", "c.tiff"),
        ("pattern", "p.png"),
    ] {
        let out = d.path(name);
        let meta = json(&ok(&mut d.cmd(&[
            "snapshot",
            "--kind",
            kind,
            "--out",
            out.to_str().unwrap(),
            "--preview",
            "--json",
        ])));
        assert_eq!(meta["width"], 160);
        let img = image::open(&out).unwrap();
        assert_eq!(img.color(), image::ColorType::L16, "{name}");
        assert_eq!((img.width(), img.height()), (160, 120));
        let preview = image::open(meta["preview"].as_str().unwrap()).unwrap();
        assert_eq!(preview.color(), image::ColorType::Rgb8);
    }
    let err = fails(
        &mut d.cmd(&["snapshot", "--kind", "raw", "--out", "x.bmp"]),
        2,
    );
    assert!(err.contains(".png"), "{err}");
}

#[test]
fn pattern_pull_then_push_and_wrong_size_refused() {
    let d = TestDaemon::start();
    let err = fails(
        &mut d.cmd(&["pattern", "pull", d.path("none.dnp").to_str().unwrap()]),
        1,
    );
    assert!(err.contains("no pattern"), "{err}");
    d.fit();
    let file = d.path("p.dnp");
    ok(&mut d.cmd(&["pattern", "pull", file.to_str().unwrap()]));
    let mut p = StoredPattern::decode(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!((p.width, p.height), (160, 120));
    // Push a recognisable pattern and read it back.
    p.data.iter_mut().for_each(|v| *v = 3.0);
    std::fs::write(&file, p.encode()).unwrap();
    ok(&mut d.cmd(&["pattern", "push", file.to_str().unwrap()]));
    let back = d.path("back.dnp");
    ok(&mut d.cmd(&["pattern", "pull", back.to_str().unwrap()]));
    let q = StoredPattern::decode(&std::fs::read(&back).unwrap()).unwrap();
    assert!(q.data.iter().all(|&v| v == 3.0));
    // Wrong size: refused before sending; corrupt file: refused locally.
    let small = StoredPattern {
        width: 8,
        height: 8,
        data: vec![0.0; 64],
        meta: p.meta.clone(),
    };
    std::fs::write(&file, small.encode()).unwrap();
    let err = fails(&mut d.cmd(&["pattern", "push", file.to_str().unwrap()]), 2);
    assert!(err.contains("8x8") && err.contains("160x120"), "{err}");
    let mut bytes = p.encode();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let err = fails(&mut d.cmd(&["pattern", "push", file.to_str().unwrap()]), 2);
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn ports_lists_without_error() {
    let r = run(crate::util::dipnuc().args(["ports", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(json(&r.stdout).is_array());
}

#[test]
fn help_has_examples_and_exit_codes() {
    let out = ok(crate::util::dipnuc().arg("--help"));
    assert!(
        out.contains("Examples:") && out.contains("Exit codes:"),
        "{out}"
    );
    for sub in ["calibrate", "snapshot", "flash", "telemetry", "demo"] {
        let out = ok(crate::util::dipnuc().args([sub, "--help"]));
        assert!(out.contains("Examples:"), "{sub}: {out}");
    }
}
