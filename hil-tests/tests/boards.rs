//! The files under `boards/`: every board and camera profile loads with the daemon's config
//! loader (alone, and each board with each camera), the rig description is consistent, and
//! the unit, udev rule, launcher and package metadata say what the deployment relies on.

use std::path::{Path, PathBuf};

use edge::config::{EdgeConfig, FitDevice, SourceKind};
use engine::nuc::Method;
use hil_tests::rig::Rig;

fn boards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards")
}

fn read(rel: &str) -> String {
    let p = boards_dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const BOARDS: &[&str] = &[
    "jetson-orin-nano",
    "jetson-xavier-nx",
    "raspberry-pi-5",
    "hil-rig",
    "sim",
];

#[test]
fn every_board_profile_loads_with_the_edge_config_loader() {
    for name in BOARDS {
        let path = boards_dir().join(format!("{name}.toml"));
        let cfg = EdgeConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!cfg.device.board.is_empty(), "{name}: device.board");
        match *name {
            "jetson-orin-nano" | "jetson-xavier-nx" => {
                assert_eq!(cfg.fit.device, FitDevice::Cuda(0), "{name} fits on the GPU");
                assert_eq!(cfg.fit.method, Method::TvDip);
                assert_ne!(
                    cfg.fit.cpu_method,
                    Method::TvDip,
                    "{name}: CPU fallback must be fast"
                );
            }
            "raspberry-pi-5" => {
                assert_eq!(cfg.fit.device, FitDevice::Cpu, "the Pi 5 has no GPU");
                assert_eq!(cfg.fit.method, Method::CpTv);
            }
            _ => {}
        }
        if *name != "sim" {
            assert_eq!(cfg.camera.source, SourceKind::V4l2, "{name}");
            assert!(cfg.pattern.store.is_absolute(), "{name}: pattern.store");
            assert!(cfg.link.serial.port.is_some(), "{name}: serial link");
        }
    }
    // The template installed as /etc/dipnuc/edge.toml loads too.
    EdgeConfig::load(&boards_dir().join("edge.toml")).expect("boards/edge.toml");
}

#[test]
fn every_board_combines_with_every_camera_profile() {
    let cameras: Vec<PathBuf> = std::fs::read_dir(boards_dir().join("cameras"))
        .expect("boards/cameras")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert!(cameras.len() >= 4, "camera profiles: {cameras:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut combos = 0;
    for board in ["jetson-orin-nano", "jetson-xavier-nx", "raspberry-pi-5"] {
        for cam in &cameras {
            let cam_cfg =
                EdgeConfig::load(cam).unwrap_or_else(|e| panic!("{}: {e}", cam.display()));
            let edge = dir.path().join("edge.toml");
            std::fs::write(
                &edge,
                format!(
                    "profile = {:?}\n[camera]\nprofile = {:?}\n",
                    boards_dir().join(format!("{board}.toml")),
                    cam
                ),
            )
            .unwrap();
            let cfg = EdgeConfig::load(&edge)
                .unwrap_or_else(|e| panic!("{board} + {}: {e}", cam.display()));
            // The camera profile decides the geometry, the board the fit.
            assert_eq!(
                (cfg.camera.width, cfg.camera.height),
                (cam_cfg.camera.width, cam_cfg.camera.height)
            );
            combos += 1;
        }
    }
    println!("{combos} board x camera combinations load");
}

#[test]
fn rig_description_is_consistent() {
    let rig =
        Rig::load(&boards_dir().join("hil-rig.toml")).expect("boards/hil-rig.toml + rig.toml");
    assert_eq!(rig.config.camera.name, "lepton35-purethermal");
    assert!(rig.config.link.tcp.token.is_some());
    assert_eq!(
        rig.harness.baud, rig.config.link.serial.baud,
        "both ends of the serial line"
    );
}

#[test]
fn systemd_unit_is_hardened_and_matches_the_daemon() {
    let unit = read("systemd/dipnuc-edge.service");
    for line in [
        "Type=notify",
        "User=dipnuc",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/dipnuc",
        "NoNewPrivileges=yes",
        "SupplementaryGroups=",
        "Restart=on-failure",
        "ExecStart=/usr/lib/dipnuc/dipnuc-edge-launch --config /etc/dipnuc/edge.toml",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "unit lacks {line:?}"
        );
    }
    assert!(
        !unit
            .lines()
            .any(|l| l.starts_with("ReadWritePaths=") && l.contains("/etc")),
        "the admin's configuration must stay read-only to the daemon"
    );
    // The watchdog is fed by the daemon's liveness check, not by frames (see `unplug`); every
    // setting the stand-in service manager reads is there.
    hil_tests::service_manager::UnitSettings::packaged().expect("watchdog and restart settings");
    for name in ["jetson-orin-nano", "jetson-xavier-nx", "raspberry-pi-5"] {
        let cfg = EdgeConfig::load(&boards_dir().join(format!("{name}.toml"))).unwrap();
        assert!(
            cfg.pattern.store.starts_with("/var/lib/dipnuc"),
            "{name}: pattern store must be inside ReadWritePaths"
        );
        assert!(
            cfg.overrides_path().starts_with("/var/lib/dipnuc"),
            "{name}: link overrides inside ReadWritePaths"
        );
        let slots = cfg.firmware.slots_dir.expect("firmware.slots_dir");
        assert!(
            slots.starts_with("/var/lib/dipnuc"),
            "{name}: slots inside ReadWritePaths"
        );
    }
}

