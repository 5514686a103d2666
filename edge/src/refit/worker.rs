//! The scheduler thread: takes commands and frames, follows the configuration generation
//! (frame-set limits, the hourly allowance), decides when a fit is due, starts it when the set
//! is diverse enough (enough frames, and a scene that moved: the static-scene guard) and the
//! budget allows (the CPU method when what is left cannot afford the network), serves a staged
//! fit's first stage at once, and installs its pattern when it ends. Time is the worker's
//! [`Clock`]: the wall clock on a device, a simulated one in the drift bench.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::nuc::{self, Budget, Method, PatternEstimator};
use formats::pattern::{PatternMeta, StoredPattern};
use tracing::{debug, info, warn};

use super::estimator::{EstimatorFactory, EstimatorKey, state_path};
use super::fit_job::{self, FitResult, Job, Launch, ProgressCell};
use super::request::{FitRequest, RefitError, RefitState, RefitStatus};
use super::triggers::{self, Inputs};
use super::{ComputeLedger, FrameSetCollector, static_guard};
use crate::clock::Clock;
use crate::config::{FitSection, LiveConfig};
use crate::events::{DaemonEvent, EventBus, FitEnd};
use crate::frame::RawFrame;
use crate::pattern_cache::PatternCache;
use crate::stats::{LastFit, Stats};

/// What the handle asks of the thread.
pub enum Command {
    /// Schedule a fit; the reply is its id or the refusal.
    Request(FitRequest, Sender<Result<u32, RefitError>>),
    /// Abort the running or pending fit; the reply says whether there was one.
    Abort(Sender<bool>),
    /// Abort and stop.
    Shutdown,
}

/// What the scheduler shares with the rest of the daemon.
#[derive(Clone)]
pub struct RefitShared {
    /// Where fitted patterns go.
    pub cache: Arc<PatternCache>,
    /// Counters (roughness, temperature in; last fit out).
    pub stats: Arc<Stats>,
    /// Fit progress and results out.
    pub events: Arc<EventBus>,
    /// The live configuration; the worker follows its generation.
    pub config: LiveConfig,
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

struct Pending {
    fit_id: u32,
    reason: String,
    req: FitRequest,
    since: Instant,
}

/// The scheduler thread's state.
pub struct Worker {
    shared: RefitShared,
    clock: Arc<dyn Clock>,
    factory: EstimatorFactory,
    status: Arc<Mutex<RefitStatus>>,
    config_generation: u64,
    collector: FrameSetCollector,
    ledger: ComputeLedger,
    /// Estimators by key: kept between fits (TV-DIP warm-starts), also across a fit that fell
    /// back to the CPU method.
    estimators: HashMap<EstimatorKey, Box<dyn PatternEstimator>>,
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
    last_cost: HashMap<Method, Duration>,
}

impl Worker {
    /// A worker set up from the configuration in effect now.
    pub fn new(
        shared: RefitShared,
        factory: EstimatorFactory,
        status: Arc<Mutex<RefitStatus>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now = clock.now();
        let config_generation = shared.config.generation();
        let cfg = shared.config.load();
        let f = &cfg.fit;
        Worker {
            config_generation,
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
            estimators: HashMap::new(),
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
            last_cost: HashMap::new(),
        }
    }

