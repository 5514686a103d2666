//! The drift bench's runner on a small camera and a short script: the daemon's refit loop runs
//! on the simulated clock, CP-TV refits raise PSNR over no correction, the static-scene guard
//! keeps refits out of the stares, and the report and chart come out.

use std::sync::Arc;

use edge::drift_bench::{self, CPU_BUDGET, Case, RunOptions, report};
use edge::source::drift::{CityScene, DriftConfig, DriftModel, Motion, Scenario, SensorParams};
use engine::nuc::Method;

#[test]
fn cp_tv_refits_beat_no_correction_and_stay_out_of_stares() {
    let cfg = DriftConfig {
        width: 96,
        height: 80,
        fps: 5.0,
        bit_depth: 14,
        seed: 3,
        level: 7000.0,
        contrast: 2000.0,
        pan_px_per_s: 20.0,
        sensor: SensorParams {
            column_fpn: 60.0,
            pixel_fpn: 20.0,
            pixel_gain: 0.01,
            lpn: 150.0,
            drift_per_c: 0.05,
            low_gain: 0.35,
        },
        temporal_noise: 5.0,
        scenario: Scenario::drift(140.0, 30.0, 3.0, 1.0),
    };
    let scene = Arc::new(CityScene::new(3, 96, 80, cfg.level, cfg.contrast));
    let model = DriftModel::new(cfg, scene);
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        duration_s: 140.0,
        preset: "fast".into(),
        frames: 6,
        blend_frames: 5,
        min_moving_fraction: 0.5,
        bucket_s: 5.0,
        work_dir: dir.path().to_path_buf(),
    };
    let run = |method| {
        drift_bench::run_case(
            &model,
            &Case {
                method,
                budget: CPU_BUDGET,
            },
            &opts,
        )
        .unwrap()
    };
    let none = run(None);
    let cptv = run(Some(Method::CpTv));
    let scenario = &model.config().scenario;
    println!("{}", report::psnr_table(scenario, &[&none, &cptv]));
    println!("{}", report::loop_table(scenario, &[&none, &cptv]));
    assert!(
        report::mean_psnr(&cptv) > report::mean_psnr(&none) + 1.0,
        "cp-tv {:.2} vs none {:.2}",
        report::mean_psnr(&cptv),
        report::mean_psnr(&none)
    );
    let fits: u32 = cptv.segments.iter().map(|s| s.fits).sum();
    assert!(fits >= 2, "{fits} fits");
    // No fit completes in the middle of a stare (one may land just after the stare began,
    // fitted on frames of the pan before it).
    for (i, seg) in scenario.segments.iter().enumerate() {
        if seg.motion == Motion::Stare {
            assert!(
                cptv.segments[i].fits <= 1,
                "{} fits in {}",
                cptv.segments[i].fits,
                seg.name
            );
        }
    }
    assert_eq!(none.segments.iter().map(|s| s.fits).sum::<u32>(), 0);
    assert!(none.timeline.len() >= 20);
    let img = report::chart("test", scenario, &[&none, &cptv]).render(480, 240);
    assert_eq!(img.width(), 480);
}