#[test]
fn udev_rule_covers_the_cameras_and_serial_gadgets() {
    let rules = read("udev/60-dipnuc.rules");
    for needle in [
        "ATTRS{idVendor}==\"1e4e\", ATTRS{idProduct}==\"0100\"",
        "ATTRS{idVendor}==\"09cb\", ATTRS{idProduct}==\"4007\"",
        "KERNEL==\"ttyGS[0-9]*\"",
        "GROUP=\"dipnuc\"",
        "SYMLINK+=\"dipnuc-camera\"",
    ] {
        assert!(rules.contains(needle), "udev rule lacks {needle}");
    }
    for (i, l) in rules.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // Every rule matches something and assigns the group with a mode.
        assert!(
            l.contains("==") && l.contains("GROUP=\"dipnuc\"") && l.contains("MODE=\"0660\""),
            "line {}: {l}",
            i + 1
        );
    }
}

#[test]
fn deb_metadata_installs_what_the_unit_runs() {
    let manifest: toml::Table =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge/Cargo.toml"))
            .unwrap()
            .parse()
            .expect("edge/Cargo.toml");
    let deb = &manifest["package"]["metadata"]["deb"];
    assert_eq!(deb["name"].as_str(), Some("dipnuc-edge"));
    let assets = deb["assets"].as_array().expect("assets");
    let targets: Vec<(String, String)> = assets
        .iter()
        .map(|a| {
            let a = a.as_array().expect("asset triple");
            (
                a[0].as_str().unwrap().to_string(),
                a[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for dest in [
        "usr/bin/",
        "usr/lib/dipnuc/",
        "lib/udev/rules.d/",
        "etc/dipnuc/edge.toml",
        "usr/share/dipnuc/boards/",
    ] {
        assert!(
            targets.iter().any(|(_, d)| d == dest),
            "no asset installed to {dest}"
        );
    }
    let edge_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge");
    for (src, _) in &targets {
        if src.starts_with("target/") {
            continue; // built by cargo deb
        }
        let pattern = edge_dir.join(src);
        let found = if src.contains('*') {
            let dir = pattern.parent().unwrap();
            std::fs::read_dir(dir)
                .map(|d| d.count() > 0)
                .unwrap_or(false)
        } else {
            pattern.is_file()
        };
        assert!(found, "asset source {src} does not exist");
    }
    let units = deb["systemd-units"]["unit-scripts"].as_str().unwrap();
    assert!(edge_dir.join(units).join("dipnuc-edge.service").is_file());
    let scripts = deb["maintainer-scripts"].as_str().unwrap();
    let postinst = std::fs::read_to_string(edge_dir.join(scripts).join("postinst")).unwrap();
    assert!(postinst.contains("#DEBHELPER#") && postinst.contains("adduser --system"));
}

#[test]
fn launcher_falls_back_to_the_packaged_binary_when_the_slot_cannot_run() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let exe = |path: &Path, text: &str| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let base = dir.path().join("usr/bin/dipnuc-edge");
    exe(&base, "#!/bin/sh\necho \"base $*\"\n");
    let slot = dir.path().join("slots/current/dipnuc-edge");
    let launch = |slot_text: &str| {
        exe(&slot, slot_text);
        let out = std::process::Command::new(boards_dir().join("systemd/dipnuc-edge-launch"))
            .args(["--config", "x.toml"])
            .env("DIPNUC_SLOTS", dir.path().join("slots"))
            .env("DIPNUC_EDGE_BASE", &base)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // A healthy slot binary is what runs.
    assert_eq!(
        launch("#!/bin/sh\n[ \"$1\" = --version ] && exit 0\necho \"slot $*\"\n"),
        "slot --config x.toml\n"
    );
    // One that cannot run at all (here: not an executable format) is skipped.
    assert_eq!(
        launch("\x7fELF garbage, not a program"),
        "base --config x.toml\n"
    );
}
