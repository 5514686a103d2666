//! A staged firmware rollout ([`staged_flash`]): the canary alone first, then batches of
//! `batch_size` devices in parallel. Each device is flashed, waited for until the new process
//! answers, checked (it runs the new version, its camera delivers frames) and confirmed, so it
//! is not rolled back. The rollout halts after the first stage in which a device failed or
//! came back on its old version (rolled back); the devices after it are left alone. The report
//! says what happened to each device and which version each one runs now.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::FleetDevice;
use super::parallel::run_all;
use crate::client::{ClientError, ConnectOptions, Device, ResumePolicy};

/// How the rollout goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPlan {
    /// Index of the canary in the device list.
    pub canary: usize,
    /// Devices flashed at once after the canary.
    pub batch_size: usize,
    /// Time a flashed device has to come back and deliver frames.
    pub health_timeout: Duration,
}

/// What became of one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Runs the new version, healthy and confirmed.
    Updated,
    /// The update failed at `stage` (the device refused the image, did not come back, showed
    /// no frames…).
    Failed {
        /// `connect`, `upload`, `restart`, `health` or `confirm`.
        stage: &'static str,
        /// Why.
        error: String,
    },
    /// The device came back on another version: the new image was rolled back.
    RolledBack {
        /// Why, as the device reports it.
        reason: String,
    },
    /// Not flashed: the rollout halted before its stage.
    NotAttempted,
}

impl Outcome {
    /// Whether the rollout must stop after this device's stage.
    pub fn halts(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::RolledBack { .. })
    }
}

/// One device in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceReport {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub target: String,
    /// `0` for the canary, then the batch number (None when not attempted).
    pub stage: Option<usize>,
    /// What happened.
    pub outcome: Outcome,
    /// The firmware version it runs now (None when it did not answer).
    pub version: Option<String>,
    /// Whether that version is confirmed.
    pub confirmed: Option<bool>,
}

/// The whole rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutReport {
    /// The version rolled out.
    pub version: String,
    /// Every device, in fleet order.
    pub devices: Vec<DeviceReport>,
    /// The stage after which the rollout stopped, when it did not finish.
    pub halted_after_stage: Option<usize>,
}

impl RolloutReport {
    /// Whether every device was updated.
    pub fn complete(&self) -> bool {
        self.devices.iter().all(|d| d.outcome == Outcome::Updated)
    }
}

/// Progress of a rollout, for a display.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutEvent {
    /// A stage starts with these devices (stage 0 is the canary).
    Stage {
        /// Stage number.
        stage: usize,
        /// Device names.
        devices: Vec<String>,
    },
    /// A device finished its update.
    Done {
        /// Device name.
        name: String,
        /// What happened.
        outcome: Outcome,
    },
    /// The rollout stops: a device of this stage failed or rolled back.
    Halted {
        /// The stage.
        stage: usize,
    },
}

/// The stages: the canary alone, then the others in file order, `batch_size` at a time.
pub fn stages(devices: usize, plan: &RolloutPlan) -> Vec<Vec<usize>> {
    let mut out = vec![vec![plan.canary]];
    let rest: Vec<usize> = (0..devices).filter(|&i| i != plan.canary).collect();
    out.extend(rest.chunks(plan.batch_size.max(1)).map(<[usize]>::to_vec));
    out
}

