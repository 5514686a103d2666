//! Telemetry: the device's health numbers, answered to `GetTelemetry` and sent as the 1 Hz
//! heartbeat topic, and whether the camera is there.

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::fit::{FitState, FitSummary};

/// Health and performance of the device at one instant.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct Telemetry {
    /// Milliseconds since the daemon started (orders heartbeats, detects restarts).
    pub uptime_ms: u64,
    /// Corrected frames per second over the last second.
    pub fps: f32,
    /// Frames captured since start.
    pub frames_total: u64,
    /// Frames dropped since start (capture overruns, corrupt frames).
    pub frames_dropped: u64,
    /// Capture-to-corrected latency of the last frame, microseconds.
    pub frame_latency_us: u32,
    /// Age of the applied pattern in seconds; `None` when no pattern is applied yet.
    pub pattern_age_s: Option<u32>,
    /// What the fit machinery is doing.
    pub fit_state: FitState,
    /// The last finished fit.
    pub last_fit: Option<FitSummary>,
    /// GPU load in percent; `None` without a GPU.
    pub gpu_load_pct: Option<f32>,
    /// CPU load in percent (all cores).
    pub cpu_load_pct: f32,
    /// Sensor (focal plane) temperature in °C, when the camera reports it.
    pub sensor_temp_c: Option<f32>,
    /// SoC temperature in °C, when readable.
    pub soc_temp_c: Option<f32>,
    /// Free space on the data partition, MiB.
    pub disk_free_mb: u64,
    /// Roughness of recent corrected frames (lower is better), when measured.
    pub roughness: Option<f32>,
    /// Compute the fits used in the last hour, against the budget.
    pub fit_budget: FitBudgetUse,
    /// Whether the camera delivers frames.
    pub camera: CameraState,
    /// Milliseconds since the last good frame; `None` before the first one.
    pub since_last_frame_ms: Option<u64>,
}

/// The refit compute budget and what fits used of it.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq)]
pub struct FitBudgetUse {
    /// Compute seconds fits used in the sliding hour before now.
    pub used_s: f32,
    /// Compute seconds allowed per sliding hour (`fit.budget.gpu_seconds_per_hour`).
    pub per_hour_s: f32,
    /// Share of wall time a fit may compute (`fit.budget.duty_cycle`).
    pub duty_cycle: f32,
}

/// Whether the camera delivers frames. While it is absent the daemon keeps serving the link
/// and tries to reopen it.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    /// Frames arrive.
    Streaming,
    /// Unplugged, stalled or not yet connected: reopened every `watchdog.reconnect_interval_s`.
    Absent,
    /// A replay source played its last frame (no looping).
    Ended,
}
