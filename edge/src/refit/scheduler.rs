//! The refit scheduler thread and its handle (see the module docs of `refit`).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tracing::{debug, info, warn};

use super::{ComputeLedger, FrameSetCollector, motion_check, static_guard};
use crate::clock::{Clock, ClockHold, WallClock};
use crate::config::{EdgeConfig, FitSection};
use crate::events::{DaemonEvent, EventBus, FitEnd};
use crate::frame::RawFrame;
use crate::pattern_cache::PatternCache;
use crate::stats::{LastFit, Stats};
use engine::nuc::{self, Budget, FitOutcome, FrameSet, Method, NucError, PatternEstimator};
use formats::pattern::{PatternMeta, StoredPattern};

/// What the scheduler shares with the rest of the daemon.
#[derive(Clone)]
pub struct RefitShared {
    /// Where fitted patterns go.
    pub cache: Arc<PatternCache>,
    /// Counters (roughness, temperature in; last fit out).
    pub stats: Arc<Stats>,
    /// Fit progress and results out.
    pub events: Arc<EventBus>,
    /// The live configuration.
    pub config: Arc<ArcSwap<EdgeConfig>>,
}

/// Builds the estimator for the fit section; the returned string says which method and
/// device it will use (after any fallback).
pub type EstimatorFactory =
    fn(&FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError>;

/// The default factory: the configured method on the configured device, or the configured
/// CPU method on the CPU when that device cannot be opened (no GPU, or CUDA not built in).
pub fn build_estimator(fit: &FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError> {
    let mut cfg = nuc::FitConfig::preset(&fit.preset)?;
    let mut method: Method = fit.method.parse()?;
    cfg.device = fit.device.clone();
    cfg.max_memory_mb = fit.max_memory_mb.or(cfg.max_memory_mb);
    if fit.downscale > 0 {
        cfg.downscale = fit.downscale;
    }
    if fit.device != "cpu"
        && let Err(e) = nuc::device::open_device(&fit.device)
    {
        warn!(device = %fit.device, error = %e, fallback = %fit.cpu_method,
              "fit device unavailable; using the CPU method");
        method = fit.cpu_method.parse()?;
        cfg.device = "cpu".into();
    }
    let desc = format!("{method} on {}", cfg.device);
    Ok((nuc::estimator(method, &cfg)?, desc))
}

/// A fit asked for over the link (or by `dipnuc demo`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitRequest {
    /// Method instead of `fit.method` (`tv-dip`, `cp-tv`, `colmean`).
    pub method: Option<String>,
    /// Engine preset instead of `fit.preset`.
    pub preset: Option<String>,
    /// Wall-clock limit below `fit.budget.max_seconds`.
    pub max_seconds: Option<f32>,
    /// Step limit below `fit.budget.max_steps`.
    pub max_steps: Option<u32>,
}

/// Why a fit request was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RefitError {
    /// A fit is already running.
    #[error("fit {0} is already running")]
    Busy(u32),
    /// The hourly compute budget is used up.
    #[error("fit budget for this hour is used up; next fit possible in {0} s")]
    Budget(u64),
    /// The preset or method is not known.
    #[error("{0}")]
    Invalid(String),
    /// The scheduler is not running.
    #[error("refit scheduler stopped")]
    Stopped,
}

/// What the scheduler is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum RefitState {
    /// Nothing to do.
    Idle,
    /// A fit is due but the frame set is not diverse enough yet: too few frames, or the scene
    /// moved over too little of the frame (the static-scene guard).
    Collecting {
        /// Fit id it will get.
        fit_id: u32,
        /// Frames held.
        have: usize,
        /// Frames needed.
        need: usize,
        /// Share of the frame over which the set's scene moved (0..=1).
        moving: f32,
    },
    /// A fit runs.
    Running {
        /// Fit id.
        fit_id: u32,
        /// Steps done.
        step: u32,
        /// Steps planned.
        total_steps: u32,
        /// Current loss.
        loss: f32,
        /// ms since it started.
        elapsed_ms: u64,
    },
    /// A fit is due but the budget is used up.
    WaitingForBudget {
        /// Seconds until it can start.
        seconds: u64,
    },
}

