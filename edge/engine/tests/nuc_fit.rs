//! End to end through the public API: estimators on a generated 64×80 multi-frame set with
//! column FPN, per-pixel FPN and a smooth LPN blob; TV-DIP must raise PSNR, warm-start, save and
//! reload its state, and honour budgets and aborts.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engine::nuc::metrics::psnr;
use engine::nuc::net::SkipConfig;
use engine::nuc::schedule::ScheduleKind;
use engine::nuc::{Budget, FitConfig, FrameSet, Method, PatternEstimator, estimator};
use rand::{Rng, SeedableRng};

const W: usize = 80;
const H: usize = 64;

/// Clean frames (moving smooth scene), the true pattern and the noisy frames, in DN.
fn synthetic(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<f32>, FrameSet) {
    synthetic_with(n, seed, 60.0)
}

/// As [`synthetic`] with the LPN blob's peak `blob_amp` DN (0 = column and pixel FPN only).
fn synthetic_with(n: usize, seed: u64, blob_amp: f32) -> (Vec<Vec<f32>>, Vec<f32>, FrameSet) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let cols: Vec<f32> = (0..W).map(|_| rng.gen_range(0.0..40.0)).collect();
    let pattern: Vec<f32> = (0..W * H)
        .map(|i| {
            let (y, x) = ((i / W) as f32, (i % W) as f32);
            let blob = blob_amp * (-((x - 20.0).powi(2) + (y - 40.0).powi(2)) / 600.0).exp();
            cols[i % W] + rng.gen_range(0.0..8.0) + blob
        })
        .collect();
    let mut clean = Vec::new();
    let mut noisy = Vec::new();
    for _ in 0..n {
        let (cx, cy): (f32, f32) = (rng.gen_range(10.0..70.0), rng.gen_range(10.0..54.0));
        let (tx, ty): (f32, f32) = (rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0));
        let c: Vec<f32> = (0..W * H)
            .map(|i| {
                let (y, x) = ((i / W) as f32, (i % W) as f32);
                let disc = if (x - cx).powi(2) + (y - cy).powi(2) < 144.0 {
                    300.0
                } else {
                    0.0
                };
                // Everything moves: a static scene part would be indistinguishable from the pattern.
                2000.0 + 2.0 * tx * (x - 40.0) + 2.0 * ty * (y - 32.0) + disc
            })
            .collect();
        noisy.push(c.iter().zip(&pattern).map(|(a, b)| a + b).collect());
        clean.push(c);
    }
    (clean, pattern, FrameSet::new(W, H, noisy).unwrap())
}

fn mean_psnr(frames: &FrameSet, clean: &[Vec<f32>], pattern: Option<&engine::nuc::Pattern>) -> f64 {
    let mut s = 0.0;
    for (f, c) in frames.frames().iter().zip(clean) {
        let corrected = match pattern {
            Some(p) => p.apply(W, H, f).unwrap(),
            None => f.clone(),
        };
        // Offsets are unobservable: compare after removing each image's mean.
        let mc = corrected.iter().sum::<f32>() / corrected.len() as f32;
        let mk = c.iter().sum::<f32>() / c.len() as f32;
        let a: Vec<f32> = corrected.iter().map(|v| v - mc).collect();
        let b: Vec<f32> = c.iter().map(|v| v - mk).collect();
        s += psnr(&a, &b, 400.0);
    }
    s / clean.len() as f64
}

fn small_config() -> FitConfig {
    FitConfig {
        seed: Some(7),
        net: SkipConfig {
            levels: 3,
            channels_down: 8,
            channels_up: 8,
            channels_skip: 2,
            input_depth: 8,
            zero_init_output: true,
        },
        steps: 160,
        schedule: ScheduleKind::Spn,
        // 64×80 is a quarter of the reference's 256×320.
        k_scale: 0.25,
        compress_schedule: true,
        adam: engine::nuc::config::AdamConfig {
            lr: 2e-2,
            ..FitConfig::paper().adam
        },
        ..FitConfig::paper()
    }
}

fn go(est: &mut dyn PatternEstimator, set: &FrameSet, budget: &Budget) -> engine::nuc::FitOutcome {
    est.estimate(set, budget, &mut |_| ControlFlow::Continue(()))
        .unwrap()
}

