//! `Budget` (how long a fit may run) and `BudgetClock`, the loop guard every estimator uses to
//! honour it: step and wall-clock limits, a duty cycle, an abort flag and progress timing.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Method;

/// Limits for one estimation. `None` means "no limit from the budget" (the method's own
/// configured iteration count still applies).
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// At most this many iterations (network steps or solver iterations).
    pub max_steps: Option<u32>,
    /// Stop after this much wall-clock time (the result so far is returned).
    pub max_wall: Option<Duration>,
    /// Fraction of wall-clock time the fit may compute, in (0, 1]; the rest it sleeps, so a
    /// shared GPU or CPU keeps room for the capture path. `None` = 1.
    pub duty_cycle: Option<f32>,
    /// Set to `true` from any thread to stop the fit at the next iteration.
    pub abort: Option<Arc<AtomicBool>>,
}

impl Budget {
    /// A budget of at most `steps` iterations.
    pub fn steps(steps: u32) -> Self {
        Budget {
            max_steps: Some(steps),
            ..Budget::default()
        }
    }

    /// Adds a wall-clock limit.
    pub fn with_wall(mut self, wall: Duration) -> Self {
        self.max_wall = Some(wall);
        self
    }

    /// Adds an abort flag.
    pub fn with_abort(mut self, abort: Arc<AtomicBool>) -> Self {
        self.abort = Some(abort);
        self
    }
}

/// Progress of a running estimation, reported after each iteration (or every few).
#[derive(Debug, Clone, PartialEq)]
pub struct FitProgress {
    pub method: Method,
    /// Iterations done so far.
    pub step: u32,
    /// Iterations planned (the budget may stop earlier).
    pub total_steps: u32,
    /// The current loss (objective value; for TV-DIP the TV of the last step's frame).
    pub loss: f32,
    /// Mean compute time per iteration so far, in milliseconds (duty-cycle sleeps excluded).
    pub ms_per_step: f32,
    /// Wall-clock time since the start, sleeps included.
    pub elapsed: Duration,
}

/// Why a loop stopped or goes on.
pub(crate) struct BudgetClock {
    start: Instant,
    compute: Duration,
    step_start: Instant,
    total: u32,
    max_wall: Option<Duration>,
    duty: f32,
    abort: Option<Arc<AtomicBool>>,
    aborted: bool,
}

impl BudgetClock {
    /// `planned` is the method's own iteration count; the budget can only lower it.
    pub fn new(budget: &Budget, planned: u32) -> Self {
        let now = Instant::now();
        BudgetClock {
            start: now,
            compute: Duration::ZERO,
            step_start: now,
            total: budget.max_steps.map_or(planned, |m| m.min(planned)),
            max_wall: budget.max_wall,
            duty: budget.duty_cycle.unwrap_or(1.0).clamp(0.01, 1.0),
            abort: budget.abort.clone(),
            aborted: false,
        }
    }

    /// Iterations this run will do at most.
    pub fn total_steps(&self) -> u32 {
        self.total
    }

    /// Whether iteration `step` (0-based) may start; marks the start of its timing.
    pub fn may_start(&mut self, step: u32) -> bool {
        if step >= self.total {
            return false;
        }
        if self
            .abort
            .as_ref()
            .is_some_and(|a| a.load(Ordering::Relaxed))
        {
            self.aborted = true;
            return false;
        }
        if self.max_wall.is_some_and(|w| self.start.elapsed() >= w) {
            return false;
        }
        self.step_start = Instant::now();
        true
    }

    /// Ends the timing of one iteration (or a block of `n` iterations), sleeps for the duty
    /// cycle, and calls `progress`; returns `false` when the callback asked to stop.
    pub fn finish(
        &mut self,
        method: Method,
        step_done: u32,
        loss: f32,
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> bool {
        let spent = self.step_start.elapsed();
        self.compute += spent;
        if self.duty < 1.0 {
            let idle = spent.mul_f32((1.0 - self.duty) / self.duty);
            std::thread::sleep(idle);
        }
        let p = FitProgress {
            method,
            step: step_done,
            total_steps: self.total,
            loss,
            ms_per_step: self.compute.as_secs_f32() * 1000.0 / step_done.max(1) as f32,
            elapsed: self.start.elapsed(),
        };
        if progress(&p).is_break() {
            self.aborted = true;
            return false;
        }
        true
    }

    /// Whether the fit stopped because of the abort flag or the callback.
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(budget: &Budget, work: Duration) -> (u32, BudgetClock) {
        let mut clock = BudgetClock::new(budget, 100);
        let mut step = 0;
        while clock.may_start(step) {
            std::thread::sleep(work);
            step += 1;
            if !clock.finish(Method::CpTv, step, 0.0, &mut |_| ControlFlow::Continue(())) {
                break;
            }
        }
        (step, clock)
    }

    #[test]
    fn step_limit_is_the_smaller_of_plan_and_budget() {
        assert_eq!(run(&Budget::steps(7), Duration::ZERO).0, 7);
        assert_eq!(run(&Budget::steps(1000), Duration::ZERO).0, 100);
    }

    #[test]
    fn duty_cycle_sleeps_in_proportion() {
        // 3 steps of 10 ms compute at duty 0.25 sleep 30 ms each: at least 120 ms in all.
        let budget = Budget {
            duty_cycle: Some(0.25),
            ..Budget::steps(3)
        };
        let (steps, clock) = run(&budget, Duration::from_millis(10));
        assert_eq!(steps, 3);
        assert!(
            clock.elapsed() >= Duration::from_millis(120),
            "{:?}",
            clock.elapsed()
        );
    }

    #[test]
    fn abort_flag_stops_before_the_next_step() {
        let flag = Arc::new(AtomicBool::new(true));
        let (steps, clock) = run(&Budget::default().with_abort(flag), Duration::ZERO);
        assert_eq!(steps, 0);
        assert!(clock.aborted());
    }
}
