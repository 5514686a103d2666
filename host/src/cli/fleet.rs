//! `dipnuc --fleet FILE <command>`: `status`, `info`, `config get|set` and `pattern pull` on
//! every device of a fleet file, `--parallel` at a time, with one result row per device; and
//! `flash`, rolled out in stages (`host::fleet::rollout`). The exit status is 1 when any
//! device failed.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use host::client::{ConnectOptions, Device};
use host::fleet::parallel::run_all;
use host::fleet::rollout::{Outcome, RolloutEvent, RolloutPlan, staged_flash};
use host::fleet::{Fleet, FleetDevice};
use serde::Serialize;
use serde_json::{Value, json};

use super::Command;
use super::config::{ConfigAction, as_toml_literal};
use super::connection::ConnectionArgs;
use super::exit::{self, Failure};
use super::flash::{FlashArgs, prepare_image};
use super::output::{self, outln};
use super::pattern::PatternAction;

/// One device's answer.
#[derive(Serialize)]
struct Row {
    name: String,
    target: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip)]
    detail: String,
}

/// What a command does on one device: its JSON result and a one-line summary.
type Job<'a> = dyn Fn(&FleetDevice, &mut Device) -> anyhow::Result<(Value, String)> + Sync + 'a;

pub fn run(
    command: Command,
    fleet_path: &Path,
    parallel: usize,
    conn: &ConnectionArgs,
    json: bool,
) -> anyhow::Result<()> {
    let fleet = Fleet::load(fleet_path)?;
    let base = conn.fleet_base()?;
    match command {
        Command::Status(_) => each(&fleet, &base, parallel, json, &|_, dev| {
            let t = dev.telemetry()?;
            let fit = dev.calibrate_status()?;
            let detail = format!(
                "{} {}, {:.1} fps, {} frames ({} dropped), pattern {}, fit {}",
                dev.peer().device_id,
                dev.peer().firmware_version,
                t.fps,
                t.frames_total,
                t.frames_dropped,
                t.pattern_age_s
                    .map(|s| output::age(u64::from(s)))
                    .unwrap_or_else(|| "none".into()),
                format!("{:?}", fit.state).to_lowercase()
            );
            Ok((json!({ "telemetry": t, "fit": fit }), detail))
        }),
        Command::Info(_) => each(&fleet, &base, parallel, json, &|_, dev| {
            let i = dev.info()?;
            let detail = format!(
                "{} {}, board {}, camera {} {}x{}",
                i.device_id, i.firmware_version, i.board, i.camera, i.width, i.height
            );
            Ok((serde_json::to_value(&i)?, detail))
        }),
        Command::Config(a) => match a.action {
            ConfigAction::Get { key } => each(&fleet, &base, parallel, json, &|_, dev| {
                let v = dev
                    .config_get(&key)
                    .with_context(|| format!("config get {key}"))?;
                Ok((json!({ "key": key, "value": v }), v))
            }),
            ConfigAction::Set { key, value } => {
                let literal = as_toml_literal(&value);
                each(&fleet, &base, parallel, json, &|_, dev| {
                    let c = dev
                        .config_set(&key, &literal)
                        .with_context(|| format!("config set {key} = {literal}"))?;
                    let value = json!({
                        "key": key,
                        "value": c.value.as_str(),
                        "applies": super::config::applies(c.apply),
                        "persisted": c.persisted,
                    });
                    Ok((value, super::config::describe_change(&c)))
                })
            }
            _ => anyhow::bail!(
                "with --fleet, config takes get or set (export and import work on one device)"
            ),
        },
        Command::Pattern(a) => match a.action {
            PatternAction::Pull { file: dir } => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                each(&fleet, &base, parallel, json, &|d, dev| {
                    let p = dev.pattern_pull().context("pulling the pattern")?;
                    let path = dir.join(format!("{}.dnp", file_name(&d.name)));
                    std::fs::write(&path, p.encode())
                        .with_context(|| format!("writing {}", path.display()))?;
                    let detail = format!(
                        "{}x{} {} pattern -> {}",
                        p.width,
                        p.height,
                        p.meta.method,
                        path.display()
                    );
                    Ok((
                        json!({ "file": path, "method": p.meta.method, "unix_ms": p.meta.unix_ms }),
                        detail,
                    ))
                })
            }
            PatternAction::Push { .. } => anyhow::bail!(
                "with --fleet, pattern takes pull DIR (a pattern belongs to one camera; push it to that device)"
            ),
        },
        Command::Flash(a) => flash(&fleet, &base, a, json),
        other => anyhow::bail!(
            "{} does not take --fleet; with a fleet: status, info, config get|set, pattern pull, flash",
            command_name(&other)
        ),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Ports(_) => "ports",
        Command::Calibrate(_) => "calibrate",
        Command::Telemetry(_) => "telemetry",
        Command::Logs(_) => "logs",
        Command::Snapshot(_) => "snapshot",
        Command::Keygen(_) => "keygen",
        Command::Demo(_) => "demo",
        Command::Process(_) => "process",
        Command::Eval(_) => "eval",
        Command::Discover(_) => "discover",
        Command::Record(_) => "record",
        _ => "this command",
    }
}

