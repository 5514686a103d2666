//! `dipnuc calibrate`: start a fit on the device and follow it with a progress bar; Ctrl-C
//! aborts the fit on the device (the previous pattern stays applied).

use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use host::client::{CalibrateOptions, FitEnd};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use protocol::FitOutcome;
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::exit::{self, Failure};
use super::{interrupt, output};

/// Fit a new noise pattern on the device.
///
/// Without --wait the fit is started and its id printed. With --wait a progress bar shows the
/// step, loss and ETA; Ctrl-C aborts the fit on the device and keeps the previous pattern.
///
/// Examples:
///   dipnuc calibrate --tcp 127.0.0.1:7700 --wait
///   dipnuc calibrate --preset fast --max-seconds 60 --wait --tcp 127.0.0.1:7700
///   dipnuc calibrate --wait --json --tcp 127.0.0.1:7700
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CalibrateArgs {
    /// Fit preset (fast, paper, refine) or method (tv-dip, cp-tv, colmean); default: the
    /// device's configured one.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Stop the fit after this many seconds (the pattern so far is used).
    #[arg(long, value_name = "S")]
    pub max_seconds: Option<u32>,
    /// At most this many optimisation steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
    /// Follow the fit to its end with a progress bar.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (the fit keeps running on the device).
    #[arg(long, value_name = "S", default_value_t = 3600)]
    pub wait_limit: u64,
}

#[derive(Serialize)]
struct Result<'a> {
    fit_id: u32,
    outcome: &'a str,
    loss: Option<f32>,
    steps: Option<u32>,
    duration_ms: Option<u32>,
    detail: String,
}

pub fn run(a: CalibrateArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    if a.max_seconds == Some(0) || a.max_steps == Some(0) {
        anyhow::bail!("--max-seconds and --max-steps must be at least 1");
    }
    let opts = CalibrateOptions {
        preset: a.preset.clone().unwrap_or_default(),
        max_seconds: a.max_seconds.unwrap_or(0),
        max_steps: a.max_steps.unwrap_or(0),
    };
    let mut dev = conn.connect()?;
    if a.wait {
        dev.subscribe_fit()?;
    }
    let fit_id = dev.calibrate_start(&opts)?;
    if !a.wait {
        if json {
            output::json_line(&serde_json::json!({ "fit_id": fit_id, "outcome": "started" }))?;
        } else {
            output::outln!(
                "fit {fit_id} started; follow it with `dipnuc status` or `calibrate --wait`"
            );
        }
        return Ok(());
    }
    let stop = interrupt::flag();
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "fit {prefix} [{bar:30}] step {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(fit_id.to_string());
    let end = dev.follow_fit(fit_id, Duration::from_secs(a.wait_limit), &stop, |p| {
        bar.set_length(u64::from(p.total_steps));
        bar.set_position(u64::from(p.step));
        bar.set_message(format!(
            "loss {:.4e}, device eta {:.0} s",
            p.loss,
            f64::from(p.eta_ms) / 1000.0
        ));
    });
    bar.finish_and_clear();
    let end = end?;
    let interrupted = stop.load(Ordering::Relaxed);
    let (outcome, res) = match &end {
        FitEnd::Done(d) => (
            d.outcome,
            Result {
                fit_id,
                outcome: match d.outcome {
                    FitOutcome::Completed => "completed",
                    FitOutcome::Aborted => "aborted",
                    FitOutcome::Failed => "failed",
                },
                loss: Some(d.loss),
                steps: Some(d.steps),
                duration_ms: Some(d.duration_ms),
                detail: d.detail.to_string(),
            },
        ),
        FitEnd::Finished { summary } => (
            if summary.is_some() {
                FitOutcome::Completed
            } else {
                FitOutcome::Failed
            },
            Result {
                fit_id,
                outcome: if summary.is_some() {
                    "completed"
                } else {
                    "failed"
                },
                loss: summary.as_ref().map(|s| s.loss),
                steps: summary.as_ref().map(|s| s.steps),
                duration_ms: summary.as_ref().map(|s| s.duration_ms),
                detail: String::new(),
            },
        ),
        FitEnd::TimedOut => {
            return Err(Failure::new(
                exit::COMMS,
                format!(
                    "fit {fit_id} still running after {} s; stopped waiting",
                    a.wait_limit
                ),
            )
            .into());
        }
    };
    if json {
        output::json_line(&res)?;
    } else {
        match outcome {
            FitOutcome::Completed => output::outln!(
                "fit {fit_id} completed: loss {:.4e}, {} steps in {:.1} s; new pattern applied",
                res.loss.unwrap_or(f32::NAN),
                res.steps.unwrap_or(0),
                f64::from(res.duration_ms.unwrap_or(0)) / 1000.0
            ),
            FitOutcome::Aborted => {
                output::outln!("fit {fit_id} aborted; the previous pattern stays applied")
            }
            FitOutcome::Failed => {}
        }
    }
    match outcome {
        FitOutcome::Completed => Ok(()),
        FitOutcome::Aborted if interrupted => {
            Err(Failure::new(exit::INTERRUPTED, format!("fit {fit_id} aborted (Ctrl-C)")).into())
        }
        FitOutcome::Aborted => Err(Failure::new(
            exit::DEVICE,
            format!("fit {fit_id} was aborted on the device"),
        )
        .into()),
        FitOutcome::Failed => Err(Failure::new(
            exit::DEVICE,
            format!("fit {fit_id} failed on the device: {}", res.detail),
        )
        .into()),
    }
}
