//! Fleets: `dipnuc --fleet FILE` against several real daemons at once (one table row per
//! device, the exit status says whether any failed), and a staged firmware rollout across
//! five supervised daemons in which one device is set up to refuse the image: the canary and
//! the first batch are updated and confirmed, the rollout halts after the failing batch, and
//! the report says which device runs which version.

use std::path::Path;
use std::process::{Command, Output};

use ed25519_dalek::SigningKey;
use hil_tests::board::{Board, Needs};
use hil_tests::edge_binary::dipnuc_binary;
use hil_tests::edge_setup::SIM_TOKEN;
use hil_tests::{EdgeProcess, EdgeSetup, Supervised};
use serde_json::Value;

use crate::firmware::wrapper_image;
use crate::util::{connect, start, workdir};

fn dipnuc(args: &[&str]) -> Output {
    Command::new(dipnuc_binary())
        .args(args)
        .env("DIPNUC_HOST_CONFIG", "/nonexistent/dipnuc-test-host.toml")
        .env_remove("DIPNUC_TOKEN")
        .output()
        .expect("running dipnuc")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn sim(dir: &Path, name: &str) -> EdgeSetup {
    let mut s = EdgeSetup::sim(&dir.join(name));
    s.config.device.id = name.to_string();
    // Several daemons share the machine: a lower frame rate keeps them light.
    s.config.camera.fps = 10.0;
    s
}

fn fleet_file(dir: &Path, devices: &[(&str, String)], extra: &str) -> String {
    let mut t = format!("token = {SIM_TOKEN:?}\n{extra}\n");
    for (name, addr) in devices {
        t.push_str(&format!("[[device]]\nname = {name:?}\ntcp = {addr:?}\n"));
    }
    let path = dir.join("fleet.toml");
    std::fs::write(&path, t).unwrap();
    path.display().to_string()
}

#[test]
fn fleet_commands_run_on_every_device() {
    let _alone = crate::util::exclusive();
    let Some(_board) = Board::for_test("fleet_commands", Needs::Sim) else {
        return;
    };
    let dir = workdir();
    let setups: Vec<EdgeSetup> = ["cam-a", "cam-b", "cam-c"]
        .into_iter()
        .map(|n| sim(dir.path(), n))
        .collect();
    let _edges: Vec<EdgeProcess> = setups.iter().map(start).collect();
    let mut devices: Vec<(&str, String)> = vec![
        ("cam-a", setups[0].tcp_addr()),
        ("cam-b", setups[1].tcp_addr()),
        ("cam-c", setups[2].tcp_addr()),
    ];
    let good = fleet_file(dir.path(), &devices, "");

    let out = dipnuc(&["--fleet", &good, "--parallel", "2", "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows = json(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, (name, _)) in rows.iter().zip(&devices) {
        assert_eq!(row["name"], *name);
        assert_eq!(row["ok"], true, "{row}");
        assert!(row["result"]["telemetry"]["frames_total"].as_u64().unwrap() > 0);
    }

    let out = dipnuc(&["--fleet", &good, "config", "set", "correction.offset", "7"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = dipnuc(&[
        "--fleet",
        &good,
        "config",
        "get",
        "correction.offset",
        "--json",
    ]);
    for row in json(&out).as_array().unwrap() {
        assert_eq!(row["result"]["value"], "7", "{row}");
    }
    let out = dipnuc(&["--fleet", &good, "info"]);
    println!(
        "dipnuc --fleet fleet.toml info:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.status.success(), "{}", text(&out));

    // Patterns: each device gets its own, pulled into one folder named by device.
    for s in &setups {
        let mut dev = connect(s);
        let p = formats::pattern::StoredPattern {
            width: 160,
            height: 120,
            data: vec![s.config.device.id.len() as f32; 160 * 120],
            meta: formats::pattern::PatternMeta {
                camera: "sim".into(),
                sensor_temp_c: None,
                unix_ms: 1_700_000_000_000,
                fit_loss: None,
                method: "pushed".into(),
                steps: 0,
                duration_ms: 0,
            },
        };
        dev.pattern_push(&p).expect("pattern push");
    }
    let pulled = dir.path().join("patterns");
    let out = dipnuc(&[
        "--fleet",
        &good,
        "pattern",
        "pull",
        pulled.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for (name, _) in &devices {
        let bytes = std::fs::read(pulled.join(format!("{name}.dnp"))).unwrap();
        assert_eq!(
            formats::pattern::StoredPattern::decode(&bytes)
                .unwrap()
                .width,
            160
        );
    }

    // A device that does not answer: its row says so, the others still run, exit status 1.
    devices.push(("cam-gone", "127.0.0.1:1".into()));
    let with_dead = fleet_file(dir.path(), &devices, "");
    let out = dipnuc(&["--fleet", &with_dead, "status"]);
    println!(
        "dipnuc --fleet fleet.toml status:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" ok ")).count(),
        3,
        "{stdout}"
    );
    let dead = stdout.lines().find(|l| l.starts_with("cam-gone")).unwrap();
    assert!(
        dead.contains("FAILED") && dead.contains("127.0.0.1:1"),
        "{dead}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 4 devices failed"));
}

#[test]
fn staged_flash_halts_on_a_device_that_refuses_the_image() {
    let _alone = crate::util::exclusive();
    let Some(_board) = Board::for_test("fleet_staged_flash", Needs::Sim) else {
        return;
    };
    let dir = workdir();
    let names = ["cam-1", "cam-2", "cam-3", "cam-4", "cam-5"];
    let mut setups: Vec<EdgeSetup> = names.iter().map(|n| sim(dir.path(), n)).collect();
    // cam-3 trusts another signing key: it refuses the image (set up to fail).
    let other = SigningKey::from_bytes(&[0x33; 32]);
    setups[2].config.firmware.public_key = Some(formats::firmware::hex_encode(
        other.verifying_key().as_bytes(),
    ));
    let devices: Vec<Supervised> = setups
        .iter()
        .map(|s| Supervised::start(s).unwrap_or_else(|e| panic!("{e:#}")))
        .collect();
    let before = connect(&setups[0])
        .firmware_status()
        .unwrap()
        .version
        .to_string();
    let list: Vec<(&str, String)> = names
        .iter()
        .zip(&setups)
        .map(|(n, s)| (*n, s.tcp_addr()))
        .collect();
    let fleet = fleet_file(
        dir.path(),
        &list,
        "[rollout]\ncanary = \"cam-1\"\nbatch_size = 2\nhealth_timeout_s = 120\n",
    );
    let image = dir.path().join("edge-2.0.0-fleet.dnfw");
    std::fs::write(&image, wrapper_image(&setups[0], "2.0.0-fleet", 64 << 10)).unwrap();

    let out = dipnuc(&["--fleet", &fleet, "flash", image.to_str().unwrap()]);
    println!("dipnuc --fleet fleet.toml flash:\n{}", text(&out));
    let logs = || {
        devices
            .iter()
            .zip(names)
            .map(|(d, n)| format!("--- {n}:\n{}", d.log_tail(15)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out), logs());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .to_string()
    };
    for name in ["cam-1", "cam-2"] {
        let r = row(name);
        assert!(
            r.contains("updated") && r.contains("2.0.0-fleet") && r.contains("confirmed"),
            "{r}\n{}",
            logs()
        );
    }
    let r = row("cam-3");
    assert!(
        r.contains("FAILED at upload") && r.contains("signature"),
        "{r}"
    );
    assert!(r.contains(&before), "cam-3 keeps its version: {r}");
    for name in ["cam-4", "cam-5"] {
        let r = row(name);
        assert!(r.contains("not attempted") && r.contains(&before), "{r}");
    }
    assert!(stdout.contains("2.0.0-fleet: cam-1, cam-2"), "{stdout}");
    assert!(
        stdout.contains(&format!("{before}: cam-3, cam-4, cam-5")),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("halted after stage 1"));
    // The updated devices restarted once into the new slot and stay there (confirmed).
    assert_eq!(devices[0].restarts(), 1);
    assert_eq!(devices[1].restarts(), 1);
    assert_eq!(devices[2].restarts(), 0);
    let st = connect(&setups[1]).firmware_status().unwrap();
    assert!(
        st.confirmed && st.version.as_str() == "2.0.0-fleet",
        "{st:?}"
    );
}
