//! The refit loop's promises, with stand-in estimators: the static-scene guard holds fits off
//! until the scene moves, the first stage of a fit is served before the fit ends, and on a
//! simulated clock a fit's pattern lands its real duration after its start, with the clock
//! held meanwhile.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge::clock::{Clock, SimClock};
use edge::config::{EdgeConfig, FitSection, LiveConfig};
use edge::events::{DaemonEvent, EventBus, FitEnd};
use edge::frame::RawFrame;
use edge::pattern_cache::PatternCache;
use edge::refit::{FitRequest, RefitScheduler, RefitShared, RefitState};
use edge::stats::Stats;
use engine::nuc::{
    Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern, PatternEstimator,
};

const W: usize = 64;
const H: usize = 48;

/// Serves a first-stage pattern, then waits until `RELEASE` is set (or `FIT_MS` passed).
struct StagedEstimator;

static FITS: AtomicU32 = AtomicU32::new(0);
static FIT_MS: AtomicU32 = AtomicU32::new(0);
static RELEASE: AtomicBool = AtomicBool::new(true);
/// Serialises the tests (they share the statics above).
static SERIAL: Mutex<()> = Mutex::new(());
/// The simulated clock of the test that has one, and its time at the fit's start and end.
static SIM: Mutex<Option<Arc<SimClock>>> = Mutex::new(None);
static SEEN: Mutex<Option<(Duration, Duration)>> = Mutex::new(None);

fn sim_elapsed() -> Option<Duration> {
    SIM.lock().unwrap().as_ref().map(|c| c.elapsed())
}

impl PatternEstimator for StagedEstimator {
    fn method(&self) -> Method {
        Method::TvDip
    }

    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        self.estimate_staged(frames, budget, &mut |_| {}, progress)
    }

    fn estimate_staged(
        &mut self,
        frames: &FrameSet,
        _budget: &Budget,
        interim: &mut dyn FnMut(&Pattern),
        _progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        FITS.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let sim_start = sim_elapsed();
        let (w, h) = (frames.width(), frames.height());
        let bowl: Vec<f32> = (0..w * h).map(|i| column_bowl(i % w)).collect();
        interim(&Pattern::new(w, h, bowl.clone())?);
        let want = Duration::from_millis(u64::from(FIT_MS.load(Ordering::SeqCst)));
        while !RELEASE.load(Ordering::SeqCst) || start.elapsed() < want {
            std::thread::sleep(Duration::from_millis(2));
        }
        if let (Some(a), Some(b)) = (sim_start, sim_elapsed()) {
            *SEEN.lock().unwrap() = Some((a, b));
        }
        Ok(FitOutcome {
            pattern: Pattern::new(w, h, bowl.iter().map(|v| 2.0 * v).collect())?,
            loss: 1.0,
            steps: 1,
            duration: start.elapsed(),
            aborted: false,
            method: Method::TvDip,
        })
    }
}

fn staged(_: &FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError> {
    Ok((Box::new(StagedEstimator), "staged".into()))
}

/// A textured scene (fine grain and structure at the scale of the 8×8 thumbnail blocks, as
/// buildings and trees have) shifted by `dx` columns, with a 6×6 warm square at `sq`.
fn frame(seq: u64, dx: usize, sq: Option<(usize, usize)>) -> Arc<RawFrame> {
    frame_with_pattern(seq, dx, sq, 0)
}

/// The stand-in's column profile: a bowl across the columns, up to 50 DN (curved, since the
/// loop never serves a network's tilt: no camera motion tells a ramp from scene).
fn column_bowl(x: usize) -> f32 {
    0.05 * (x as f32 - (W as f32 - 1.0) / 2.0).powi(2)
}

/// The same plus `scale` × [`column_bowl`] (a sensor pattern).
fn frame_with_pattern(
    seq: u64,
    dx: usize,
    sq: Option<(usize, usize)>,
    scale: u16,
) -> Arc<RawFrame> {
    let mut data: Vec<u16> = (0..W * H)
        .map(|i| {
            let (x, y) = ((i % W + dx) % W, i / W);
            1000 + ((x * 37 + y * 11) % 23) as u16 * 40
                + ((x / 6 + (y / 6) * 3) % 5) as u16 * 150
                + (f32::from(scale) * column_bowl(i % W)).round() as u16
        })
        .collect();
    if let Some((sx, sy)) = sq {
        for y in sy..sy + 6 {
            for x in sx..sx + 6 {
                data[y * W + x] = 3000;
            }
        }
    }
    Arc::new(RawFrame {
        seq,
        timestamp: Instant::now(),
        width: W as u32,
        height: H as u32,
        data,
        sensor_temp_c: Some(30.0),
    })
}

fn setup(
    extra: &str,
    clock: Option<Arc<SimClock>>,
) -> (RefitScheduler, RefitShared, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        "[camera]\nsource = \"sim\"\nwidth = {W}\nheight = {H}\n[pattern]\nstore = \"{}\"\n\
         [fit]\nmethod = \"tv-dip\"\nframes = 4\ncollect_interval_ms = 0\nmin_motion_dn = 1.0\n{extra}",
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let shared = RefitShared {
        cache: Arc::new(PatternCache::new(
            dir.path().join("p.dnp"),
            (W as u32, H as u32),
        )),
        stats: Arc::new(Stats::default()),
        events: Arc::new(EventBus::default()),
        config: LiveConfig::new(cfg),
    };
    let s = match clock {
        Some(c) => RefitScheduler::start_with_clock(shared.clone(), staged, Arc::new(c)),
        None => RefitScheduler::start(shared.clone(), staged),
    }
    .unwrap();
    (s, shared, dir)
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_done(rx: &std::sync::mpsc::Receiver<DaemonEvent>) -> FitEnd {
    let t = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(DaemonEvent::FitDone { outcome, .. }) => return outcome,
            _ => assert!(t.elapsed() < Duration::from_secs(20), "no fit finished"),
        }
    }
}