/// Scheduler status for `CalibrateStatus`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefitStatus {
    /// Now.
    pub state: RefitState,
    /// The last finished fit: id, outcome, detail.
    pub last: Option<(u32, FitEnd, String)>,
    /// Frames in the collected set.
    pub frames_held: usize,
}

enum Command {
    Request(FitRequest, Sender<Result<u32, RefitError>>),
    Abort(Sender<bool>),
    Shutdown,
}

/// Handle of the scheduler thread.
pub struct RefitScheduler {
    commands: Sender<Command>,
    frames: SyncSender<Arc<RawFrame>>,
    status: Arc<Mutex<RefitStatus>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RefitScheduler {
    /// Starts the scheduler thread on the wall clock.
    pub fn start(shared: RefitShared, factory: EstimatorFactory) -> RefitScheduler {
        RefitScheduler::start_with_clock(shared, factory, Arc::new(WallClock))
    }

    /// Starts the scheduler thread on `clock` (a simulated clock in the drift bench).
    pub fn start_with_clock(
        shared: RefitShared,
        factory: EstimatorFactory,
        clock: Arc<dyn Clock>,
    ) -> RefitScheduler {
        let (ctx, crx) = mpsc::channel();
        let (ftx, frx) = mpsc::sync_channel(2);
        let status = Arc::new(Mutex::new(RefitStatus {
            state: RefitState::Idle,
            last: None,
            frames_held: 0,
        }));
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("dipnuc-refit".into())
            .spawn(move || Worker::new(shared, factory, st, clock).run(crx, frx))
            .expect("spawn refit scheduler thread");
        RefitScheduler {
            commands: ctx,
            frames: ftx,
            status,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Offers a captured frame for the fit set (never blocks; dropped when the scheduler is busy).
    pub fn offer_frame(&self, frame: &Arc<RawFrame>) {
        let _ = self.frames.try_send(frame.clone());
    }

    /// Offers a frame and waits while the scheduler's queue is full: for a simulated camera
    /// (the drift bench), which must not outrun the daemon it feeds.
    pub fn offer_frame_waiting(&self, frame: &Arc<RawFrame>) {
        let _ = self.frames.send(frame.clone());
    }

    /// Asks for a fit; returns the id it will have. It starts as soon as enough frames are
    /// collected.
    pub fn request(&self, req: FitRequest) -> Result<u32, RefitError> {
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Command::Request(req, tx))
            .map_err(|_| RefitError::Stopped)?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| RefitError::Stopped)?
    }

    /// Aborts the running or pending fit; returns whether there was one.
    pub fn abort(&self) -> bool {
        let (tx, rx) = mpsc::channel();
        if self.commands.send(Command::Abort(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
    }

    /// The current status.
    pub fn status(&self) -> RefitStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Aborts any fit and stops the thread (waits for the fit to return and for a pattern
    /// save in progress to finish). Later calls do nothing.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for RefitScheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The estimator back, the outcome, and the fit's real duration.
type FitResult = (
    Box<dyn PatternEstimator>,
    Result<FitOutcome, NucError>,
    Duration,
);

type EstimatorKey = (String, String, String, String);

struct Job {
    fit_id: u32,
    key: EstimatorKey,
    reason: String,
    temp: Option<f32>,
    duty: f32,
    started: Instant,
    handle: Option<JoinHandle<FitResult>>,
    /// The thread's result once it ended, and the instant it lands at (start + real duration:
    /// now on the wall clock, later on a simulated one).
    ended: Option<(std::thread::Result<FitResult>, Instant)>,
    /// A pattern served before the fit ends (CP-TV under TV-DIP), and when it lands.
    interim: Option<(nuc::Pattern, Instant)>,
    interim_rx: Receiver<(nuc::Pattern, Duration)>,
    /// Keeps a simulated clock from running past the fit (see `clock`).
    hold: ClockHold,
    method: String,
}

struct Pending {
    fit_id: u32,
    reason: String,
    req: FitRequest,
    since: Instant,
}

/// How long a due fit waits for a full, diverse frame set before it makes do with fewer
/// (a static scene yields few distinct frames).
const FULL_SET_WAIT: Duration = Duration::from_secs(20);

/// Frames a fit needs: the configured set, or at least 2 once it has waited long enough.
fn frames_needed(configured: usize, waited: Duration) -> usize {
    if waited >= FULL_SET_WAIT {
        2
    } else {
        configured.max(2)
    }
}

struct Worker {
    shared: RefitShared,
    clock: Arc<dyn Clock>,
    factory: EstimatorFactory,
    status: Arc<Mutex<RefitStatus>>,
    collector: FrameSetCollector,
    ledger: ComputeLedger,
    /// Estimators by (method, cpu method, preset, device): kept between fits (TV-DIP
    /// warm-starts), also across a fit that fell back to the CPU method.
    estimators: std::collections::HashMap<EstimatorKey, Box<dyn PatternEstimator>>,
    next_id: u32,
    pending: Option<Pending>,
    job: Option<Job>,
    abort: Arc<AtomicBool>,
    progress: Arc<ProgressCell>,
    last_collect: Option<Instant>,
    last_auto: Option<Instant>,
    roughness_baseline: Option<f32>,
    baseline_after: Option<Instant>,
    budget_warned: bool,
    /// Compute the last fit of each method used (what the next one will likely need).
    last_cost: std::collections::HashMap<String, Duration>,
}

/// Latest progress of the running fit, shared with the fit thread.
#[derive(Default)]
struct ProgressCell {
    step: AtomicU32,
    total: AtomicU32,
    loss_bits: AtomicU32,
}

fn state_path(store: &std::path::Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".state.safetensors");
    PathBuf::from(s)
}

impl Worker {
    fn new(
        shared: RefitShared,
        factory: EstimatorFactory,
        status: Arc<Mutex<RefitStatus>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let cfg = shared.config.load();
        let now = clock.now();
        let f = &cfg.fit;
        Worker {
            collector: FrameSetCollector::new(
                f.frames,
                f.min_motion_dn,
                f.triggers.temp_drift_c / 2.0,
            ),
            ledger: ComputeLedger::new(Duration::from_secs_f32(f.budget.gpu_seconds_per_hour)),
            shared,
            clock,
            factory,
            status,
            estimators: Default::default(),
            next_id: 1,
            pending: None,
            job: None,
            abort: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(ProgressCell::default()),
            last_collect: None,
            last_auto: None,
            roughness_baseline: None,
            baseline_after: Some(now + Duration::from_secs(2)),
            budget_warned: false,
            last_cost: Default::default(),
        }
    }

    fn run(mut self, commands: Receiver<Command>, frames: Receiver<Arc<RawFrame>>) {
        loop {
            match frames.recv_timeout(Duration::from_millis(50)) {
                Ok(f) => self.collect(f),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {}
            }
            let mut shutdown = false;
            while let Ok(cmd) = commands.try_recv() {
                match cmd {
                    Command::Request(req, reply) => {
                        let _ = reply.send(self.request(req));
                    }
                    Command::Abort(reply) => {
                        let had = self.job.is_some() || self.pending.is_some();
                        self.abort.store(true, Ordering::Relaxed);
                        if let Some(p) = self.pending.take() {
                            self.publish_done(
                                p.fit_id,
                                FitEnd::Aborted,
                                0.0,
                                0,
                                0,
                                "aborted before it started".into(),
                            );
                        }
                        let _ = reply.send(had);
                    }
                    Command::Shutdown => shutdown = true,
                }
            }
            if shutdown {
                self.abort.store(true, Ordering::Relaxed);
                if let Some(h) = self.job.take().and_then(|j| j.handle) {
                    let _ = h.join();
                }
                return;
            }
            self.poll_job();
            if self.job.is_none() {
                self.check_triggers();
                self.maybe_start();
            }
            self.update_status();
        }
    }

    /// Lands what the fit thread produced once the clock has reached the time it took: the
    /// interim pattern, then the result.
    fn poll_job(&mut self) {
        let now = self.clock.now();
        let Some(job) = self.job.as_mut() else {
            return;
        };
        while let Ok((pattern, after)) = job.interim_rx.try_recv() {
            let at = job.started + after;
            job.hold.release_until(at);
            job.interim = Some((pattern, at));
        }
        if job.interim.as_ref().is_some_and(|(_, at)| now >= *at) {
            let (pattern, _) = job.interim.take().expect("checked");
            let (fit_id, temp) = (job.fit_id, job.temp);
            self.install_interim(fit_id, temp, pattern);
        }
        let Some(job) = self.job.as_mut() else {
            return;
        };
        if job.ended.is_none() && job.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let r = job.handle.take().expect("checked").join();
            let real = r.as_ref().map_or(Duration::ZERO, |r| r.2);
            let at = job.started + real;
            job.hold.release_until(at);
            job.ended = Some((r, at));
        }
        if job.interim.is_none() && job.ended.as_ref().is_some_and(|(_, at)| now >= *at) {
            let mut job = self.job.take().expect("checked");
            let (r, at) = job.ended.take().expect("checked");
            self.finish(job, r, at);
        }
    }

    /// Serves the first stage of a fit (CP-TV under TV-DIP) while the network still refines.
    fn install_interim(&mut self, fit_id: u32, temp: Option<f32>, pattern: nuc::Pattern) {
        let cfg = self.shared.config.load();
        let (w, h) = (pattern.width() as u32, pattern.height() as u32);
        let stored = StoredPattern {
            width: w,
            height: h,
            data: pattern.into_data(),
            meta: PatternMeta {
                camera: cfg.camera.name.clone(),
                sensor_temp_c: temp,
                unix_ms: self.clock.unix_ms(),
                fit_loss: None,
                method: "cp-tv".into(),
                steps: 0,
                duration_ms: 0,
            },
        };
        match self.shared.cache.install(stored) {
            Ok(_) => info!(fit_id, "first stage served (cp-tv); the network refines it"),
            Err(e) => warn!(fit_id, error = %e, "first-stage pattern not installed"),
        }
    }

    fn collect(&mut self, f: Arc<RawFrame>) {
        let cfg = self.shared.config.load();
        let interval = Duration::from_millis(cfg.fit.collect_interval_ms);
        let now = self.clock.now();
        if self
            .last_collect
            .is_some_and(|t| now.duration_since(t) < interval)
        {
            return;
        }
        self.last_collect = Some(now);
        self.collector.offer(f);
    }

    fn request(&mut self, req: FitRequest) -> Result<u32, RefitError> {
        if let Some(j) = &self.job {
            return Err(RefitError::Busy(j.fit_id));
        }
        if let Some(p) = &req.preset
            && !p.is_empty()
        {
            nuc::FitConfig::preset(p).map_err(|e| RefitError::Invalid(e.to_string()))?;
        }
        if let Some(m) = &req.method {
            m.parse::<Method>()
                .map_err(|e| RefitError::Invalid(e.to_string()))?;
        }
        let need = Duration::from_secs(1);
        let now = self.clock.now();
        if self.ledger.remaining(now) < need {
            let at = self.ledger.available_at(now, need);
            return Err(RefitError::Budget(at.duration_since(now).as_secs() + 1));
        }
        let fit_id = match &self.pending {
            Some(p) => p.fit_id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                id
            }
        };
        let since = self.pending.as_ref().map_or(now, |p| p.since);
        self.pending = Some(Pending {
            fit_id,
            reason: "requested".into(),
            req,
            since,
        });
        Ok(fit_id)
    }

    fn check_triggers(&mut self) {
        if self.pending.is_some() {
            return;
        }
        let cfg = self.shared.config.load();
        let t = &cfg.fit.triggers;
        let now = self.clock.now();
        let stats = &self.shared.stats;
        let current = self.shared.cache.current();
        // Roughness baseline: the first reading a little after a pattern was installed.
        if let Some(after) = self.baseline_after
            && now >= after
            && let Some(r) = stats.roughness.get()
        {
            self.roughness_baseline = Some(r);
            self.baseline_after = None;
        }
        let too_soon = self
            .last_auto
            .is_some_and(|l| now.duration_since(l) < Duration::from_secs(t.min_interval_s));
        let reason = match &current {
            // Retried after `min_interval_s` when an earlier attempt failed or was aborted.
            None if cfg.fit.fit_on_start && !too_soon => Some("no pattern yet".to_string()),
            None => None,
            Some(p) => {
                if too_soon {
                    None
                } else {
                    let age_s = self.clock.unix_ms().saturating_sub(p.meta.unix_ms) / 1000;
                    let temp_now = stats.sensor_temp_c.get();
                    let rough = stats.roughness.get();
                    if t.max_age_s > 0 && age_s > t.max_age_s {
                        Some(format!("pattern age {age_s} s > {} s", t.max_age_s))
                    } else if let (true, Some(tp), Some(tn)) =
                        (t.temp_drift_c > 0.0, p.meta.sensor_temp_c, temp_now)
                        && (tn - tp).abs() > t.temp_drift_c
                    {
                        Some(format!("sensor temperature drifted {:.2} °C", tn - tp))
                    } else if let (true, Some(base), Some(r)) =
                        (t.roughness_rise > 0.0, self.roughness_baseline, rough)
                        && r > base * (1.0 + t.roughness_rise)
                    {
                        Some(format!("roughness rose from {base:.4} to {r:.4}"))
                    } else {
                        None
                    }
                }
            }
        };
        if let Some(reason) = reason {
            let fit_id = self.next_id;
            self.next_id += 1;
            info!(fit_id, %reason, "refit due");
            self.pending = Some(Pending {
                fit_id,
                reason,
                req: FitRequest::default(),
                since: now,
            });
        }
    }

    fn maybe_start(&mut self) {
        let Some(since) = self.pending.as_ref().map(|p| p.since) else {
            return;
        };
        let cfg = self.shared.config.load_full();
        let fit = &cfg.fit;
        let now = self.clock.now();
        if self.collector.len() < frames_needed(fit.frames, now.duration_since(since)) {
            return;
        }
        let moving = static_guard::moving_fraction(self.collector.thumbnails(), fit.min_motion_dn);
        if !static_guard::may_fit(moving, fit.min_moving_fraction) {
            return;
        }
        let remaining = self.ledger.remaining(now);
        if remaining < Duration::from_secs(1) {
            if !self.budget_warned {
                let at = self.ledger.available_at(now, Duration::from_secs(1));
                warn!(
                    wait_s = at.duration_since(now).as_secs(),
                    "refit due but this hour's fit budget is used up"
                );
                self.budget_warned = true;
            }
            return;
        }
        self.budget_warned = false;
        let p = self.pending.take().expect("checked");
        let mut fit_cfg = fit.clone();
        if let Some(preset) = p.req.preset.as_ref().filter(|s| !s.is_empty()) {
            fit_cfg.preset = preset.clone();
        }
        if let Some(method) = &p.req.method {
            fit_cfg.method = method.clone();
        }
        // The network only when this hour's budget still affords a fit like its last one;
        // otherwise the CPU method, so a due refit is never skipped.
        if let Some(cost) = self.last_cost.get(&fit_cfg.method)
            && fit_cfg.method != fit_cfg.cpu_method
            && remaining < *cost
        {
            info!(method = %fit_cfg.method, fallback = %fit_cfg.cpu_method,
                  remaining_s = remaining.as_secs_f32(), cost_s = cost.as_secs_f32(),
                  "budget left is below the method's last fit; using the CPU method");
            fit_cfg.method = fit_cfg.cpu_method.clone();
        }
        let key = (
            fit_cfg.method.clone(),
            fit_cfg.cpu_method.clone(),
            format!("{}/{}", fit_cfg.preset, fit_cfg.downscale),
            fit_cfg.device.clone(),
        );
        if !self.estimators.contains_key(&key) {
            match (self.factory)(&fit_cfg) {
                Ok((mut est, desc)) => {
                    let sp = state_path(self.shared.cache.path());
                    if sp.exists() {
                        match est.load_state(&sp) {
                            Ok(true) => info!(path = %sp.display(), "warm start state loaded"),
                            Ok(false) => {}
                            Err(e) => {
                                warn!(path = %sp.display(), error = %e, "warm start state ignored")
                            }
                        }
                    }
                    info!(estimator = %desc, "fit estimator ready");
                    self.estimators.insert(key.clone(), est);
                }
                Err(e) => {
                    warn!(fit_id = p.fit_id, error = %e, "cannot build the fit estimator");
                    self.publish_done(p.fit_id, FitEnd::Failed, 0.0, 0, 0, e.to_string());
                    self.last_auto = Some(now);
                    return;
                }
            }
        }
        let mut est = self.estimators.remove(&key).expect("built above");
        let b = &fit_cfg.budget;
        let max_steps = p
            .req
            .max_steps
            .filter(|&s| s > 0)
            .map_or(b.max_steps, |s| s.min(b.max_steps));
        let mut wall = Duration::from_secs_f32(b.max_seconds);
        if let Some(s) = p.req.max_seconds.filter(|&s| s > 0.0) {
            wall = wall.min(Duration::from_secs_f32(s));
        }
        // Compute time = wall × duty cycle; never let one fit overrun the hourly allowance.
        wall = wall.min(remaining.div_f32(b.duty_cycle));
        self.abort.store(false, Ordering::Relaxed);
        let budget = Budget {
            max_steps: Some(max_steps),
            max_wall: Some(wall),
            duty_cycle: Some(b.duty_cycle),
            abort: Some(self.abort.clone()),
        };
        let frames = self.collector.frames();
        let temp = self.collector.mean_temp();
        let nice = b.nice;
        let events = self.shared.events.clone();
        let progress = self.progress.clone();
        progress.step.store(0, Ordering::Relaxed);
        progress.total.store(max_steps, Ordering::Relaxed);
        let fit_id = p.fit_id;
        self.shared
            .stats
            .running_fit
            .store(fit_id, Ordering::Relaxed);
        info!(fit_id, reason = %p.reason, frames = frames.len(), max_steps,
              max_seconds = wall.as_secs_f32(), "fit started");
        // The first calibration serves the classical stage at once (TV-DIP's CP-TV start).
        let serve_interim = self.shared.cache.current().is_none();
        let (interim_tx, interim_rx) = mpsc::channel();
        let hold = self.clock.hold();
        let handle = std::thread::Builder::new()
            .name("dipnuc-fit".into())
            .spawn(move || {
                lower_priority(nice);
                let start = Instant::now();
                let mut base = None;
                let mut interim = |p: &nuc::Pattern| {
                    if serve_interim {
                        let _ = interim_tx.send((p.clone(), start.elapsed()));
                    }
                    base = Some(p.clone());
                };
                let result = run_fit(
                    est.as_mut(),
                    &frames,
                    &budget,
                    fit_id,
                    &events,
                    &progress,
                    &mut interim,
                )
                .map(|out| keep_what_motion_supports(out, base, &frames, fit_id));
                (est, result, start.elapsed())
            })
            .expect("spawn fit thread");
        self.job = Some(Job {
            fit_id,
            key,
            reason: p.reason,
            temp,
            duty: b.duty_cycle,
            started: now,
            handle: Some(handle),
            ended: None,
            interim: None,
            interim_rx,
            hold,
            method: fit_cfg.method.clone(),
        });
    }

    fn finish(&mut self, job: Job, ended: std::thread::Result<FitResult>, now: Instant) {
        self.shared.stats.running_fit.store(0, Ordering::Relaxed);
        self.last_auto = Some(now);
        let wall = now.duration_since(job.started);
        let compute = wall.mul_f32(job.duty);
        self.ledger.record(now, compute);
        self.last_cost.insert(job.method.clone(), compute);
        self.shared
            .stats
            .fit_seconds_last_hour
            .set(Some(self.ledger.used(now).as_secs_f32()));
        let (est, result, _) = match ended {
            Ok(r) => r,
            Err(_) => {
                warn!(fit_id = job.fit_id, "fit thread panicked");
                self.publish_done(
                    job.fit_id,
                    FitEnd::Failed,
                    0.0,
                    0,
                    wall.as_millis() as u64,
                    "fit thread panicked".into(),
                );
                return;
            }
        };
        self.estimators.insert(job.key.clone(), est);
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                warn!(fit_id = job.fit_id, error = %e, "fit failed");
                self.publish_done(
                    job.fit_id,
                    FitEnd::Failed,
                    0.0,
                    0,
                    wall.as_millis() as u64,
                    e.to_string(),
                );
                return;
            }
        };
        let duration_ms = out.duration.as_millis() as u64;
        if out.aborted && self.abort.load(Ordering::Relaxed) {
            info!(
                fit_id = job.fit_id,
                steps = out.steps,
                "fit aborted; pattern kept"
            );
            self.publish_done(
                job.fit_id,
                FitEnd::Aborted,
                out.loss,
                out.steps,
                duration_ms,
                "aborted".into(),
            );
            return;
        }
        let cfg = self.shared.config.load();
        let (w, h) = (out.pattern.width() as u32, out.pattern.height() as u32);
        let stored = StoredPattern {
            width: w,
            height: h,
            data: out.pattern.into_data(),
            meta: PatternMeta {
                camera: cfg.camera.name.clone(),
                sensor_temp_c: job.temp,
                unix_ms: self.clock.unix_ms(),
                fit_loss: Some(out.loss),
                method: out.method.to_string(),
                steps: out.steps,
                duration_ms,
            },
        };
        match self.shared.cache.install(stored) {
            Ok(_) => {}
            Err(crate::pattern_cache::PatternError::WrongSize { .. }) => {
                self.publish_done(
                    job.fit_id,
                    FitEnd::Failed,
                    out.loss,
                    out.steps,
                    duration_ms,
                    "fitted pattern does not match the camera size".into(),
                );
                return;
            }
            // Installed in memory; the save failed (disk full?): reported, frames keep flowing.
            Err(e) => warn!(fit_id = job.fit_id, error = %e, "pattern installed but not saved"),
        }
        *self
            .shared
            .stats
            .last_fit
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(LastFit {
            method: out.method.to_string(),
            loss: out.loss,
            duration_ms: duration_ms.min(u64::from(u32::MAX)) as u32,
            steps: out.steps,
            unix_ms: self.clock.unix_ms(),
        });
        if let Some(est) = self.estimators.get(&job.key) {
            let sp = state_path(self.shared.cache.path());
            if let Err(e) = est.save_state(&sp) {
                warn!(path = %sp.display(), error = %e, "warm start state not saved");
            }
        }
        self.roughness_baseline = None;
        self.baseline_after = Some(now + Duration::from_secs(2));
        info!(fit_id = job.fit_id, method = %out.method, loss = out.loss, steps = out.steps,
              duration_ms, reason = %job.reason, "fit done; pattern installed");
        self.publish_done(
            job.fit_id,
            FitEnd::Completed,
            out.loss,
            out.steps,
            duration_ms,
            format!("{} ({})", out.method, job.reason),
        );
    }

