//! The refit scheduler on its own, with a stand-in estimator: the temperature-drift trigger,
//! the hourly compute budget, and aborting a running fit. What the scheduler decided is read
//! from what the estimator was handed (its wall-time budget, its abort flag) and from the
//! events, never from how long anything took.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use edge::config::{EdgeConfig, FitSection, LiveConfig};
use edge::events::{DaemonEvent, EventBus, FitEnd};
use edge::frame::RawFrame;
use edge::pattern_cache::PatternCache;
use edge::refit::{FitRequest, RefitError, RefitScheduler, RefitShared};
use edge::stats::Stats;
use engine::nuc::{
    Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern, PatternEstimator,
};

static FITS: AtomicU32 = AtomicU32::new(0);

/// The wall-time budget the last fit was given, ms (`u32::MAX` = none).
static LAST_MAX_WALL_MS: AtomicU32 = AtomicU32::new(u32::MAX);

/// Whether the last fit saw its abort flag raised.
static LAST_ABORTED: AtomicBool = AtomicBool::new(false);

/// Returns a flat pattern after `FIT_MS` (or when aborted / out of wall time).
struct FakeEstimator;

static FIT_MS: AtomicU32 = AtomicU32::new(10);

impl PatternEstimator for FakeEstimator {
    fn method(&self) -> Method {
        Method::ColMean
    }

    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        _progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        FITS.fetch_add(1, Ordering::SeqCst);
        LAST_MAX_WALL_MS.store(
            budget.max_wall.map_or(u32::MAX, |d| {
                d.as_millis().min(u128::from(u32::MAX - 1)) as u32
            }),
            Ordering::SeqCst,
        );
        let start = Instant::now();
        let want = Duration::from_millis(u64::from(FIT_MS.load(Ordering::SeqCst)));
        let wall = budget.max_wall.unwrap_or(want).min(want);
        let mut aborted = false;
        while start.elapsed() < wall {
            if budget
                .abort
                .as_ref()
                .is_some_and(|a| a.load(Ordering::Relaxed))
            {
                aborted = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        LAST_ABORTED.store(aborted, Ordering::SeqCst);
        Ok(FitOutcome {
            pattern: Pattern::zeros(frames.width(), frames.height()),
            loss: 1.0,
            steps: 1,
            duration: start.elapsed(),
            aborted,
            method: Method::ColMean,
        })
    }
}

fn fake_factory(_: &FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError> {
    Ok((Box::new(FakeEstimator), "fake".into()))
}

/// A 16×16 frame at `level` whose right half is 100 DN brighter for every `seq`: its two 8×8
/// thumbnail blocks change differently between any two frames, which the static-scene guard
/// counts as motion (a uniform level change alone is not).
fn frame(seq: u64, level: u16, temp: f32) -> Arc<RawFrame> {
    Arc::new(RawFrame {
        seq,
        timestamp: Instant::now(),
        width: 16,
        height: 16,
        data: (0..256)
            .map(|i| level + if i % 16 >= 8 { 100 * seq as u16 } else { 0 })
            .collect(),
        sensor_temp_c: Some(temp),
    })
}

fn setup(extra: &str) -> (RefitScheduler, RefitShared, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        "[camera]\nsource = \"sim\"\nwidth = 16\nheight = 16\n[pattern]\nstore = \"{}\"\n{extra}",
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let shared = RefitShared {
        cache: Arc::new(PatternCache::new(dir.path().join("p.dnp"), (16, 16))),
        stats: Arc::new(Stats::default()),
        events: Arc::new(EventBus::default()),
        config: LiveConfig::new(cfg),
    };
    (
        RefitScheduler::start(shared.clone(), fake_factory).unwrap(),
        shared,
        dir,
    )
}

fn feed(s: &RefitScheduler, shared: &RefitShared, n: u64, temp: f32) {
    shared.stats.sensor_temp_c.set(Some(temp));
    for i in 0..n {
        s.offer_frame(&frame(i, 1000 + (i as u16 % 4) * 200, temp));
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn wait_done(rx: &std::sync::mpsc::Receiver<DaemonEvent>) -> (u32, FitEnd, String) {
    let t = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(DaemonEvent::FitDone {
                fit_id,
                outcome,
                detail,
                ..
            }) => return (fit_id, outcome, detail),
            _ => assert!(t.elapsed() < Duration::from_secs(20), "no fit finished"),
        }
    }
}

// One test function: the scenarios share the global fake's counters.
#[test]
fn triggers_budget_and_abort() {
    // 1. No pattern → initial fit; a temperature drift beyond the threshold → refit.
    FIT_MS.store(10, Ordering::SeqCst);
    let (s, shared, _dir) = setup(
        "[fit]\nframes = 2\ncollect_interval_ms = 0\nmin_motion_dn = 1.0\n[fit.triggers]\ntemp_drift_c = 1.0\nmin_interval_s = 0\nroughness_rise = 0.0\n",
    );
    let rx = shared.events.subscribe(256);
    let before = FITS.load(Ordering::SeqCst);
    feed(&s, &shared, 6, 30.0);
    let (_, outcome, detail) = wait_done(&rx);
    assert_eq!(outcome, FitEnd::Completed, "{detail}");
    assert!(detail.contains("no pattern"), "{detail}");
    let p = shared.cache.current().unwrap();
    assert!((p.meta.sensor_temp_c.unwrap() - 30.0).abs() < 1e-3);
    // Below the threshold: no refit. A wrong one (0.50 °C from the pattern) would be the next
    // fit to end, ahead of the one the 31.6 °C frames trigger (1.60 °C).
    feed(&s, &shared, 6, 30.5);
    feed(&s, &shared, 6, 31.6);
    let (_, outcome, detail) = wait_done(&rx);
    assert_eq!(outcome, FitEnd::Completed);
    assert!(
        detail.contains("temperature drifted 1.60"),
        "refit below the drift threshold: {detail}"
    );
    assert_eq!(FITS.load(Ordering::SeqCst), before + 2);
    s.shutdown();

    // 2. Budget: 1 compute-second per hour; a fit is cut at the budget, the next is refused.
    FIT_MS.store(5000, Ordering::SeqCst);
    let (s, shared, _dir) = setup(
        "[fit]\nframes = 2\ncollect_interval_ms = 0\nmin_motion_dn = 1.0\nfit_on_start = false\n[fit.budget]\ngpu_seconds_per_hour = 1.0\n",
    );
    let rx = shared.events.subscribe(256);
    feed(&s, &shared, 4, 30.0);
    s.request(FitRequest::default()).unwrap();
    let (_, outcome, _) = wait_done(&rx);
    assert_eq!(outcome, FitEnd::Completed);
    // The 5 s fit was handed at most the hour's one compute-second (as wall time at the duty
    // cycle).
    let duty = shared.config.load().fit.budget.duty_cycle;
    let wall = LAST_MAX_WALL_MS.load(Ordering::SeqCst);
    assert!(
        f64::from(wall) <= 1000.0 / f64::from(duty) + 1.0,
        "fit not cut at the budget: given {wall} ms at duty cycle {duty}"
    );
    match s.request(FitRequest::default()) {
        Err(RefitError::Budget(wait_s)) => assert!(wait_s > 3000, "{wait_s}"),
        other => panic!("expected a budget refusal, got {other:?}"),
    }
    s.shutdown();

    // 3. Abort: a long fit stops at once and installs nothing.
    FIT_MS.store(10_000, Ordering::SeqCst);
    let (s, shared, _dir) = setup(
        "[fit]\nframes = 2\ncollect_interval_ms = 0\nmin_motion_dn = 1.0\nfit_on_start = false\n",
    );
    let rx = shared.events.subscribe(256);
    feed(&s, &shared, 4, 30.0);
    s.request(FitRequest::default()).unwrap();
    let t = Instant::now();
    while !matches!(s.status().state, edge::refit::RefitState::Running { .. }) {
        assert!(t.elapsed() < Duration::from_secs(60), "fit did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(
        s.request(FitRequest::default()),
        Err(RefitError::Busy(_))
    ));
    assert!(s.abort());
    let (_, outcome, _) = wait_done(&rx);
    assert_eq!(outcome, FitEnd::Aborted);
    // It stopped for the abort flag (the 10 s fit had no wall budget to run out).
    assert!(
        LAST_ABORTED.load(Ordering::SeqCst),
        "the fit never saw the abort"
    );
    assert!(shared.cache.current().is_none());
    s.shutdown();
}
