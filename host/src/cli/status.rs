//! `dipnuc status`: health at a glance (telemetry, fit state, firmware slot).

use clap::Args;
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::output::{self, opt};

/// Show the device's health: camera, frame rate, drops, latency, pattern age, last fit,
/// temperatures.
///
/// Examples:
///   dipnuc status --tcp 127.0.0.1:7700
///   dipnuc status --tcp 127.0.0.1:7700 --json | jq .telemetry.fps
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {}

#[derive(Serialize)]
struct StatusJson {
    device_id: String,
    firmware_version: String,
    telemetry: protocol::Telemetry,
    fit: protocol::FitStatus,
}

pub fn run(_a: StatusArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    let mut dev = conn.connect()?;
    let telemetry = dev.telemetry()?;
    let fit = dev.calibrate_status()?;
    if json {
        return output::json(&StatusJson {
            device_id: dev.peer().device_id.to_string(),
            firmware_version: dev.peer().firmware_version.to_string(),
            telemetry,
            fit,
        });
    }
    let t = &telemetry;
    let last = match &t.last_fit {
        Some(f) => format!(
            "{} loss {:.4e}, {} steps in {:.1} s",
            f.method,
            f.loss,
            f.steps,
            f64::from(f.duration_ms) / 1000.0
        ),
        None => "-".into(),
    };
    let fit_now = match fit.state {
        protocol::FitState::Running => format!(
            "running: step {}/{}, loss {:.4e}, eta {:.0} s",
            fit.step,
            fit.total_steps,
            fit.loss,
            f64::from(fit.eta_ms) / 1000.0
        ),
        s => format!("{s:?}").to_lowercase(),
    };
    output::table(&[
        (
            "device",
            format!("{} ({})", dev.peer().device_id, dev.peer().firmware_version),
        ),
        ("uptime", output::age(t.uptime_ms / 1000)),
        ("camera", camera_line(t)),
        ("fps", format!("{:.1}", t.fps)),
        (
            "frames",
            format!("{} ({} dropped)", t.frames_total, t.frames_dropped),
        ),
        (
            "latency",
            format!("{:.2} ms", f64::from(t.frame_latency_us) / 1000.0),
        ),
        (
            "pattern age",
            opt(t.pattern_age_s.map(|s| output::age(u64::from(s)))),
        ),
        ("fit", fit_now),
        ("last fit", last),
        (
            "fit budget",
            format!(
                "{:.1} of {:.0} compute s used in the last hour (duty cycle {:.0} %)",
                t.fit_budget.used_s,
                t.fit_budget.per_hour_s,
                100.0 * t.fit_budget.duty_cycle
            ),
        ),
        ("roughness", opt(t.roughness.map(|r| format!("{r:.5}")))),
        (
            "sensor temp",
            opt(t.sensor_temp_c.map(|c| format!("{c:.2} °C"))),
        ),
        ("soc temp", opt(t.soc_temp_c.map(|c| format!("{c:.1} °C")))),
        ("cpu load", format!("{:.0} %", t.cpu_load_pct)),
        ("gpu load", opt(t.gpu_load_pct.map(|g| format!("{g:.0} %")))),
        ("disk free", format!("{} MiB", t.disk_free_mb)),
    ])?;
    Ok(())
}

/// `streaming`, or `absent: no frame for 2m05s, waiting for it` while the camera is away.
fn camera_line(t: &protocol::Telemetry) -> String {
    match (t.camera, t.since_last_frame_ms) {
        (protocol::CameraState::Absent, Some(ms)) => format!(
            "absent: no frame for {}, waiting for it",
            output::age(ms / 1000)
        ),
        (protocol::CameraState::Absent, None) => "absent: no frame yet, waiting for it".into(),
        _ => output::camera(t),
    }
}
