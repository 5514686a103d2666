//! The refit worker follows the live configuration: keys it derives state from at start (the
//! frame set's size and motion limit, the hourly compute allowance) and the static-scene guard
//! it reads for every decision take effect when they are changed, without a restart.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edge::config::{EdgeConfig, FitSection, LiveConfig};
use edge::events::EventBus;
use edge::frame::RawFrame;
use edge::pattern_cache::PatternCache;
use edge::refit::{FitRequest, RefitError, RefitScheduler, RefitShared, RefitState};
use edge::stats::Stats;
use engine::nuc::{
    Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern, PatternEstimator,
};

/// Computes until its wall-time budget ends or it is aborted, then returns a flat pattern.
struct UntilTheBudgetEnds;

impl PatternEstimator for UntilTheBudgetEnds {
    fn method(&self) -> Method {
        Method::ColMean
    }

    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        _progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        let start = Instant::now();
        let wall = budget
            .max_wall
            .expect("the scheduler always sets a wall limit");
        let aborted = || {
            budget
                .abort
                .as_ref()
                .is_some_and(|a| a.load(Ordering::Relaxed))
        };
        while start.elapsed() < wall && !aborted() {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(FitOutcome {
            pattern: Pattern::zeros(frames.width(), frames.height()),
            loss: 1.0,
            steps: 1,
            duration: start.elapsed(),
            aborted: aborted(),
            method: Method::ColMean,
        })
    }
}

fn factory(_: &FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError> {
    Ok((Box::new(UntilTheBudgetEnds), "until the budget ends".into()))
}

fn frame(seq: u64, level: u16) -> Arc<RawFrame> {
    Arc::new(RawFrame {
        seq,
        timestamp: Instant::now(),
        width: 16,
        height: 16,
        data: vec![level; 256],
        sensor_temp_c: Some(30.0),
    })
}

fn setup(fit: &str) -> (RefitScheduler, RefitShared, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        "[camera]\nsource = \"sim\"\nwidth = 16\nheight = 16\n[pattern]\nstore = \"{}\"\n\
         [fit]\nfit_on_start = false\ncollect_interval_ms = 0\n{fit}",
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let shared = RefitShared {
        cache: Arc::new(PatternCache::new(dir.path().join("p.dnp"), (16, 16))),
        stats: Arc::new(Stats::default()),
        events: Arc::new(EventBus::default()),
        config: LiveConfig::new(cfg),
    };
    let s = RefitScheduler::start(shared.clone(), factory).unwrap();
    (s, shared, dir)
}

fn change(shared: &RefitShared, key: &str, value: &str) {
    let cfg = shared.config.load().with_value(key, value).unwrap();
    shared.config.store(cfg);
}

/// Offers frames of distinct levels until `held` frames are held (the safety deadline only
/// turns a hang into a failure).
fn feed_until(s: &RefitScheduler, held: usize, levels: impl Iterator<Item = u16>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, level) in levels.enumerate() {
        s.offer_frame(&frame(i as u64, level));
        std::thread::sleep(Duration::from_millis(10));
        let now = s.status().frames_held;
        if now >= held || Instant::now() > deadline {
            return now;
        }
    }
    s.status().frames_held
}

#[test]
fn frame_set_limits_follow_the_configuration() {
    let (s, shared, _dir) = setup("frames = 2\nmin_motion_dn = 1000.0\n");
    // Frames 10 DN apart are near-duplicates under a 1000 DN motion limit: one is held.
    assert_eq!(feed_until(&s, 2, (0..40).map(|i| 1000 + i * 10)), 1);
    change(&shared, "fit.min_motion_dn", "1.0");
    assert_eq!(feed_until(&s, 2, (0..200).map(|i| 1000 + i * 10)), 2);
    // The set holds at most `fit.frames`, which grows live.
    assert_eq!(feed_until(&s, 3, (0..20).map(|i| 3000 + i * 50)), 2);
    change(&shared, "fit.frames", "5");
    assert_eq!(feed_until(&s, 5, (0..400).map(|i| 5000 + i * 20)), 5);
    s.shutdown();
}

#[test]
fn the_hourly_allowance_follows_the_configuration() {
    let (s, shared, _dir) = setup("[fit.budget]\ngpu_seconds_per_hour = 3600.0\n");
    // A request made after a change is answered under it, however the worker's passes fall
    // (a request is queued and may be handled in the pass that began before the change).
    let once = |s: &RefitScheduler| {
        let r = s.request(FitRequest::default());
        if r.is_ok() {
            s.abort();
        }
        r
    };
    assert!(once(&s).is_ok());
    // A fit needs at least one compute-second left in the hour: half a second refuses it.
    change(&shared, "fit.budget.gpu_seconds_per_hour", "0.5");
    match once(&s) {
        Err(RefitError::Budget(wait_s)) => assert!(wait_s > 3000, "{wait_s}"),
        other => panic!("expected a budget refusal, got {other:?}"),
    }
    change(&shared, "fit.budget.gpu_seconds_per_hour", "3600.0");
    assert!(once(&s).is_ok());
    s.shutdown();
}

/// A 16×16 frame (2×2 thumbnail blocks) whose top-left block alone is at `level`: a scene that
/// moves over a quarter of the frame, which changes one of the two neighbour pairs of blocks
/// the static-scene guard compares (the top row's).
fn corner_frame(seq: u64, level: u16) -> Arc<RawFrame> {
    let data = (0..256)
        .map(|i| {
            if i % 16 < 8 && i / 16 < 8 {
                level
            } else {
                1000
            }
        })
        .collect();
    Arc::new(RawFrame {
        seq,
        timestamp: Instant::now(),
        width: 16,
        height: 16,
        data,
        sensor_temp_c: Some(30.0),
    })
}

/// Waits (on the worker's status, with a safety deadline that only turns a hang into a
/// failure) until `cond` holds for the state.
fn wait_state(s: &RefitScheduler, what: &str, cond: impl Fn(&RefitState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond(&s.status().state) {
        assert!(Instant::now() < deadline, "never reached: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_static_scene_guard_follows_the_configuration() {
    let (s, shared, _dir) = setup(
        "frames = 2
min_motion_dn = 1.0
min_moving_fraction = 0.75
",
    );
    for (i, level) in (0..40).map(|i| 1000 + i * 40).enumerate() {
        s.offer_frame(&corner_frame(i as u64, level));
        std::thread::sleep(Duration::from_millis(5));
        if s.status().frames_held >= 2 {
            break;
        }
    }
    assert_eq!(s.status().frames_held, 2);
    let id = s.request(FitRequest::default()).unwrap();
    // Half of the neighbour pairs moved: the guard holds the fit off at 0.75...
    wait_state(&s, "held off by the guard", |st| {
        matches!(st, RefitState::Collecting { fit_id, moving, .. }
            if *fit_id == id && (*moving - 0.5).abs() < 1e-6)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        matches!(s.status().state, RefitState::Collecting { .. }),
        "{:?}",
        s.status().state
    );
    // ...and lets it start once the guard is lowered, without a restart.
    change(&shared, "fit.min_moving_fraction", "0.4");
    wait_state(
        &s,
        "the fit started",
        |st| matches!(st, RefitState::Running { fit_id, .. } if *fit_id == id),
    );
    assert!(s.abort());
    s.shutdown();
}