    /// Runs until `Shutdown` (or the handle is dropped).
    pub fn run(mut self, commands: Receiver<Command>, frames: Receiver<Arc<RawFrame>>) {
        loop {
            self.follow_config();
            match frames.recv_timeout(Duration::from_millis(50)) {
                Ok(f) => self.collect(f),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            let mut shutdown = false;
            while let Ok(cmd) = commands.try_recv() {
                // Several commands can arrive in one pass: each is answered under the
                // configuration in effect when it was sent.
                self.follow_config();
                match cmd {
                    Command::Request(req, reply) => {
                        let _ = reply.send(self.request(req));
                    }
                    Command::Abort(reply) => {
                        let _ = reply.send(self.abort());
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

    /// Applies a changed configuration to what the worker derived from it: the frame set's
    /// size, motion and temperature limits, and the hourly compute allowance. The rest of
    /// `fit.*` is read afresh for every decision and every fit.
    fn follow_config(&mut self) {
        let generation = self.shared.config.generation();
        if generation == self.config_generation {
            return;
        }
        self.config_generation = generation;
        let cfg = self.shared.config.load();
        let f = &cfg.fit;
        self.collector
            .set_limits(f.frames, f.min_motion_dn, f.triggers.temp_drift_c / 2.0);
        self.ledger
            .set_allowance(Duration::from_secs_f32(f.budget.gpu_seconds_per_hour));
        debug!(generation, "refit worker follows the changed configuration");
    }

    /// Lands what the fit thread produced once the clock has reached the time it took: the
    /// first stage, then the result.
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
        let (w, h) = (pattern.width() as u32, pattern.height() as u32);
        let stored = StoredPattern {
            width: w,
            height: h,
            data: pattern.into_data(),
            meta: PatternMeta {
                camera: self.shared.config.load().camera.name.clone(),
                sensor_temp_c: temp,
                unix_ms: self.clock.unix_ms(),
                fit_loss: None,
                method: Method::CpTv.to_string(),
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
        let interval = Duration::from_millis(self.shared.config.load().fit.collect_interval_ms);
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

    fn abort(&mut self) -> bool {
        let had = self.job.is_some() || self.pending.is_some();
        self.abort.store(true, Ordering::Relaxed);
        if let Some(p) = self.pending.take() {
            let method = p
                .req
                .method
                .unwrap_or_else(|| self.shared.config.load().fit.method);
            self.publish_done(
                p.fit_id,
                method,
                FitEnd::Aborted,
                0.0,
                0,
                0,
                "aborted before it started".into(),
            );
        }
        had
    }

    fn check_triggers(&mut self) {
        if self.pending.is_some() {
            return;
        }
        let cfg = self.shared.config.load();
        let now = self.clock.now();
        let stats = &self.shared.stats;
        // Roughness baseline: the first reading a little after a pattern was installed.
        if let Some(after) = self.baseline_after
            && now >= after
            && let Some(r) = stats.roughness.get()
        {
            self.roughness_baseline = Some(r);
            self.baseline_after = None;
        }
        let min_interval = Duration::from_secs(cfg.fit.triggers.min_interval_s);
        let pattern = self.shared.cache.current();
        let reason = triggers::refit_reason(&Inputs {
            triggers: &cfg.fit.triggers,
            fit_on_start: cfg.fit.fit_on_start,
            pattern: pattern.as_deref(),
            too_soon: self
                .last_auto
                .is_some_and(|l| now.duration_since(l) < min_interval),
            unix_ms: self.clock.unix_ms(),
            temp_now: stats.sensor_temp_c.get(),
            roughness_now: stats.roughness.get(),
            roughness_baseline: self.roughness_baseline,
        });
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
        let cfg = self.shared.config.load();
        let now = self.clock.now();
        if self.collector.len() < frames_needed(cfg.fit.frames, now.duration_since(since)) {
            return;
        }
        let moving = self.collector.moving_fraction(cfg.fit.min_motion_dn);
        if !static_guard::may_fit(moving, cfg.fit.min_moving_fraction) {
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
        let mut fit_cfg = cfg.fit.clone();
        if let Some(preset) = p.req.preset {
            fit_cfg.preset = preset;
        }
        if let Some(method) = p.req.method {
            fit_cfg.method = method;
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
            fit_cfg.method = fit_cfg.cpu_method;
        }
        let key = EstimatorKey::of(&fit_cfg);
        let Some(est) = self.estimator_for(&fit_cfg, &key, p.fit_id) else {
            self.last_auto = Some(now);
            return;
        };
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
        let frames = self.collector.frames();
        info!(fit_id = p.fit_id, reason = %p.reason, frames = frames.len(), max_steps,
              max_seconds = wall.as_secs_f32(), "fit started");
        let current = self.shared.cache.current();
        let launch = Launch {
            fit_id: p.fit_id,
            frames,
            budget: Budget {
                max_steps: Some(max_steps),
                max_wall: Some(wall),
                duty_cycle: Some(b.duty_cycle),
                abort: Some(self.abort.clone()),
            },
            nice: b.nice,
            events: self.shared.events.clone(),
            progress: self.progress.clone(),
            // The first calibration serves the classical stage at once (TV-DIP's CP-TV start);
            // the fit thread also does after a gain switch (`fit_job::Launch::serve_interim`).
            serve_interim: current.is_none(),
            served: current.and_then(|p| {
                nuc::Pattern::new(p.width as usize, p.height as usize, p.data.clone()).ok()
            }),
        };
        // Held from here, a simulated clock cannot pass the fit's start: read the start under
        // the hold (the driver may have moved the clock since `now`, while the estimator was
        // built), so the fit lands exactly its real duration after the instant it saw.
        let hold = self.clock.hold();
        let started = self.clock.now();
        match fit_job::spawn(est, launch) {
            Ok((handle, interim_rx)) => {
                self.job = Some(Job {
                    fit_id: p.fit_id,
                    reason: p.reason,
                    temp: self.collector.mean_temp(),
                    duty: b.duty_cycle,
                    started,
                    key,
                    method: fit_cfg.method,
                    handle: Some(handle),
                    ended: None,
                    interim: None,
                    interim_rx,
                    hold,
                })
            }
            Err(e) => {
                warn!(fit_id = p.fit_id, error = %e, "cannot start the fit thread");
                let method = fit_cfg.method;
                self.publish_done(p.fit_id, method, FitEnd::Failed, 0.0, 0, 0, e.to_string());
                self.last_auto = Some(now);
            }
        }
    }

    /// The estimator for `fit`: the one kept for its key (it warm-starts from its last fit),
    /// else a new one that loads the saved warm-start state when there is one (a state the
    /// estimator cannot use is ignored). `None` (published as a failed fit) when it cannot be
    /// built.
    fn estimator_for(
        &mut self,
        fit: &FitSection,
        key: &EstimatorKey,
        fit_id: u32,
    ) -> Option<Box<dyn PatternEstimator>> {
        if let Some(est) = self.estimators.remove(key) {
            return Some(est);
        }
        match (self.factory)(fit) {
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
                Some(est)
            }
            Err(e) => {
                warn!(fit_id, error = %e, "cannot build the fit estimator");
                self.publish_done(fit_id, fit.method, FitEnd::Failed, 0.0, 0, 0, e.to_string());
                None
            }
        }
    }

    /// Books the fit that ended (`now` = its start + its real duration), keeps its estimator
    /// and installs its pattern.
    fn finish(&mut self, job: Job, ended: std::thread::Result<FitResult>, now: Instant) {
        self.last_auto = Some(now);
        let wall = now.duration_since(job.started);
        let compute = wall.mul_f32(job.duty);
        self.ledger.record(now, compute);
        self.last_cost.insert(job.method, compute);
        self.shared
            .stats
            .fit_seconds_last_hour
            .set(Some(self.ledger.used(now).as_secs_f32()));
        let wall_ms = wall.as_millis() as u64;
        let Ok((est, result, _)) = ended else {
            warn!(fit_id = job.fit_id, "fit thread panicked");
            self.publish_done(
                job.fit_id,
                job.method,
                FitEnd::Failed,
                0.0,
                0,
                wall_ms,
                "fit thread panicked".into(),
            );
            return;
        };
        self.estimators.insert(job.key.clone(), est);
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                warn!(fit_id = job.fit_id, error = %e, "fit failed");
                let method = job.method;
                self.publish_done(
                    job.fit_id,
                    method,
                    FitEnd::Failed,
                    0.0,
                    0,
                    wall_ms,
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
                job.method,
                FitEnd::Aborted,
                out.loss,
                out.steps,
                duration_ms,
                "aborted".into(),
            );
            return;
        }
        let (w, h) = (out.pattern.width() as u32, out.pattern.height() as u32);
        let stored = StoredPattern {
            width: w,
            height: h,
            data: out.pattern.into_data(),
            meta: PatternMeta {
                camera: self.shared.config.load().camera.name.clone(),
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
                    job.method,
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
            out.method,
            FitEnd::Completed,
            out.loss,
            out.steps,
            duration_ms,
            format!("{} ({})", out.method, job.reason),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn publish_done(
        &mut self,
        fit_id: u32,
        method: Method,
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
            method,
            outcome,
            loss,
            steps,
            duration_ms,
            detail,
        });
    }

    fn update_status(&mut self) {
        let now = self.clock.now();
        // The hour's use slides down while no fit runs: telemetry shows it as it is now.
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
            let moving = self.collector.moving_fraction(cfg.fit.min_motion_dn);
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
