//! What the rest of the daemon says to the refit scheduler and hears back: a fit request, why
//! one is refused, and what the scheduler is doing.

use engine::nuc::Method;

use crate::config::Preset;
use crate::events::FitEnd;

/// A fit asked for over the link (or by `dipnuc demo`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitRequest {
    /// Method instead of `fit.method`.
    pub method: Option<Method>,
    /// Engine preset instead of `fit.preset`.
    pub preset: Option<Preset>,
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
    /// The scheduler is not running.
    #[error("refit scheduler stopped")]
    Stopped,
}

/// What the scheduler is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum RefitState {
    /// Nothing to do.
    Idle,
    /// A fit is due but the frame set is not diverse enough yet.
    Collecting {
        /// Fit id it will get.
        fit_id: u32,
        /// Frames held.
        have: usize,
        /// Frames needed.
        need: usize,
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
