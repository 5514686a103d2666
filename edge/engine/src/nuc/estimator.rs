//! The common estimator interface the daemon's refit scheduler and the offline tools call:
//! `PatternEstimator` and its result `FitOutcome` (`factory.rs` builds one per `Method`).

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use super::{Budget, FitProgress, FrameSet, Method, NucError, Pattern};

/// The result of one estimation.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    /// The estimated pattern, zero mean, in the frames' units.
    pub pattern: Pattern,
    /// Final loss (method-specific scale; lower is better within one method and frame set).
    pub loss: f32,
    /// Iterations done.
    pub steps: u32,
    /// Wall-clock time of the estimation.
    pub duration: Duration,
    /// Stopped by the abort flag or the progress callback (the pattern is the best so far).
    pub aborted: bool,
    pub method: Method,
}

/// Something that estimates a noise pattern from frames. Implementations keep whatever state
/// makes the next call cheaper (the TV-DIP network warm-starts from its last weights).
pub trait PatternEstimator: Send {
    fn method(&self) -> Method;

    /// Estimates a pattern from `frames` within `budget`, calling `progress` after iterations;
    /// `ControlFlow::Break` from it stops the fit like the abort flag.
    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError>;

    /// Saves the state a later warm start needs (network weights, z, last pattern) as
    /// safetensors; `Ok(false)` when the method keeps no state (the default) or nothing was
    /// fitted yet.
    fn save_state(&self, _path: &Path) -> Result<bool, NucError> {
        Ok(false)
    }

    /// Restores state written by [`PatternEstimator::save_state`]; `Ok(false)` when the method
    /// keeps no state (the default).
    fn load_state(&mut self, _path: &Path) -> Result<bool, NucError> {
        Ok(false)
    }

    /// Forgets any state: the next estimate is a cold fit. Nothing to do for stateless methods.
    fn reset(&mut self) {}
}
