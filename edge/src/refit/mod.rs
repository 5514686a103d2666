//! Refits on a budget: a scheduler thread collects a diverse frame set, decides when to refit
//! (pattern age, sensor-temperature drift, a rise in the roughness of corrected frames, a
//! request, or no pattern at start), enforces the compute budget (seconds per sliding hour,
//! max steps, max seconds, duty cycle), and runs the fit in a separate low-priority thread so
//! capture never waits. The estimator is kept between fits (TV-DIP warm-starts) and its state
//! is saved beside the pattern so warm starts survive restarts. The worker follows the live
//! configuration: a changed `fit.*` key applies to the next decision and the next fit.
//!
//! ```text
//!  capture ──offer_frame──► worker thread ──spawn──► fit thread (nice, Budget, abort flag)
//!                              │ triggers, ledger          │ progress ──► EventBus (link topics)
//!                              └◄──────── outcome ─────────┘ ──► PatternCache::install
//! ```
//!
//! `scheduler.rs` is the handle, `worker.rs` the thread, `triggers.rs` the refit decision,
//! `fit_job.rs` one fit's thread, `estimator.rs` building (and reusing) the estimator,
//! `collector.rs` the frame set, `ledger.rs` the hourly budget, `request.rs` the public types.

mod collector;
mod estimator;
mod fit_job;
mod ledger;
mod request;
mod scheduler;
mod triggers;
mod worker;

pub use collector::FrameSetCollector;
pub use estimator::{EstimatorFactory, build_estimator};
pub use ledger::ComputeLedger;
pub use request::{FitRequest, RefitError, RefitState, RefitStatus};
pub use scheduler::RefitScheduler;
pub use worker::RefitShared;