/// Rolls `image` (signed, version `version`) out to `devices`, connecting with `base`'s
/// timeouts and each device's target and token.
pub fn staged_flash(
    devices: &[FleetDevice],
    base: &ConnectOptions,
    image: &[u8],
    version: &str,
    plan: &RolloutPlan,
    on_event: impl Fn(RolloutEvent) + Sync,
) -> RolloutReport {
    let mut outcomes: Vec<(Option<usize>, Outcome)> =
        vec![(None, Outcome::NotAttempted); devices.len()];
    let mut halted = None;
    for (stage, members) in stages(devices.len(), plan).into_iter().enumerate() {
        on_event(RolloutEvent::Stage {
            stage,
            devices: members.iter().map(|&i| devices[i].name.clone()).collect(),
        });
        let results = run_all(&members, members.len(), |&i| {
            let d = &devices[i];
            let outcome = update_one(&d.options(base), image, version, plan.health_timeout);
            on_event(RolloutEvent::Done {
                name: d.name.clone(),
                outcome: outcome.clone(),
            });
            outcome
        });
        let failed = results.iter().any(Outcome::halts);
        for (&i, outcome) in members.iter().zip(results) {
            outcomes[i] = (Some(stage), outcome);
        }
        if failed {
            on_event(RolloutEvent::Halted { stage });
            halted = Some(stage);
            break;
        }
    }
    // Which device runs which version now, asked of every device (the halted ones too).
    let versions = run_all(devices, devices.len(), |d| {
        let mut dev = Device::connect(&d.options(base)).ok()?;
        let st = dev.firmware_status().ok()?;
        Some((st.version.to_string(), st.confirmed))
    });
    RolloutReport {
        version: version.to_string(),
        devices: devices
            .iter()
            .zip(outcomes)
            .zip(versions)
            .map(|((d, (stage, outcome)), v)| DeviceReport {
                name: d.name.clone(),
                target: d.target.to_string(),
                stage,
                outcome,
                version: v.as_ref().map(|(v, _)| v.clone()),
                confirmed: v.map(|(_, c)| c),
            })
            .collect(),
        halted_after_stage: halted,
    }
}

fn failed(stage: &'static str, e: impl std::fmt::Display) -> Outcome {
    Outcome::Failed {
        stage,
        error: e.to_string(),
    }
}

/// Flash, wait for the new process, check it, confirm it.
fn update_one(opts: &ConnectOptions, image: &[u8], version: &str, health: Duration) -> Outcome {
    let mut dev = match Device::connect(opts) {
        Ok(d) => d,
        Err(e) => return failed("connect", e),
    };
    if let Err(e) = dev.flash(image, ResumePolicy::default(), |_| {}) {
        return failed("upload", e);
    }
    let flashed = Instant::now();
    // The device restarts into the new slot. The new process is the one whose clock started
    // after the upload finished (the old one may still answer for a moment).
    let deadline = flashed + health;
    loop {
        if Instant::now() > deadline {
            return failed(
                "restart",
                format!("did not come back as a new process within {health:?}"),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
        if dev.reconnect().is_err() {
            continue;
        }
        match dev.time_sync() {
            Ok(t) if u128::from(t.device_monotonic_ms) <= flashed.elapsed().as_millis() => break,
            _ => continue,
        }
    }
    let state = match dev.firmware_status() {
        Ok(s) => s,
        Err(e) => return failed("restart", e),
    };
    if state.version.as_str() != version {
        return Outcome::RolledBack {
            reason: format!(
                "runs {} instead of {version}: {}",
                state.version,
                state.last_error.as_deref().unwrap_or("no reason given")
            ),
        };
    }
    if let Err(e) = wait_for_frames(&mut dev, deadline) {
        return failed("health", e);
    }
    match dev.firmware_confirm().and_then(|()| dev.firmware_status()) {
        Ok(s) if s.confirmed && s.version.as_str() == version => Outcome::Updated,
        Ok(s) => Outcome::RolledBack {
            reason: format!(
                "runs {} (confirmed: {}) after the confirm: {}",
                s.version,
                s.confirmed,
                s.last_error.as_deref().unwrap_or("no reason given")
            ),
        },
        Err(e) => failed("confirm", e),
    }
}

/// Healthy = the camera delivers frames: the frame counter grows and the rate is above 0.
fn wait_for_frames(dev: &mut Device, deadline: Instant) -> Result<(), String> {
    let first = dev.telemetry().map_err(|e| e.to_string())?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let t = dev.telemetry().map_err(|e: ClientError| e.to_string())?;
        if t.frames_total > first.frames_total && t.fps > 0.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no frames: {} captured, {:.1} fps",
                t.frames_total, t.fps
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_first_then_batches() {
        let plan = RolloutPlan {
            canary: 2,
            batch_size: 2,
            health_timeout: Duration::from_secs(1),
        };
        assert_eq!(stages(5, &plan), vec![vec![2], vec![0, 1], vec![3, 4]]);
        let alone = RolloutPlan { canary: 0, ..plan };
        assert_eq!(stages(1, &alone), vec![vec![0]]);
    }
}