#[test]
fn tv_dip_raises_psnr_and_warm_starts() {
    let (clean, _, set) = synthetic(6, 1);
    let before = mean_psnr(&set, &clean, None);
    // One fit's gain depends on its random frame order and perturbations (27.7–32.9 dB over
    // five streams of this configuration), so three seeds are run and the median one is kept.
    let mut runs: Vec<_> = (1..=3u64)
        .map(|seed| {
            let cfg = FitConfig {
                seed: Some(seed),
                ..small_config()
            };
            let mut est = estimator(Method::TvDip, &cfg).unwrap();
            let mut seen = 0u32;
            let out = est
                .estimate(&set, &Budget::default(), &mut |p| {
                    seen = p.step;
                    assert!(p.ms_per_step >= 0.0 && p.loss.is_finite());
                    ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(out.steps, 160);
            assert_eq!(seen, 160);
            let after = mean_psnr(&set, &clean, Some(&out.pattern));
            println!(
                "tv-dip 160 steps, seed {seed}: {before:.2} dB -> {after:.2} dB, {:.1} s",
                out.duration.as_secs_f64()
            );
            (after, est)
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (after, mut est) = runs.swap_remove(1);
    assert!(after > before + 3.0, "median {before:.2} -> {after:.2}");

    // Warm start: a refresh runs the short refine schedule (50 steps) from these weights.
    let refresh = go(est.as_mut(), &set, &Budget::default());
    assert_eq!(refresh.steps, 50);
    let after2 = mean_psnr(&set, &clean, Some(&refresh.pattern));
    assert!(
        after2 > after - 1.0,
        "refresh lost quality: {after:.2} -> {after2:.2}"
    );

    // State survives a restart.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.safetensors");
    assert!(est.save_state(&path).unwrap());
    let mut again = estimator(Method::TvDip, &small_config()).unwrap();
    assert!(again.load_state(&path).unwrap());
    let reloaded = go(again.as_mut(), &set, &Budget::steps(1));
    assert_eq!(reloaded.steps, 1);
    let after3 = mean_psnr(&set, &clean, Some(&reloaded.pattern));
    assert!(
        after3 > after - 1.0,
        "reloaded state lost quality: {after:.2} -> {after3:.2}"
    );
}

/// A gain switch loads other offset tables at once: a refresh whose CP-TV column profile jumped
/// starts cold, one on the same pattern stays warm. The gain is the drift bench's (human low
/// gain pan against CP-TV: −0.10 dB warm, +1.16 cold on the cpu budget, −0.18 → +3.50 on the
/// gpu-class one); on this small set of one contrast a warm refresh does as well, so only the
/// decision and a working cold fit are pinned here.
#[test]
fn tv_dip_fits_cold_when_the_column_pattern_jumps() {
    let cfg = FitConfig {
        init_from_cptv: true,
        downscale: 2,
        steps: 120,
        ..small_config()
    };
    let (_, _, set) = synthetic(6, 1);
    let mut est = estimator(Method::TvDip, &cfg).unwrap();
    assert_eq!(go(est.as_mut(), &set, &Budget::default()).steps, 120);
    assert_eq!(
        go(est.as_mut(), &set, &Budget::default()).steps,
        50,
        "same pattern: warm"
    );
    // Other column offsets (another seed): the refresh fits from scratch, then warms again.
    let (clean, _, switched) = synthetic(6, 5);
    let cold = go(est.as_mut(), &switched, &Budget::default());
    assert_eq!(cold.steps, 120, "column pattern jumped: cold");
    let (before, after) = (
        mean_psnr(&switched, &clean, None),
        mean_psnr(&switched, &clean, Some(&cold.pattern)),
    );
    println!("after the jump: {before:.2} -> {after:.2} dB");
    assert!(after > before + 2.5, "{before:.2} -> {after:.2}");
    assert_eq!(go(est.as_mut(), &switched, &Budget::default()).steps, 50);
}

#[test]
fn classical_methods_raise_psnr() {
    let (clean, _, set) = synthetic(6, 2);
    let before = mean_psnr(&set, &clean, None);
    for m in [Method::CpTv, Method::ColMean] {
        let mut est = estimator(m, &FitConfig::fast()).unwrap();
        let out = go(est.as_mut(), &set, &Budget::default());
        let after = mean_psnr(&set, &clean, Some(&out.pattern));
        println!("{m}: {before:.2} -> {after:.2} dB");
        // Column means cannot see the per-pixel part and the blob of the pattern.
        let margin = if m == Method::CpTv { 2.5 } else { 1.5 };
        assert!(after > before + margin, "{m}: {before:.2} -> {after:.2}");
        assert!(
            !est.save_state(&std::env::temp_dir().join("unused"))
                .unwrap()
        );
    }
}

#[test]
fn fast_preset_runs_on_odd_sizes() {
    let (clean, _, set) = synthetic(4, 3);
    // Crop to 61×75 so that no side is a multiple of anything convenient.
    let (w, h) = (75, 61);
    let frames = set
        .frames()
        .iter()
        .map(|f| (0..h).flat_map(|y| f[y * W..y * W + w].to_vec()).collect())
        .collect();
    let odd = FrameSet::new(w, h, frames).unwrap();
    let cfg = FitConfig {
        seed: Some(3),
        steps: 30,
        ..FitConfig::fast()
    };
    let mut est = estimator(Method::TvDip, &cfg).unwrap();
    let out = go(est.as_mut(), &odd, &Budget::default());
    assert_eq!((out.pattern.width(), out.pattern.height()), (w, h));
    // The preset runs no split-half check: the fit's own steps.
    assert_eq!(out.steps, 30);
    drop(clean);
}

/// CP-TV first, a small network on what it leaves, and the split-half check.
fn checked_config() -> FitConfig {
    FitConfig {
        init_from_cptv: true,
        min_shared_pattern: 0.025,
        downscale: 2,
        steps: 120,
        // The check's verdict is read as equality with CP-TV's pattern: no per-pixel stage after.
        pixel_passes: 0,
        ..small_config()
    }
}

/// CP-TV's result, and the checked TV-DIP estimator with its first (cold, checked) result.
fn cp_tv_and_checked_tv_dip(
    set: &FrameSet,
) -> (
    engine::nuc::FitOutcome,
    Box<dyn PatternEstimator>,
    engine::nuc::FitOutcome,
) {
    let mut cp = estimator(Method::CpTv, &checked_config()).unwrap();
    let cp_out = go(cp.as_mut(), set, &Budget::default());
    let mut est = estimator(Method::TvDip, &checked_config()).unwrap();
    let out = go(est.as_mut(), set, &Budget::default());
    // The fit and the two split-half fits.
    assert_eq!(out.steps, 3 * 120);
    (cp_out, est, out)
}

#[test]
fn split_half_check_keeps_a_shared_pattern() {
    // A strong LPN blob on top of the FPN: both halves learn it, the network stays.
    let (clean, _, set) = synthetic_with(8, 5, 200.0);
    let (cp_out, mut est, out) = cp_tv_and_checked_tv_dip(&set);
    let (p_cp, p_dip) = (
        mean_psnr(&set, &clean, Some(&cp_out.pattern)),
        mean_psnr(&set, &clean, Some(&out.pattern)),
    );
    println!("blob: cp-tv {p_cp:.2} dB, checked tv-dip {p_dip:.2} dB");
    assert!(p_dip > p_cp + 1.0, "cp-tv {p_cp:.2} vs tv-dip {p_dip:.2}");
    // The kept network warm-starts the next refresh.
    assert_eq!(go(est.as_mut(), &set, &Budget::default()).steps, 50);
}

#[test]
fn split_half_check_drops_a_network_that_learnt_nothing_shared() {
    // Column and pixel FPN only, which CP-TV takes whole: the network's leftovers differ
    // between the halves, so the pattern is exactly CP-TV's.
    let (_, _, set) = synthetic_with(8, 6, 0.0);
    let (cp_out, est, out) = cp_tv_and_checked_tv_dip(&set);
    assert!(
        out.pattern.data() == cp_out.pattern.data(),
        "the network's output was added"
    );
    // Without the check the network's output is added.
    let mut unchecked = estimator(
        Method::TvDip,
        &FitConfig {
            min_shared_pattern: 0.0,
            ..checked_config()
        },
    )
    .unwrap();
    let plain = go(unchecked.as_mut(), &set, &Budget::default());
    assert_eq!(plain.steps, 120);
    assert!(
        plain.pattern.data() != cp_out.pattern.data(),
        "the unchecked fit returned CP-TV's pattern"
    );
    // Nothing worth warm-starting was kept: the next call is a cold, checked fit again.
    assert!(
        !est.save_state(&std::env::temp_dir().join("dipnuc-unused-state"))
            .unwrap()
    );
}

#[test]
fn abort_flag_and_wall_budget_stop_the_fit() {
    let (_, _, set) = synthetic(3, 4);
    let flag = Arc::new(AtomicBool::new(false));
    let mut est = estimator(Method::TvDip, &small_config()).unwrap();
    let f2 = flag.clone();
    let out = est
        .estimate(
            &set,
            &Budget::default().with_abort(flag.clone()),
            &mut |p| {
                if p.step == 5 {
                    f2.store(true, Ordering::Relaxed);
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    assert!(out.aborted);
    assert_eq!(out.steps, 5);
    let mut est = estimator(Method::TvDip, &small_config()).unwrap();
    let out = go(
        est.as_mut(),
        &set,
        &Budget::default().with_wall(std::time::Duration::from_millis(1)),
    );
    assert!(out.steps <= 2, "{}", out.steps);
    assert!(!out.aborted);
}

#[test]
fn memory_cap_refuses_before_the_fit_starts() {
    let (_, _, set) = synthetic(3, 4);
    // The reference network at 512×640 needs gigabytes; a 256 MiB cap must refuse it up front.
    let big = FrameSet::new(640, 512, vec![vec![0.5; 640 * 512]; 2]).unwrap();
    let mut est = estimator(
        Method::TvDip,
        &FitConfig {
            max_memory_mb: Some(256),
            ..FitConfig::paper()
        },
    )
    .unwrap();
    let mut steps = 0;
    let e = est
        .estimate(&big, &Budget::steps(1), &mut |_| {
            steps += 1;
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(matches!(e, engine::nuc::NucError::MemoryCap(_)), "{e}");
    assert!(e.to_string().contains("memory cap of 256 MiB"), "{e}");
    assert_eq!(steps, 0, "refused before any work");
    // The small test network on the small set fits easily under the same cap.
    let mut est = estimator(
        Method::TvDip,
        &FitConfig {
            max_memory_mb: Some(256),
            ..small_config()
        },
    )
    .unwrap();
    assert_eq!(go(est.as_mut(), &set, &Budget::steps(2)).steps, 2);
}

#[test]
fn bad_input_is_a_typed_error() {
    assert!(
        FrameSet::new(4, 4, vec![])
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    let e = FrameSet::new(4, 4, vec![vec![0.0; 16], vec![0.0; 15]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("frame 1") && e.contains("15"), "{e}");
    let e = FrameSet::new(2, 2, vec![vec![0.0, f32::NAN, 0.0, 0.0]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    let e = "tvdip".parse::<Method>().unwrap_err().to_string();
    assert!(e.contains("tvdip"), "{e}");
    let e = estimator(
        Method::TvDip,
        &FitConfig {
            device: "cuda:0".into(),
            ..FitConfig::fast()
        },
    );
    if !cfg!(feature = "cuda") {
        assert!(e.err().unwrap().to_string().contains("cuda"));
    }
}

/// `frames_per_step = 0`: each step's loss is the mean of the loss over every training frame
/// (the gradient of the whole multi-frame objective), and snapshot 0 is the network before its
/// first step. The step-1 loss of a TV_1 fit must equal 1e-2 · mean_i TV_1(frame_i − pattern_0)
/// / span, computed here from the snapshot.
#[test]
fn frames_per_step_zero_averages_the_loss_over_all_frames() {
    use engine::nuc::TvDipEstimator;
    use engine::nuc::tv::tv_k;
    let (_, _, set) = synthetic(4, 11);
    let text = "preset = \"paper\"\nsteps = 1\nschedule = \"fpn\"\nreg_noise_std = 0.0\n\
                seed = 3\nframes_per_step = 0\n[net]\nlevels = 2\nchannels_down = 4\n\
                channels_up = 4\nchannels_skip = 2\ninput_depth = 3\n";
    let cfg = FitConfig::from_toml_str(text).unwrap();
    let mut losses = Vec::new();
    let (_, snaps) = TvDipEstimator::new(cfg)
        .unwrap()
        .estimate_with_snapshots(&set, &Budget::default(), &[0, 1], &mut |p| {
            losses.push(p.loss);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(snaps.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1]);
    let (lo, hi) = set.range();
    let p0 = &snaps[0].1;
    let want = set
        .frames()
        .iter()
        .map(|f| {
            let r = p0.apply(W, H, f).unwrap();
            1e-2 * tv_k(&r, W, H, 1) / f64::from(hi - lo)
        })
        .sum::<f64>()
        / set.len() as f64;
    let got = f64::from(*losses.last().unwrap());
    assert!(
        (got - want).abs() <= 1e-4 * want,
        "step loss {got}, mean over the frames {want}"
    );
    // One frame per step would see one frame's loss, not the mean: they differ on this set.
    let one = {
        let r = p0.apply(W, H, &set.frames()[0]).unwrap();
        1e-2 * tv_k(&r, W, H, 1) / f64::from(hi - lo)
    };
    assert!((one - want).abs() > 1e-3 * want);
}
