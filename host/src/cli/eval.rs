//! `dipnuc eval`: PSNR, SSIM and roughness of noisy frames before and after correction,
//! against clean frames of the same names.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use host::offline::{EvalOptions, eval};

use super::fit_args::FitArgs;
use super::progress::FitBar;

/// Measure a method against ground truth: fit on --noisy, compare with --clean.
///
/// PSNR "mm" normalises both images to [0, 1] by their min and max first (as the TV-DIP
/// reference does); PSNR "raw" uses the bit depth's full range; SSIM uses scikit-image's
/// defaults on the normalised images; roughness ρ is lower for smoother images.
///
/// Examples:
///   dipnuc eval --noisy human/images_fpn_f10 --clean human/images_clean
///   dipnuc eval --noisy noisy/ --clean clean/ --method cp-tv --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    /// Folder of noisy frames.
    #[arg(long, value_name = "DIR")]
    pub noisy: PathBuf,
    /// Folder of clean frames with the same file names.
    #[arg(long, value_name = "DIR")]
    pub clean: PathBuf,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// Runs `eval`; `json` (the global `--json`) prints the report with per-frame figures as JSON.
pub fn run(a: EvalArgs, json: bool) -> anyhow::Result<()> {
    let opts = EvalOptions {
        noisy: a.noisy.clone(),
        clean: a.clean.clone(),
        method: a.fit.method,
        config: a.fit.config()?,
        budget: a.fit.budget()?,
    };
    let mut bar = FitBar::new();
    let res = eval(&opts, &mut |p| bar.update(p));
    bar.finish();
    let r = res.with_context(|| format!("evaluating {}", a.noisy.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{} frames {}x{}, method {} ({} iterations, {:.1} s{})",
        r.frames,
        r.width,
        r.height,
        r.method,
        r.steps,
        r.seconds,
        if r.aborted { ", stopped early" } else { "" }
    );
    println!(
        "{:<10} {:>9} {:>9} {:>7} {:>10}",
        "", "PSNR mm", "PSNR raw", "SSIM", "roughness"
    );
    for (label, m) in [("before", r.before), ("after", r.after)] {
        println!(
            "{label:<10} {:>9.2} {:>9.2} {:>7.4} {:>10.4}",
            m.psnr_minmax, m.psnr, m.ssim, m.roughness
        );
    }
    println!(
        "{:<10} {:>9} {:>9} {:>7} {:>10.4}",
        "clean", "", "", "", r.clean_roughness
    );
    Ok(())
}
