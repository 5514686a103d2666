//! The compute budget of refits: a sliding one-hour ledger of the compute time fits used, so
//! `fit.budget.gpu_seconds_per_hour` holds over any hour, not per calendar hour.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

/// Compute time used by fits, per sliding hour.
#[derive(Debug)]
pub struct ComputeLedger {
    per_hour: Duration,
    entries: VecDeque<(Instant, Duration)>,
}

impl ComputeLedger {
    /// A ledger allowing `per_hour` of compute in any hour.
    pub fn new(per_hour: Duration) -> Self {
        ComputeLedger {
            per_hour,
            entries: VecDeque::new(),
        }
    }

    /// Changes the allowance (config change).
    pub fn set_allowance(&mut self, per_hour: Duration) {
        self.per_hour = per_hour;
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&(at, _)) = self.entries.front() {
            if now.duration_since(at) >= HOUR {
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// Records compute time spent, ending `now`.
    pub fn record(&mut self, now: Instant, used: Duration) {
        self.entries.push_back((now, used));
        self.prune(now);
    }

    /// Compute used in the hour before `now`.
    pub fn used(&mut self, now: Instant) -> Duration {
        self.prune(now);
        self.entries.iter().map(|e| e.1).sum()
    }

    /// Compute still allowed in the hour before `now`.
    pub fn remaining(&mut self, now: Instant) -> Duration {
        self.per_hour.saturating_sub(self.used(now))
    }

    /// When at least `need` will be available again (now if it already is).
    pub fn available_at(&mut self, now: Instant, need: Duration) -> Instant {
        let mut remaining = self.remaining(now);
        if remaining >= need {
            return now;
        }
        for &(at, used) in &self.entries {
            remaining += used;
            if remaining >= need {
                return at + HOUR;
            }
        }
        now + HOUR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_slides_over_the_hour() {
        let t0 = Instant::now();
        let mut l = ComputeLedger::new(Duration::from_secs(100));
        l.record(t0, Duration::from_secs(60));
        l.record(t0 + Duration::from_secs(600), Duration::from_secs(30));
        let t = t0 + Duration::from_secs(700);
        assert_eq!(l.remaining(t), Duration::from_secs(10));
        assert_eq!(
            l.available_at(t, Duration::from_secs(20)),
            t0 + Duration::from_secs(3600)
        );
        let later = t0 + Duration::from_secs(3601);
        assert_eq!(l.remaining(later), Duration::from_secs(70));
    }
}
