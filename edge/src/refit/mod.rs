//! Refits on a budget: a scheduler thread collects a diverse frame set, decides when to refit
//! (pattern age, sensor-temperature drift, a rise in the roughness of corrected frames, a
//! request, or no pattern at start), enforces the compute budget (seconds per sliding hour,
//! max steps, max seconds, duty cycle), and runs the fit in a separate low-priority thread so
//! capture never waits. The estimator is kept between fits (TV-DIP warm-starts) and its state
//! is saved beside the pattern so warm starts survive restarts.
//!
//! ```text
//!  capture ──offer_frame──► scheduler thread ──spawn──► fit thread (nice, Budget, abort flag)
//!                              │ triggers, ledger          │ progress ──► EventBus (link topics)
//!                              └◄──────── outcome ─────────┘ ──► PatternCache::install
//! ```

mod collector;
mod ledger;
pub mod motion_check;
mod scheduler;
pub mod static_guard;

pub use collector::FrameSetCollector;
pub use ledger::ComputeLedger;
pub use scheduler::{
    EstimatorFactory, FitRequest, RefitError, RefitScheduler, RefitShared, RefitState, RefitStatus,
    build_estimator,
};
