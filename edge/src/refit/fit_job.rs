//! One fit running in its own low-priority thread: the budget it runs under, its progress
//! (shared with the scheduler for status and published as events, at most 10 per second), and
//! the thread's result.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::nuc::{Budget, FitOutcome, FrameSet, Method, NucError, PatternEstimator};
use tracing::debug;

use crate::events::{DaemonEvent, EventBus};
use crate::frame::RawFrame;

/// What the fit thread hands back: the estimator (kept for warm starts) and the outcome.
pub type FitResult = (Box<dyn PatternEstimator>, Result<FitOutcome, NucError>);

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
    /// The method it fits with.
    pub method: Method,
    /// Why it runs.
    pub reason: String,
    /// Mean sensor temperature of its frames.
    pub temp: Option<f32>,
    /// Fraction of wall time it computes.
    pub duty: f32,
    /// When it started.
    pub started: Instant,
    /// The fit thread.
    pub handle: JoinHandle<FitResult>,
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
}

/// Starts `est` on `launch` in a new thread.
pub fn spawn(
    mut est: Box<dyn PatternEstimator>,
    launch: Launch,
) -> std::io::Result<JoinHandle<FitResult>> {
    launch.progress.step.store(0, Ordering::Relaxed);
    launch
        .progress
        .total
        .store(launch.budget.max_steps.unwrap_or(0), Ordering::Relaxed);
    std::thread::Builder::new()
        .name("dipnuc-fit".into())
        .spawn(move || {
            lower_priority(launch.nice);
            let result = run_fit(est.as_mut(), &launch);
            (est, result)
        })
}

fn run_fit(est: &mut dyn PatternEstimator, l: &Launch) -> Result<FitOutcome, NucError> {
    let (w, h) = (l.frames[0].width as usize, l.frames[0].height as usize);
    let data = l
        .frames
        .iter()
        .map(|f| f.data.iter().map(|&v| f32::from(v)).collect())
        .collect();
    let set = FrameSet::new(w, h, data)?;
    let mut last_pub: Option<Instant> = None;
    est.estimate(&set, &l.budget, &mut |p| {
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
