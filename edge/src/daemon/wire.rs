//! The daemon's state in the link's words: telemetry, fit state and status, device info,
//! capabilities and firmware state as `protocol` messages.

use protocol::text::truncate;
use protocol::{
    Capabilities, DeviceInfo, FirmwareState, FitState, FitStatus, FitSummary, Hello, Telemetry,
};

use super::core::{DaemonCore, TelemetrySnapshot};
use crate::config::{GpioBoard, SourceKind};
use crate::firmware::BUILD_VERSION;
use crate::refit::RefitState;
use crate::stats::{CameraState, LastFit};

fn last_fit(l: &LastFit) -> FitSummary {
    FitSummary {
        method: truncate(&l.method),
        loss: l.loss,
        duration_ms: l.duration_ms,
        steps: l.steps,
        unix_ms: l.unix_ms,
    }
}

/// The scheduler's state on the wire.
pub fn fit_state(s: &RefitState) -> FitState {
    match s {
        RefitState::Idle => FitState::Idle,
        RefitState::Collecting { .. } | RefitState::WaitingForBudget { .. } => FitState::Collecting,
        RefitState::Running { .. } => FitState::Running,
    }
}

/// Telemetry on the wire.
pub fn telemetry(t: &TelemetrySnapshot, fit: FitState) -> Telemetry {
    Telemetry {
        uptime_ms: t.uptime_s * 1000,
        fps: t.fps,
        frames_total: t.frames_total,
        frames_dropped: t.frames_dropped,
        frame_latency_us: t.frame_latency_us,
        pattern_age_s: t.pattern_age_s,
        fit_state: fit,
        last_fit: t.last_fit.as_ref().map(last_fit),
        gpu_load_pct: t.gpu_load_pct,
        cpu_load_pct: t.cpu_load_pct,
        sensor_temp_c: t.sensor_temp_c,
        soc_temp_c: t.soc_temp_c,
        disk_free_mb: t.disk_free_mb,
        roughness: t.roughness,
        fit_budget: protocol::FitBudgetUse {
            used_s: t.fit_used_s,
            per_hour_s: t.fit_budget.0,
            duty_cycle: t.fit_budget.1,
        },
        camera: camera_state(t.camera),
        since_last_frame_ms: t.since_last_frame_ms,
    }
}

/// Whether the camera delivers frames, on the wire.
fn camera_state(c: CameraState) -> protocol::CameraState {
    match c {
        CameraState::Streaming => protocol::CameraState::Streaming,
        CameraState::Absent => protocol::CameraState::Absent,
        CameraState::Ended => protocol::CameraState::Ended,
    }
}

/// Telemetry now.
pub fn telemetry_now(core: &DaemonCore) -> Telemetry {
    let fit = fit_state(&core.fit_status().state);
    telemetry(&core.telemetry(), fit)
}

/// The device's capabilities; `auth_required` is the connection's own.
pub fn capabilities(core: &DaemonCore, auth_required: bool) -> Capabilities {
    let cfg = core.config();
    let mut c = Capabilities::SNAPSHOTS | Capabilities::PATTERN_TRANSFER;
    if cfg!(feature = "cuda") {
        c |= Capabilities::CUDA;
    }
    if cfg!(target_os = "linux") {
        c |= Capabilities::V4L2;
    }
    if cfg.outputs.loopback.is_some() {
        c |= Capabilities::LOOPBACK;
    }
    if cfg.gpio.board != GpioBoard::None {
        c |= Capabilities::GPIO;
    }
    if core.firmware().available() {
        c |= Capabilities::FIRMWARE_UPDATE;
    }
    if cfg.camera.source == SourceKind::Sim {
        c |= Capabilities::SIMULATED_CAMERA;
    }
    if auth_required {
        c |= Capabilities::AUTH_REQUIRED;
    }
    c
}

/// Our `Hello`.
pub fn hello(core: &DaemonCore, auth_required: bool) -> Hello {
    let cfg = core.config();
    Hello::new(
        &cfg.device.id,
        BUILD_VERSION,
        capabilities(core, auth_required),
    )
}

/// `GetInfo`.
pub fn device_info(core: &DaemonCore) -> DeviceInfo {
    let cfg = core.config();
    let src = core.source_info();
    let (slots, _) = core.firmware().state();
    DeviceInfo {
        device_id: truncate(&cfg.device.id),
        firmware_version: truncate(BUILD_VERSION),
        board: truncate(&cfg.device.board),
        camera: truncate(&cfg.camera.name),
        width: src.width.min(u32::from(u16::MAX)) as u16,
        height: src.height.min(u32::from(u16::MAX)) as u16,
        bit_depth: src.bit_depth,
        // Whether the device asks TCP peers for the token (this link passed its gate already).
        capabilities: capabilities(core, cfg.link.tcp.token.is_some()),
        uptime_s: core.stats().uptime_s(),
        active_slot: slots.active,
    }
}

/// `CalibrateStatus`.
pub fn fit_status(core: &DaemonCore) -> FitStatus {
    let st = core.fit_status();
    let mut s = FitStatus {
        state: fit_state(&st.state),
        fit_id: None,
        step: 0,
        total_steps: 0,
        loss: 0.0,
        elapsed_ms: 0,
        eta_ms: 0,
        last: core.stats().last_fit().map(|l| last_fit(&l)),
    };
    match st.state {
        RefitState::Running {
            fit_id,
            step,
            total_steps,
            loss,
            elapsed_ms,
        } => {
            s.fit_id = Some(fit_id);
            s.step = step;
            s.total_steps = total_steps;
            s.loss = if loss.is_finite() { loss } else { 0.0 };
            s.elapsed_ms = elapsed_ms.min(u64::from(u32::MAX)) as u32;
            if step > 0 {
                let per = elapsed_ms as f64 / f64::from(step);
                s.eta_ms = (per * f64::from(total_steps.saturating_sub(step))) as u32;
            }
        }
        RefitState::Collecting { fit_id, .. } => s.fit_id = Some(fit_id),
        _ => {}
    }
    s
}

/// `FirmwareStatus`.
pub fn firmware_state(core: &DaemonCore) -> FirmwareState {
    let (st, version) = core.firmware().state();
    FirmwareState {
        active_slot: st.active,
        pending_slot: st.pending,
        confirmed: st.confirmed,
        version: truncate(&version),
        last_error: st.last_error.as_deref().map(truncate),
    }
}
