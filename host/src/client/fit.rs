//! Following a fit to its end: [`Device::follow_fit`] reads `FitProgress`/`FitDone` topics
//! for one fit, polls `fit/status` when the topics go quiet (a `FitDone` lost with a dropped
//! frame is not waited for forever), and aborts the fit on the device when asked to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use protocol::{FitDone, FitOutcome, FitProgress, FitState, Topic};

use super::device::{Device, Topics};
use super::error::Result;

/// How following a fit ended.
#[derive(Debug, Clone, PartialEq)]
pub enum FitEnd {
    /// The device reported the end of the fit.
    Done(FitDone),
    /// The device reported the fit finished but its `FitDone` was missed (from `fit/status`).
    Finished {
        /// Whether a new pattern was applied (`fit/status` shows the last fit changed).
        summary: Option<protocol::FitSummary>,
    },
    /// We gave up waiting (the fit may still be running on the device).
    TimedOut,
}

impl Device {
    /// Subscribes to fit progress (keeping heartbeats off).
    pub fn subscribe_fit(&mut self) -> Result<()> {
        self.subscribe(Topics {
            fit_progress: true,
            ..Topics::default()
        })
    }

    /// Waits for fit `fit_id` to end, calling `on_progress` for each of its progress topics.
    /// When `abort` becomes true, sends `fit/abort` once and keeps waiting for the end.
    /// Subscribe with [`subscribe_fit`](Self::subscribe_fit) before starting the fit so that
    /// no topic is missed.
    pub fn follow_fit(
        &mut self,
        fit_id: u32,
        timeout: Duration,
        abort: &AtomicBool,
        mut on_progress: impl FnMut(&FitProgress),
    ) -> Result<FitEnd> {
        let start = Instant::now();
        let mut aborted = false;
        let mut last_heard = Instant::now();
        while start.elapsed() < timeout {
            if abort.load(Ordering::Relaxed) && !aborted {
                aborted = true;
                match self.calibrate_abort() {
                    Ok(()) => {}
                    // Already over: the FitDone or the status poll will say how.
                    Err(e) if e.nack_code() == Some(protocol::NackCode::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            match self.next_topic(Duration::from_millis(200))? {
                Some(Topic::FitProgress(p)) if p.fit_id == fit_id => {
                    last_heard = Instant::now();
                    on_progress(&p);
                }
                Some(Topic::FitDone(d)) if d.fit_id == fit_id => return Ok(FitEnd::Done(d)),
                Some(_) => {}
                None => {}
            }
            if last_heard.elapsed() > Duration::from_secs(2) {
                last_heard = Instant::now();
                let s = self.calibrate_status()?;
                let ours = s.fit_id == Some(fit_id);
                if s.state == FitState::Idle && (ours || s.fit_id.is_none_or(|id| id > fit_id)) {
                    // Give a FitDone sent just now a moment to arrive.
                    if let Some(Topic::FitDone(d)) = self.next_topic(Duration::from_millis(300))?
                        && d.fit_id == fit_id
                    {
                        return Ok(FitEnd::Done(d));
                    }
                    return Ok(FitEnd::Finished { summary: s.last });
                }
            }
        }
        Ok(FitEnd::TimedOut)
    }
}

/// True when a fit ended with a new pattern applied.
pub fn completed(end: &FitEnd) -> bool {
    match end {
        FitEnd::Done(d) => d.outcome == FitOutcome::Completed,
        FitEnd::Finished { summary } => summary.is_some(),
        FitEnd::TimedOut => false,
    }
}
