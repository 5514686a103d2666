//! `dipnuc process`: fit one pattern from a folder of frames and write the corrected frames.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use host::offline::{ProcessOptions, process};

use super::fit_args::FitArgs;
use super::progress::FitBar;

/// Fit one noise pattern from a folder of frames and write the corrected frames.
///
/// Frames are PNG, TIFF, PGM/PAM (8- or 16-bit), JPEG, BMP or PPM (8-bit), read by their
/// content whatever the name, grey or R=G=B RGB, all of one size; the corrected frames keep
/// the names and the bit depth.
///
/// Examples:
///   dipnuc process --input raw/ --output corrected/
///   dipnuc process --input raw/ --output out/ --method cp-tv --save-pattern pattern.safetensors
///   dipnuc process --input raw/ --output out/ --preset paper --iters 3000 --max-seconds 600
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ProcessArgs {
    /// Folder of raw frames.
    #[arg(long, value_name = "DIR")]
    pub input: PathBuf,
    /// Folder for the corrected frames (created if needed).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Also save the fitted pattern (safetensors).
    #[arg(long, value_name = "FILE")]
    pub save_pattern: Option<PathBuf>,
    #[command(flatten)]
    pub fit: FitArgs,
}

pub fn run(a: ProcessArgs) -> anyhow::Result<()> {
    let opts = ProcessOptions {
        input: a.input.clone(),
        output: a.output.clone(),
        method: a.fit.method,
        config: a.fit.config()?,
        budget: a.fit.budget()?,
        save_pattern: a.save_pattern.clone(),
    };
    let mut bar = FitBar::new();
    let res = process(&opts, &mut |p| bar.update(p));
    bar.finish();
    let r = res.with_context(|| format!("processing {}", a.input.display()))?;
    println!(
        "{} frames {}x{} corrected with {} ({} iterations, {:.1} s{}) -> {}",
        r.frames,
        r.width,
        r.height,
        r.method,
        r.steps,
        r.duration.as_secs_f64(),
        if r.aborted { ", stopped early" } else { "" },
        a.output.display()
    );
    if let Some(p) = &a.save_pattern {
        println!("pattern saved to {}", p.display());
    }
    Ok(())
}
