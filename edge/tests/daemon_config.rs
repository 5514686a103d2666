//! Configuration files as users write them: the shipped board and camera profiles load, and
//! errors name the key.

use std::path::PathBuf;

use edge::config::EdgeConfig;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn shipped_sim_board_and_camera_profiles_load() {
    let cfg = EdgeConfig::load(&repo().join("boards/sim.toml")).unwrap();
    assert_eq!((cfg.camera.width, cfg.camera.height), (320, 256));
    assert_eq!(cfg.camera.source, edge::config::SourceKind::Sim);
    assert_eq!(cfg.fit.method, engine::nuc::Method::TvDip);
    assert!(cfg.link.tcp.listen.is_some());
    for cam in [
        "lepton35",
        "boson320",
        "boson640",
        "generic-y16",
        "sim160",
        "sim320",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(
            &path,
            format!(
                "[camera]\nprofile = \"{}\"\n",
                repo().join(format!("boards/cameras/{cam}.toml")).display()
            ),
        )
        .unwrap();
        let cfg = EdgeConfig::load(&path).unwrap_or_else(|e| panic!("{cam}: {e}"));
        assert!(cfg.camera.width >= 160, "{cam}");
    }
}

#[test]
fn bad_values_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.toml");
    for (text, key) in [
        ("[camera]\nsource = \"sim\"\nfps = 0.0\n", "camera.fps"),
        (
            "[camera]\nsource = \"sim\"\n[fit.budget]\nduty_cycle = 2.0\n",
            "fit.budget.duty_cycle",
        ),
        (
            "[camera]\nsource = \"sim\"\n[link.tcp]\nlisten = \"nowhere\"\n",
            "link.tcp.listen",
        ),
        ("[camera]\nsource = \"replay\"\n", "camera.path"),
        (
            "[camera]\nsource = \"sim\"\n[firmware]\npublic_key = \"abc\"\n",
            "firmware.public_key",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let e = EdgeConfig::load(&path).unwrap_err();
        assert_eq!(e.key(), Some(key), "{e}");
        assert!(e.to_string().starts_with(key), "{e}");
    }
    std::fs::write(&path, "[camera]\nsource = \"sim\"\nbogus = 1\n").unwrap();
    let e = EdgeConfig::load(&path).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = EdgeConfig::load(&dir.path().join("missing.toml")).unwrap_err();
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

#[test]
fn gpio_on_a_board_without_it_is_a_clear_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        "[camera]\nsource = \"sim\"\n[pattern]\nstore = \"{}\"\n[gpio]\nboard = \"cdev\"\nchip = \"/dev/no-such-gpiochip\"\nled_pin = 4\n",
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let e = edge::daemon::Daemon::start(cfg)
        .err()
        .expect("no GPIO chip here");
    let msg = e.to_string();
    assert!(msg.contains("gpio"), "{msg}");
    assert!(
        msg.contains("line 4") || msg.contains("no GPIO support"),
        "{msg}"
    );
}