    fn publish_done(
        &mut self,
        fit_id: u32,
        outcome: FitEnd,
        loss: f32,
        steps: u32,
        duration_ms: u64,
        detail: String,
    ) {
        {
            let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
            st.last = Some((fit_id, outcome, detail.clone()));
        }
        self.shared.events.publish(DaemonEvent::FitDone {
            fit_id,
            outcome,
            loss,
            steps,
            duration_ms,
            detail,
        });
    }

    fn update_status(&mut self) {
        let now = self.clock.now();
        self.shared
            .stats
            .fit_seconds_last_hour
            .set(Some(self.ledger.used(now).as_secs_f32()));
        let state = if let Some(j) = &self.job {
            RefitState::Running {
                fit_id: j.fit_id,
                step: self.progress.step.load(Ordering::Relaxed),
                total_steps: self.progress.total.load(Ordering::Relaxed),
                loss: f32::from_bits(self.progress.loss_bits.load(Ordering::Relaxed)),
                elapsed_ms: now.saturating_duration_since(j.started).as_millis() as u64,
            }
        } else if let Some(p) = &self.pending {
            let cfg = self.shared.config.load();
            let need = frames_needed(cfg.fit.frames, now.saturating_duration_since(p.since));
            let moving =
                static_guard::moving_fraction(self.collector.thumbnails(), cfg.fit.min_motion_dn);
            if self.collector.len() < need
                || !static_guard::may_fit(moving, cfg.fit.min_moving_fraction)
            {
                RefitState::Collecting {
                    fit_id: p.fit_id,
                    have: self.collector.len(),
                    need,
                    moving,
                }
            } else {
                let at = self.ledger.available_at(now, Duration::from_secs(1));
                RefitState::WaitingForBudget {
                    seconds: at.duration_since(now).as_secs(),
                }
            }
        } else {
            RefitState::Idle
        };
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.state = state;
        st.frames_held = self.collector.len();
    }
}

