//! [`FitTally`]: fits counted by method and outcome, their durations and last losses, built
//! from the daemon's `FitDone` events (the scheduler knows nothing of metrics).

use std::collections::BTreeMap;

use crate::events::{DaemonEvent, FitEnd};
use crate::histogram::{AtomicHistogram, FIT_DURATION_BOUNDS_S};

/// The outcome label value (`completed`, `aborted`, `failed`).
pub fn outcome_label(outcome: FitEnd) -> &'static str {
    match outcome {
        FitEnd::Completed => "completed",
        FitEnd::Aborted => "aborted",
        FitEnd::Failed => "failed",
    }
}

/// What the fits since start did.
#[derive(Debug, Default)]
pub struct FitTally {
    /// Fits by `(method, outcome)`.
    pub counts: BTreeMap<(String, &'static str), u64>,
    /// Wall time of the completed fits, by method.
    pub durations: BTreeMap<String, AtomicHistogram>,
    /// Final loss of the last completed fit, by method.
    pub last_loss: BTreeMap<String, f64>,
}

impl FitTally {
    /// Counts one event (anything but `FitDone` is ignored).
    pub fn record(&mut self, event: &DaemonEvent) {
        let DaemonEvent::FitDone {
            method,
            outcome,
            loss,
            duration_ms,
            ..
        } = event
        else {
            return;
        };
        let method = method.as_str().to_string();
        *self
            .counts
            .entry((method.clone(), outcome_label(*outcome)))
            .or_default() += 1;
        if *outcome == FitEnd::Completed {
            self.durations
                .entry(method.clone())
                .or_insert_with(|| AtomicHistogram::new(FIT_DURATION_BOUNDS_S))
                .observe(*duration_ms as f64 / 1000.0);
            if loss.is_finite() {
                self.last_loss.insert(method.clone(), f64::from(*loss));
            }
        }
    }
}
