//! Calibration (pattern fit) state: status answers, progress and completion topics.

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Capacity of a fit method or preset name (`"tv-dip"`, `"cp-tv"`, `"fast"`).
pub const METHOD_LEN: usize = 16;
/// Capacity of [`FitDone::detail`].
pub const FIT_DETAIL_LEN: usize = 96;

/// A fit method or preset name.
pub type MethodName = String<METHOD_LEN>;

/// Summary of the last finished fit, carried in telemetry.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FitSummary {
    /// Method that produced the pattern (`"tv-dip"`, `"cp-tv"`, `"colmean"`).
    pub method: MethodName,
    /// Final loss of the fit.
    pub loss: f32,
    /// Wall time of the fit in milliseconds.
    pub duration_ms: u32,
    /// Optimisation steps taken.
    pub steps: u32,
    /// When the fit finished, Unix time in milliseconds (device clock).
    pub unix_ms: u64,
}

/// What the fit machinery is doing.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FitState {
    /// No fit running.
    Idle,
    /// Collecting a diverse frame set before fitting.
    Collecting,
    /// Optimising.
    Running,
    /// An abort was requested and is being honoured.
    Aborting,
}

/// How a fit ended.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FitOutcome {
    /// Finished; the new pattern is applied.
    Completed,
    /// Stopped on request; the previous pattern stays applied.
    Aborted,
    /// Failed; the previous pattern stays applied. The detail says why.
    Failed,
}

/// Answer to `CalibrateStatus`.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FitStatus {
    /// Current state.
    pub state: FitState,
    /// Id of the running (or, when idle, the last) fit; `None` if there never was one.
    pub fit_id: Option<u32>,
    /// Steps done in the running fit.
    pub step: u32,
    /// Step budget of the running fit.
    pub total_steps: u32,
    /// Latest loss of the running fit.
    pub loss: f32,
    /// Time spent in the running fit, milliseconds.
    pub elapsed_ms: u32,
    /// Estimated time left, milliseconds.
    pub eta_ms: u32,
    /// The last finished fit, if any.
    pub last: Option<FitSummary>,
}

/// Topic: progress of a running fit (a few times per second at most).
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FitProgress {
    /// The fit this progress belongs to (from `CalibrateStarted`).
    pub fit_id: u32,
    /// Steps done.
    pub step: u32,
    /// Step budget.
    pub total_steps: u32,
    /// Latest loss.
    pub loss: f32,
    /// Mean time per step, milliseconds.
    pub ms_per_step: f32,
    /// Time spent so far, milliseconds.
    pub elapsed_ms: u32,
    /// Estimated time left, milliseconds.
    pub eta_ms: u32,
}

/// Topic: a fit ended.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FitDone {
    /// The fit that ended.
    pub fit_id: u32,
    /// How it ended.
    pub outcome: FitOutcome,
    /// Final loss.
    pub loss: f32,
    /// Steps taken.
    pub steps: u32,
    /// Wall time, milliseconds.
    pub duration_ms: u32,
    /// Why it failed or was aborted; empty on success.
    pub detail: String<FIT_DETAIL_LEN>,
}