fn run_fit(
    est: &mut dyn PatternEstimator,
    frames: &[Arc<RawFrame>],
    budget: &Budget,
    fit_id: u32,
    events: &EventBus,
    progress: &ProgressCell,
    interim: &mut dyn FnMut(&nuc::Pattern),
) -> Result<FitOutcome, NucError> {
    let (w, h) = (frames[0].width as usize, frames[0].height as usize);
    let data = frames
        .iter()
        .map(|f| f.data.iter().map(|&v| f32::from(v)).collect())
        .collect();
    let set = FrameSet::new(w, h, data)?;
    let mut last_pub: Option<Instant> = None;
    est.estimate_staged(&set, budget, interim, &mut |p| {
        progress.step.store(p.step, Ordering::Relaxed);
        progress.total.store(p.total_steps, Ordering::Relaxed);
        progress
            .loss_bits
            .store(p.loss.to_bits(), Ordering::Relaxed);
        // At most 10 progress events per second, and always the last step.
        if last_pub.is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
            || p.step == p.total_steps
        {
            last_pub = Some(Instant::now());
            let eta_ms = (p.total_steps.saturating_sub(p.step) as f32 * p.ms_per_step) as u64;
            events.publish(DaemonEvent::FitProgress {
                fit_id,
                step: p.step,
                total_steps: p.total_steps,
                loss: p.loss,
                ms_per_step: p.ms_per_step,
                elapsed_ms: p.elapsed.as_millis() as u64,
                eta_ms,
            });
        }
        ControlFlow::Continue(())
    })
}

