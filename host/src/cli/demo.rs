//! `dipnuc demo`: the whole system on the simulated camera, no hardware needed.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use host::demo::{DemoEvent, DemoOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output;

/// Run the whole system on a simulated camera: start an edge daemon, connect over TCP on
/// loopback, calibrate on a CPU budget (TV-DIP: CP-TV is served at once, the network's pattern
/// is blended in when done), and write raw, pattern, corrected and side-by-side images, a
/// PSNR-over-time chart and report.md/report.json (PSNR against the simulator's clean frames,
/// roughness before and after).
///
/// Examples:
///   dipnuc demo
///   dipnuc demo --out /tmp/demo --method cp-tv
///   dipnuc demo --max-seconds 20 --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "dipnuc-demo")]
    pub out: PathBuf,
    /// Fit method on the device: tv-dip, cp-tv or colmean.
    #[arg(long, default_value = "tv-dip")]
    pub method: String,
    /// Engine preset: fast, paper or refine.
    #[arg(long, default_value = "fast")]
    pub preset: String,
    /// Fit wall-time limit in seconds (the CPU budget).
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub max_seconds: u32,
    /// Frames in the fit set.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub frames: usize,
}

pub fn run(a: DemoArgs, json: bool) -> anyhow::Result<()> {
    if a.max_seconds == 0 || a.frames == 0 {
        anyhow::bail!("--max-seconds and --frames must be at least 1");
    }
    let opts = DemoOptions {
        out: a.out.clone(),
        method: a.method.clone(),
        preset: a.preset.clone(),
        max_seconds: a.max_seconds,
        frames: a.frames,
    };
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("fit");
    let report = host::demo::run(&opts, |ev| match ev {
        DemoEvent::Stage(s) => bar.println(format!("demo: {s}")),
        DemoEvent::Fit(p) => {
            bar.set_length(u64::from(p.total_steps));
            bar.set_position(u64::from(p.step));
            bar.set_message(format!("loss {:.4e}", p.loss));
        }
    });
    bar.finish_and_clear();
    let report = report.context("dipnuc demo")?;
    let out = std::fs::canonicalize(&a.out).unwrap_or(a.out.clone());
    if json {
        output::json_line(&serde_json::json!({ "out": out, "report": report }))?;
    } else {
        output::outln!(
            "fit: {} with {} ({} steps, {:.1} s on the device)",
            report.fit_outcome,
            report.method,
            report.fit_steps,
            report.fit_seconds
        );
        if let (Some(f), Some(m)) = (&report.first_stage, &report.first_stage_method) {
            output::outln!(
                "first stage {m} (served at once): {:.2} dB on the same frame",
                f.psnr_db
            );
        }
        output::outln!(
            "PSNR {:.2} dB -> {:.2} dB ({:+.2} dB); roughness {:.5} -> {:.5} (clean scene {:.5})",
            report.raw.psnr_db,
            report.corrected.psnr_db,
            report.corrected.psnr_db - report.raw.psnr_db,
            report.raw.roughness,
            report.corrected.roughness,
            report.clean_roughness
        );
        output::outln!(
            "total {:.1} s; images and report in {}",
            report.total_seconds,
            out.display()
        );
    }
    Ok(())
}