/// A device name as a file name.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs `job` on every device, `parallel` at a time, prints the rows, fails when any failed.
fn each(
    fleet: &Fleet,
    base: &ConnectOptions,
    parallel: usize,
    json: bool,
    job: &Job,
) -> anyhow::Result<()> {
    let rows = run_all(&fleet.devices, parallel, |d| {
        let target = d.target.to_string();
        let result = Device::connect(&d.options(base))
            .with_context(|| format!("connecting to {target}"))
            .and_then(|mut dev| job(d, &mut dev));
        match result {
            Ok((value, detail)) => Row {
                name: d.name.clone(),
                target,
                ok: true,
                result: Some(value),
                error: None,
                detail,
            },
            Err(e) => Row {
                name: d.name.clone(),
                target,
                ok: false,
                result: None,
                error: Some(format!("{e:#}")),
                detail: format!("{e:#}"),
            },
        }
    });
    if json {
        output::json(&rows)?;
    } else {
        let table: Vec<[String; 4]> = rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.target.clone(),
                    if r.ok { "ok" } else { "FAILED" }.to_string(),
                    r.detail.clone(),
                ]
            })
            .collect();
        output::columns(&["DEVICE", "TARGET", "RESULT", "DETAIL"], &table)?;
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return Err(Failure::new(
            exit::DEVICE,
            format!("{failed} of {} devices failed", rows.len()),
        )
        .into());
    }
    Ok(())
}

fn flash(fleet: &Fleet, base: &ConnectOptions, a: FlashArgs, json: bool) -> anyhow::Result<()> {
    if a.wait {
        eprintln!("note: a fleet rollout always waits for and confirms each device");
    }
    let (image, info) = prepare_image(&a)?;
    let canary_name = a.canary.as_ref().or(fleet.rollout.canary.as_ref());
    let canary = match canary_name {
        Some(name) => fleet
            .position(name)
            .ok_or_else(|| anyhow::anyhow!("--canary {name:?} is not a device of this fleet"))?,
        None => 0,
    };
    let batch_size = a.batch_size.unwrap_or(fleet.rollout.batch_size);
    if batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let plan = RolloutPlan {
        canary,
        batch_size,
        health_timeout: a
            .health_timeout
            .map(Duration::from_secs)
            .unwrap_or(fleet.rollout.health_timeout),
    };
    // Progress goes to stderr as it happens; the report to stdout at the end.
    let log = Mutex::new(());
    let report = staged_flash(&fleet.devices, base, &image, &info.version, &plan, |ev| {
        let _g = log.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            RolloutEvent::Stage { stage: 0, devices } => {
                eprintln!("stage 0 (canary): {}", devices.join(", "))
            }
            RolloutEvent::Stage { stage, devices } => {
                eprintln!("stage {stage}: {}", devices.join(", "))
            }
            RolloutEvent::Done { name, outcome } => eprintln!("  {name}: {}", describe(&outcome)),
            RolloutEvent::Halted { stage } => {
                eprintln!("halted after stage {stage}: a device failed or rolled back")
            }
        }
    });
    if json {
        output::json(&report)?;
    } else {
        let table: Vec<[String; 5]> = report
            .devices
            .iter()
            .map(|d| {
                [
                    d.name.clone(),
                    d.stage.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                    describe(&d.outcome),
                    d.version.clone().unwrap_or_else(|| "?".into()),
                    match d.confirmed {
                        Some(true) => "confirmed".into(),
                        Some(false) => "on trial".into(),
                        None => "-".into(),
                    },
                ]
            })
            .collect();
        output::columns(&["DEVICE", "STAGE", "OUTCOME", "RUNS", "SLOT"], &table)?;
        let mut by_version: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        for d in &report.devices {
            by_version
                .entry(d.version.clone().unwrap_or_else(|| "unreachable".into()))
                .or_default()
                .push(&d.name);
        }
        for (v, names) in by_version {
            outln!("{v}: {}", names.join(", "));
        }
    }
    if !report.complete() {
        let not = report
            .devices
            .iter()
            .filter(|d| d.outcome != Outcome::Updated)
            .count();
        return Err(Failure::new(
            exit::DEVICE,
            format!(
                "{not} of {} devices not updated to {}",
                report.devices.len(),
                report.version
            ),
        )
        .into());
    }
    Ok(())
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Updated => "updated".into(),
        Outcome::Failed { stage, error } => format!("FAILED at {stage}: {error}"),
        Outcome::RolledBack { reason } => format!("ROLLED BACK: {reason}"),
        Outcome::NotAttempted => "not attempted".into(),
    }
}