/// Weighs the network's refinement of a staged fit by what registered frame pairs support
/// (see `motion_check`); without evidence (too little motion) the first stage is kept.
fn keep_what_motion_supports(
    mut out: FitOutcome,
    base: Option<nuc::Pattern>,
    frames: &[Arc<RawFrame>],
    fit_id: u32,
) -> FitOutcome {
    let Some(base) = base else {
        return out;
    };
    let (w, h) = (frames[0].width as usize, frames[0].height as usize);
    let data = frames
        .iter()
        .map(|f| f.data.iter().map(|&v| f32::from(v)).collect())
        .collect();
    let Ok(set) = FrameSet::new(w, h, data) else {
        return out;
    };
    let check = motion_check::refine_weight(&set, &base, &out.pattern);
    // Smooth scene structure hardly changes over a shift, so a weight between the extremes
    // says the network mixed scene into its pattern: it is kept only when the frames clearly
    // support it.
    let alpha = check.map_or(0.0, |c| c.alpha).max(0.0);
    let alpha = if alpha >= motion_check::MIN_SUPPORT {
        alpha
    } else {
        0.0
    };
    info!(
        fit_id,
        alpha,
        pairs = check.map_or(0, |c| c.pairs),
        gain = check.map_or(0.0, |c| c.gain),
        "network refinement weighed by registered frames"
    );
    out.pattern = motion_check::weighted(&base, &out.pattern, alpha);
    out
}

/// Lowers the calling thread's scheduling priority (Linux nice values are per thread).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0
        && let Err(e) = rustix::process::setpriority_process(None, nice)
    {
        debug!(error = %e, "cannot lower the fit thread's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}
