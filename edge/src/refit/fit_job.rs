//! One fit running in its own low-priority thread: the budget it runs under, its progress
//! (shared with the scheduler for status and published as events, at most 10 per second), the
//! first stage it serves before it ends (CP-TV under TV-DIP), the motion check that weighs the
//! network's refinement of that stage, and the thread's result with its real duration.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::nuc::{Budget, FitOutcome, FrameSet, Method, NucError, Pattern, PatternEstimator};
use tracing::{debug, info};

use super::estimator::EstimatorKey;
use super::motion_check;
use crate::clock::ClockHold;
use crate::events::{DaemonEvent, EventBus};
use crate::frame::RawFrame;

/// What the fit thread hands back: the estimator (kept for warm starts), the outcome, and the
/// fit's real duration.
pub type FitResult = (
    Box<dyn PatternEstimator>,
    Result<FitOutcome, NucError>,
    Duration,
);

/// A first-stage pattern and how long after the fit's start it was ready.
pub type Interim = (Pattern, Duration);

/// Latest progress of the running fit, written by the fit thread.
#[derive(Default)]
pub struct ProgressCell {
    /// Steps done.
    pub step: AtomicU32,
    /// Steps planned.
    pub total: AtomicU32,
    /// Current loss, as `f32` bits.
    pub loss_bits: AtomicU32,
}

/// A fit in flight.
pub struct Job {
    /// Its id.
    pub fit_id: u32,
    /// Why it runs.
    pub reason: String,
    /// Mean sensor temperature of its frames.
    pub temp: Option<f32>,
    /// Fraction of wall time it computes.
    pub duty: f32,
    /// When it started (on the worker's clock).
    pub started: Instant,
    /// The estimator's key (where the estimator goes back to).
    pub key: EstimatorKey,
    /// The method it runs (after a budget fallback).
    pub method: Method,
    /// The fit thread, until it ended.
    pub handle: Option<JoinHandle<FitResult>>,
    /// The thread's result once it ended, and the instant it lands at (start + real duration:
    /// now on the wall clock, later on a simulated one).
    pub ended: Option<(std::thread::Result<FitResult>, Instant)>,
    /// A pattern served before the fit ends (CP-TV under TV-DIP), and when it lands.
    pub interim: Option<(Pattern, Instant)>,
    /// First stages from the fit thread.
    pub interim_rx: Receiver<Interim>,
    /// Keeps a simulated clock from running past the fit (see `crate::clock`).
    pub hold: ClockHold,
}

/// What a fit thread needs.
pub struct Launch {
    /// Its id.
    pub fit_id: u32,
    /// The frames, shared with the collector.
    pub frames: Vec<Arc<RawFrame>>,
    /// Limits and the abort flag.
    pub budget: Budget,
    /// Niceness of the thread.
    pub nice: i32,
    /// Progress out.
    pub events: Arc<EventBus>,
    /// Progress for the status.
    pub progress: Arc<ProgressCell>,
    /// Whether the first stage is sent to be served before the fit ends (the first
    /// calibration: no pattern is served yet). It is also sent when the served pattern comes
    /// from other offset tables than the first stage (a gain switch).
    pub serve_interim: bool,
    /// The pattern served when the fit started, whose shading a fit without motion to weigh
    /// its network by carries over (see `motion_check::carry_shading`).
    pub served: Option<Pattern>,
}

