//! The daemon end to end through the host library: over TCP loopback (or the rig's network)
//! and over a serial line (a pseudo-terminal pair here, the rig's UART there).

use std::time::Duration;

use formats::pattern::StoredPattern;
use hil_tests::board::{Board, Needs};
use hil_tests::{EdgeSetup, SerialPair};
use host::client::{ClientError, Device};
use protocol::SnapshotKind;

use crate::util::{
    calibrate, connect, mean_excess_roughness, serial_guard, start, wait_until, workdir,
};

/// A copy of `p` with every value scaled (a different, valid pattern of the same size).
fn scaled(p: &StoredPattern, k: f32, method: &str) -> StoredPattern {
    let mut q = p.clone();
    q.data.iter_mut().for_each(|v| *v *= k);
    q.meta.method = method.into();
    q
}

#[test]
fn tcp_handshake_config_calibrate_snapshot_pattern() {
    let Some(board) = Board::for_test("tcp_end_to_end", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let setup = EdgeSetup::for_board(&board, dir.path());
    let mut edge = start(&setup);
    let mut dev = connect(&setup);

    // Handshake and identity.
    assert_eq!(dev.peer().device_id.as_str(), setup.config.device.id);
    let info = dev.info().expect("info");
    assert_eq!(
        (u32::from(info.width), u32::from(info.height)),
        (setup.config.camera.width, setup.config.camera.height)
    );
    let t0 = dev.telemetry().expect("telemetry");
    wait_until("frames to flow", Duration::from_secs(20), || {
        dev.telemetry().expect("telemetry").frames_total > t0.frames_total
    });

    // A wrong token gets nothing but a clear refusal.
    let bad = setup.tcp_options().with_token("wrong-token");
    let e = Device::connect(&bad).expect_err("bad token accepted");
    assert!(e.to_string().contains("token"), "{e}");

    // Config round trip: set, read back, refused value names the key, export/import.
    let change = dev.config_set("correction.offset", "12").expect("set");
    assert_eq!(change.value.as_str(), "12");
    assert_eq!(change.apply, protocol::ConfigApply::Live);
    assert_eq!(dev.config_get("correction.offset").expect("get"), "12");
    let e = dev
        .config_set("correction.offset", "99999")
        .expect_err("out of range accepted");
    assert!(matches!(e, ClientError::Device(_)), "{e:?}");
    assert!(e.to_string().contains("correction.offset"), "{e}");
    assert_eq!(
        dev.config_get("correction.offset").unwrap(),
        "12",
        "refused value applied"
    );
    let exported = dev.config_export().expect("export");
    let table: toml::Table = exported.parse().expect("export is TOML");
    assert_eq!(table["correction"]["offset"].as_integer(), Some(12));
    let reset = exported.replace("offset = 12", "offset = 0");
    dev.config_import(&reset).expect("import");
    assert_eq!(dev.config_get("correction.offset").unwrap(), "0");
    let e = dev
        .config_import("[camera]\nwidht = 3\n")
        .expect_err("bad import accepted");
    assert!(e.to_string().contains("widht"), "{e}");
    assert_eq!(dev.config_get("correction.offset").unwrap(), "0");

    // Calibrate: the pattern is applied and corrected frames get smoother (on the simulator:
    // nearer its clean scene's own roughness).
    let sim = (setup.config.camera.source == edge::config::SourceKind::Sim)
        .then(|| edge::source::sim::SimModel::new(&setup.config.camera));
    let mean_roughness = |dev: &mut _, kind, n| mean_excess_roughness(dev, kind, n, sim.as_ref());
    let raw_r = mean_roughness(&mut dev, SnapshotKind::Raw, 3);
    calibrate(&mut dev);
    let t = dev.telemetry().unwrap();
    assert!(
        t.pattern_age_s.is_some(),
        "no pattern applied after the fit: {t:?}"
    );
    let fitted_r = mean_roughness(&mut dev, SnapshotKind::Corrected, 3);
    println!("roughness raw {raw_r:.4} -> corrected {fitted_r:.4}");
    assert!(
        fitted_r < 0.8 * raw_r,
        "roughness did not fall: raw {raw_r}, corrected {fitted_r}"
    );

    // Pattern pull is a verified .dnp of the camera's size; a pushed one is applied.
    // (pattern_pull verifies the .dnp checksum)
    let fitted = dev.pattern_pull().expect("pattern pull");
    assert_eq!(
        (fitted.width, fitted.height),
        (setup.config.camera.width, setup.config.camera.height)
    );
    let zero = scaled(&fitted, 0.0, "pushed");
    dev.pattern_push(&zero).expect("push zero pattern");
    let back = dev.pattern_pull().unwrap();
    assert_eq!(back.data, zero.data, "pushed pattern not applied");
    let zero_r = mean_roughness(&mut dev, SnapshotKind::Corrected, 3);
    assert!(
        zero_r > 1.1 * fitted_r,
        "zero pattern still smooth: {zero_r} vs {fitted_r}"
    );
    dev.pattern_push(&fitted)
        .expect("push the fitted pattern back");
    let again_r = mean_roughness(&mut dev, SnapshotKind::Corrected, 3);
    assert!(
        again_r < 0.8 * raw_r,
        "restored pattern not applied: {again_r} vs raw {raw_r}"
    );

    // A pattern of the wrong size is refused and changes nothing.
    let small = StoredPattern {
        width: 8,
        height: 8,
        data: vec![1.0; 64],
        meta: fitted.meta.clone(),
    };
    let e = dev.pattern_push(&small).expect_err("8x8 pattern accepted");
    println!("wrong-size push refused: {e}");
    let still = dev.pattern_pull().unwrap();
    assert_eq!(still.data, fitted.data);

    // The applied pattern survives a clean restart.
    let status = edge.terminate(Duration::from_secs(15)).expect("SIGTERM");
    assert!(status.success(), "exit after SIGTERM: {status}");
    let _edge = start(&setup);
    let mut dev = connect(&setup);
    let reloaded = dev.pattern_pull().unwrap();
    assert_eq!(reloaded.data, fitted.data, "pattern not reloaded at start");
}

#[test]
fn serial_link_over_a_pty_pair() {
    let Some(board) = Board::for_test("serial_end_to_end", Needs::Any) else {
        return;
    };
    let _serial = serial_guard();
    let dir = workdir();
    let mut setup = EdgeSetup::for_board(&board, dir.path());
    let pair;
    let host_port = match &board {
        Board::Sim => {
            pair = Some(SerialPair::open().expect("opening pseudo-terminals"));
            let p = pair.as_ref().unwrap();
            setup.config.link.serial.port = Some(p.edge_port().to_string());
            p.host_port().to_string()
        }
        Board::Rig(rig) => {
            pair = None;
            rig.harness.host_port.clone()
        }
    };
    let _edge = start(&setup);
    let opts = setup.serial_options(&host_port);
    let mut dev = Device::connect(&opts).unwrap_or_else(|e| panic!("serial connect: {e}"));
    assert_eq!(dev.peer().device_id.as_str(), setup.config.device.id);
    dev.ping().expect("ping");
    let t0 = dev.telemetry().expect("telemetry");
    assert_eq!(
        dev.config_set("correction.offset", "-5")
            .unwrap()
            .value
            .as_str(),
        "-5"
    );
    assert_eq!(dev.config_get("correction.offset").unwrap(), "-5");
    let snap = dev
        .snapshot(SnapshotKind::Corrected)
        .expect("snapshot over serial");
    assert_eq!(snap.width() as u32, setup.config.camera.width);
    // Pattern push and pull over the serial line, verified both ways.
    let n = (setup.config.camera.width * setup.config.camera.height) as usize;
    let p = StoredPattern {
        width: setup.config.camera.width,
        height: setup.config.camera.height,
        data: (0..n).map(|i| ((i % 7) as f32 - 3.0) * 2.0).collect(),
        meta: Default::default(),
    };
    dev.pattern_push(&p).expect("push over serial");
    let back = dev.pattern_pull().expect("pull over serial");
    assert_eq!(back.data, p.data);
    wait_until("frames to flow", Duration::from_secs(20), || {
        dev.telemetry().unwrap().frames_total > t0.frames_total
    });
    // A new session on a line that already carried one (the old port closed first: serial
    // ports are opened exclusively).
    drop(dev);
    let mut dev = Device::connect(&opts).expect("second session over serial");
    dev.ping().expect("ping in the second session");
    if let Some(p) = &pair {
        println!("serial bytes bridged: {}", p.bytes_bridged());
    }
}
