//! The daemon end to end on the simulated camera: after a requested CPU fit the roughness of
//! corrected frames falls towards the clean scene's and the installed pattern is close to the
//! simulator's true one.

use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::Daemon;
use edge::events::{DaemonEvent, FitEnd};
use edge::refit::FitRequest;
use edge::roughness::roughness_u16;

fn rms(v: impl Iterator<Item = f32>) -> f32 {
    let (s, n) = v.fold((0.0f64, 0usize), |(s, n), x| (s + f64::from(x * x), n + 1));
    (s / n.max(1) as f64).sqrt() as f32
}

#[test]
fn fit_on_the_simulated_camera_lowers_roughness_and_pattern_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[camera]
source = "sim"
width = 96
height = 72
fps = 100.0
[camera.sim]
pixel_fpn = 10.0
lpn = 30.0
motion_px_per_s = 200.0
[fit]
method = "cp-tv"
frames = 8
collect_interval_ms = 100
min_motion_dn = 4.0
fit_on_start = false
[pattern]
store = "{}"
"#,
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let daemon = Daemon::start(cfg).unwrap();
    let core = daemon.core().clone();
    let model = core.sim_model().expect("simulated source");
    let events = core.events().subscribe(1024);

    // Before any fit the corrected frames are the raw ones.
    let start = Instant::now();
    while core.latest_frame().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "no frames");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = core.latest_frame().unwrap();
    let rough_before = roughness_u16(&before.corrected, 96, 72);

    let fit_id = core.request_fit(FitRequest::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(DaemonEvent::FitDone {
                fit_id: id,
                outcome,
                detail,
                ..
            }) if id == fit_id => {
                assert_eq!(outcome, FitEnd::Completed, "{detail}");
                break;
            }
            _ => assert!(Instant::now() < deadline, "fit did not finish in time"),
        }
    }
    let pattern = core.pattern().expect("pattern installed");
    // A new pattern is blended in over `correction.blend_frames` frames: wait until frames
    // are corrected with all of it.
    let swapped_at = core.latest_frame().unwrap().raw.seq;
    let blended = u64::from(core.config().correction.blend_frames) + 3;
    let start = Instant::now();
    while core.latest_frame().unwrap().raw.seq < swapped_at + blended {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no frames after the fit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = core.latest_frame().unwrap();
    let rough_after = roughness_u16(&after.corrected, 96, 72);
    let rough_raw = roughness_u16(&after.raw.data, 96, 72);
    // The scene is textured: the floor is the clean scene's own roughness, and the fit must
    // remove most of what the pattern adds above it.
    let clean: Vec<u16> = model
        .clean(after.raw.seq)
        .iter()
        .map(|v| v.round().clamp(0.0, 16383.0) as u16)
        .collect();
    let rough_clean = roughness_u16(&clean, 96, 72);
    println!(
        "roughness: raw {rough_raw:.4}, before fit {rough_before:.4}, after {rough_after:.4}, clean {rough_clean:.4}"
    );
    assert!(
        rough_after - rough_clean < 0.5 * (rough_raw - rough_clean),
        "roughness {rough_after} not clearly nearer the clean {rough_clean} than raw {rough_raw}"
    );

    let truth = model.pattern_of(after.raw.seq);
    let mean = pattern.data.iter().sum::<f32>() / pattern.data.len() as f32;
    let err = rms(pattern.data.iter().zip(&truth).map(|(p, t)| (p - mean) - t));
    let base = rms(truth.iter().copied());
    println!("pattern error rms {err:.1} DN vs {base:.1} DN without correction");
    // Column part of the error (what a destriper must get right).
    let col = |v: &dyn Fn(usize) -> f32| -> Vec<f32> {
        (0..96)
            .map(|x| (0..72).map(|y| v(y * 96 + x)).sum::<f32>() / 72.0)
            .collect()
    };
    let ecol = col(&|i| pattern.data[i] - mean - truth[i]);
    let tcol = col(&|i| truth[i]);
    println!(
        "column error rms {:.1} vs column pattern rms {:.1}",
        rms(ecol.into_iter()),
        rms(tcol.into_iter())
    );
    assert!(err < 0.6 * base, "pattern error {err} vs {base}");
    let tel = core.telemetry();
    assert!(tel.frames_total > 10 && tel.pattern_age_s.is_some() && tel.last_fit.is_some());
    daemon.shutdown();
    // The pattern was persisted.
    assert!(edge::pattern_cache::load_pattern(&dir.path().join("p.dnp")).is_ok());
}