/// Starts `est` on `launch` in a new thread; the receiver gets the first stage when the
/// launch asks for it to be served.
pub fn spawn(
    mut est: Box<dyn PatternEstimator>,
    launch: Launch,
) -> std::io::Result<(JoinHandle<FitResult>, Receiver<Interim>)> {
    launch.progress.step.store(0, Ordering::Relaxed);
    launch
        .progress
        .total
        .store(launch.budget.max_steps.unwrap_or(0), Ordering::Relaxed);
    let (interim_tx, interim_rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("dipnuc-fit".into())
        .spawn(move || {
            lower_priority(launch.nice);
            let start = Instant::now();
            let mut base = None;
            let mut interim = |p: &Pattern| {
                // A pattern from other offset tables (a gain switch) is stale as a whole: the
                // new first stage beats it while the network fits anew.
                let stale = launch
                    .served
                    .as_ref()
                    .is_some_and(|s| !motion_check::same_tables(p, s));
                if launch.serve_interim || stale {
                    let _ = interim_tx.send((p.clone(), start.elapsed()));
                }
                base = Some(p.clone());
            };
            let result = match frame_set(&launch.frames) {
                Err(e) => Err(e),
                Ok(set) => run_fit(est.as_mut(), &set, &launch, &mut interim).map(|out| {
                    keep_what_motion_supports(
                        out,
                        base,
                        &set,
                        launch.served.as_ref(),
                        launch.fit_id,
                    )
                }),
            };
            (est, result, start.elapsed())
        })?;
    Ok((handle, interim_rx))
}

fn frame_set(frames: &[Arc<RawFrame>]) -> Result<FrameSet, NucError> {
    let (w, h) = (frames[0].width as usize, frames[0].height as usize);
    let data = frames
        .iter()
        .map(|f| f.data.iter().map(|&v| f32::from(v)).collect())
        .collect();
    FrameSet::new(w, h, data)
}

fn run_fit(
    est: &mut dyn PatternEstimator,
    set: &FrameSet,
    l: &Launch,
    interim: &mut dyn FnMut(&Pattern),
) -> Result<FitOutcome, NucError> {
    let mut last_pub: Option<Instant> = None;
    est.estimate_staged(set, &l.budget, interim, &mut |p| {
        l.progress.step.store(p.step, Ordering::Relaxed);
        l.progress.total.store(p.total_steps, Ordering::Relaxed);
        l.progress
            .loss_bits
            .store(p.loss.to_bits(), Ordering::Relaxed);
        // At most 10 progress events per second, and always the last step.
        if last_pub.is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
            || p.step == p.total_steps
        {
            last_pub = Some(Instant::now());
            let eta_ms = (p.total_steps.saturating_sub(p.step) as f32 * p.ms_per_step) as u64;
            l.events.publish(DaemonEvent::FitProgress {
                fit_id: l.fit_id,
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
/// (see `motion_check`). Without evidence (too little motion) the first stage is kept, with
/// the shading of the pattern being served carried onto it when both come from the same
/// offset tables: a stare must not drop what the last checked refinement served.
fn keep_what_motion_supports(
    mut out: FitOutcome,
    base: Option<Pattern>,
    set: &FrameSet,
    served: Option<&Pattern>,
    fit_id: u32,
) -> FitOutcome {
    let Some(base) = base else {
        return out;
    };
    let check = motion_check::refine_weight(set, &base, &out.pattern);
    // Smooth scene structure hardly changes over a shift, so a weight between the extremes
    // says the network mixed scene into that component: each component (row profile, column
    // profile, rest) is served at the share of it the frames support, its tilt never.
    info!(
        fit_id,
        alpha = check.map_or(0.0, |c| c.alpha),
        rest = check.map_or(0.0, |c| c.rest),
        rows = check.map_or(0.0, |c| c.rows),
        columns = check.map_or(0.0, |c| c.columns),
        unseen = ?check.map(|c| c.unseen),
        pairs = check.map_or(0, |c| c.pairs),
        gain = check.map_or(0.0, |c| c.gain),
        measured = ?check.map(|c| c.measured),
        uncertainty = ?check.map(|c| c.uncertainty),
        "network refinement weighed by registered frames"
    );
    out.pattern = match check {
        Some(c) => motion_check::supported(&base, &out.pattern, &c),
        None => match served.and_then(|s| motion_check::carry_shading(&base, s)) {
            Some(carried) => {
                info!(
                    fit_id,
                    "no motion to weigh the network by: the served shading is carried over"
                );
                carried
            }
            None => base,
        },
    };
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

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;
    use std::time::Instant;

    use engine::nuc::FitProgress;

    use super::*;

    const W: usize = 48;
    const H: usize = 32;

    /// Column stripes of one offset table (`seed`), with a gentle shading.
    fn tables(seed: u32) -> Pattern {
        let data = (0..W * H)
            .map(|i| {
                let x = (i % W) as u32;
                let v = (x ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(2_654_435_761) >> 16;
                40.0 * ((v % 1000) as f32 / 500.0 - 1.0) + 0.05 * (i / W) as f32
            })
            .collect();
        Pattern::new(W, H, data).unwrap()
    }

    /// Hands its first stage (the tables of `seed`) to `interim`, then ends with it.
    struct FirstStageOnly(u32);

    impl PatternEstimator for FirstStageOnly {
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
            _frames: &FrameSet,
            _budget: &Budget,
            interim: &mut dyn FnMut(&Pattern),
            _progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
        ) -> Result<FitOutcome, NucError> {
            let p = tables(self.0);
            interim(&p);
            Ok(FitOutcome {
                pattern: p,
                loss: 0.0,
                steps: 0,
                duration: Duration::ZERO,
                aborted: false,
                method: Method::TvDip,
            })
        }
    }

    /// Whether a fit whose first stage has the tables of `fit_seed` sends it to be served,
    /// while the pattern of `served_seed` is served.
    fn serves_first_stage(fit_seed: u32, served_seed: u32) -> bool {
        let frames = (0..3)
            .map(|seq| {
                Arc::new(RawFrame {
                    seq,
                    timestamp: Instant::now(),
                    width: W as u32,
                    height: H as u32,
                    data: vec![1000; W * H],
                    sensor_temp_c: None,
                })
            })
            .collect();
        let launch = Launch {
            fit_id: 1,
            frames,
            budget: Budget::default(),
            nice: 0,
            events: Arc::new(EventBus::default()),
            progress: Arc::new(ProgressCell::default()),
            serve_interim: false,
            served: Some(tables(served_seed)),
        };
        let (handle, rx) = spawn(Box::new(FirstStageOnly(fit_seed)), launch).unwrap();
        let (_, result, _) = handle.join().unwrap();
        result.unwrap();
        rx.try_recv().is_ok()
    }

    /// After a gain switch the served pattern belongs to other offset tables: the new first
    /// stage is served at once instead of waiting for the network. Drift within the same
    /// tables keeps the served pattern until the fit ends.
    #[test]
    fn the_first_stage_replaces_a_pattern_of_other_tables_at_once() {
        assert!(serves_first_stage(2, 1));
        assert!(!serves_first_stage(1, 1));
    }
}