#[test]
fn a_static_scene_holds_refits_off_until_it_moves() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    RELEASE.store(true, Ordering::SeqCst);
    FIT_MS.store(0, Ordering::SeqCst);
    let (s, shared, _dir) = setup("min_moving_fraction = 0.5\nfit_on_start = true\n", None);
    let rx = shared.events.subscribe(256);
    let before = FITS.load(Ordering::SeqCst);
    // A camera staring at a static scene while a warm object walks across it: every frame
    // differs (the set fills), but only along the object's path.
    let mut seq = 0;
    wait_for("a full set of the static scene", || {
        seq += 1;
        s.offer_frame(&frame(seq, 0, Some(((seq as usize * 3) % (W - 6), 20))));
        s.status().frames_held >= 4
    });
    let t = Instant::now();
    wait_for("the guard to report", || {
        seq += 1;
        s.offer_frame(&frame(seq, 0, Some(((seq as usize * 3) % (W - 6), 20))));
        matches!(s.status().state, RefitState::Collecting { moving, have: 4, .. } if moving < 0.5)
            && t.elapsed() > Duration::from_millis(300)
    });
    assert_eq!(FITS.load(Ordering::SeqCst), before, "fitted a static scene");
    assert!(shared.cache.current().is_none());
    // A request is held off the same way.
    s.request(FitRequest::default()).unwrap();
    for _ in 0..20 {
        seq += 1;
        s.offer_frame(&frame(seq, 0, Some(((seq as usize * 3) % (W - 6), 20))));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        FITS.load(Ordering::SeqCst),
        before,
        "fitted a static scene on request"
    );
    // The camera pans: the whole scene moves across the sensor, the fit runs.
    for dx in 1..8 {
        seq += 1;
        s.offer_frame(&frame(seq, dx * 5, None));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(wait_done(&rx), FitEnd::Completed);
    assert_eq!(FITS.load(Ordering::SeqCst), before + 1);
    s.shutdown();
}

#[test]
fn the_first_stage_is_served_before_the_fit_ends() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    RELEASE.store(false, Ordering::SeqCst);
    FIT_MS.store(0, Ordering::SeqCst);
    let (s, shared, _dir) = setup("fit_on_start = false\n", None);
    let rx = shared.events.subscribe(256);
    // The frames carry the column profile the stand-in's final pattern has (twice its first
    // stage's), so the motion check supports the refinement.
    for dx in 0..6 {
        s.offer_frame(&frame_with_pattern(dx as u64, dx * 5, None, 2));
        std::thread::sleep(Duration::from_millis(5));
    }
    s.request(FitRequest::default()).unwrap();
    wait_for("the first stage", || {
        shared
            .cache
            .current()
            .is_some_and(|p| p.meta.method == "cp-tv")
    });
    assert!(
        matches!(s.status().state, RefitState::Running { .. }),
        "fit still running"
    );
    let first = shared.cache.current().unwrap();
    RELEASE.store(true, Ordering::SeqCst);
    assert_eq!(wait_done(&rx), FitEnd::Completed);
    let last = shared.cache.current().unwrap();
    assert_eq!(last.meta.method, "tv-dip");
    assert!((last.data[W - 1] - 2.0 * first.data[W - 1]).abs() < 1e-3);
    s.shutdown();
}

#[test]
fn on_a_simulated_clock_a_fit_lands_its_real_duration_after_it_started() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    RELEASE.store(true, Ordering::SeqCst);
    FIT_MS.store(300, Ordering::SeqCst);
    let clock = SimClock::new();
    *SIM.lock().unwrap() = Some(clock.clone());
    let origin_ms = clock.unix_ms();
    let (s, shared, _dir) = setup("fit_on_start = true\n", Some(clock.clone()));
    let rx = shared.events.subscribe(256);
    // 20 ms of camera time per frame, as fast as the driver can go.
    let mut t = Duration::ZERO;
    for seq in 0..2000u64 {
        t += Duration::from_millis(20);
        clock.advance_to(t);
        s.offer_frame(&frame(seq, (seq as usize * 5) % W, None));
        if shared
            .cache
            .current()
            .is_some_and(|p| p.meta.method == "tv-dip")
        {
            break;
        }
    }
    assert_eq!(wait_done(&rx), FitEnd::Completed);
    let (start, end) = SEEN.lock().unwrap().take().expect("the fit saw the clock");
    // Held all along, but for the moment the first stage was served (microseconds in).
    assert!(
        end - start < Duration::from_millis(20),
        "the camera ran on while the fit computed: {start:?} -> {end:?}"
    );
    let landed = Duration::from_millis(shared.cache.current().unwrap().meta.unix_ms - origin_ms);
    // Landed its real duration (≥ 300 ms) after the start, not at once and not much later.
    assert!(
        landed >= start + Duration::from_millis(300),
        "{start:?} -> {landed:?}"
    );
    assert!(
        landed <= start + Duration::from_secs(3),
        "{start:?} -> {landed:?}"
    );
    assert!(!clock.held());
    *SIM.lock().unwrap() = None;
    s.shutdown();
}
