//! `dipnuc pattern pull|push`: the applied noise pattern as a `.dnp` file (the edge's pattern
//! format, with metadata and checksum), checked on both ends.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use formats::pattern::StoredPattern;
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::output;

/// Copy the noise pattern from or to the device (.dnp files).
///
/// Examples:
///   dipnuc pattern pull site-a.dnp --tcp 127.0.0.1:7700
///   dipnuc pattern push site-a.dnp --tcp 127.0.0.1:7700
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PatternArgs {
    #[command(subcommand)]
    pub action: PatternAction,
}

#[derive(Debug, Subcommand)]
pub enum PatternAction {
    /// Save the device's applied pattern to FILE.
    Pull {
        /// Output .dnp file.
        file: PathBuf,
    },
    /// Apply the pattern in FILE on the device (it must match the camera's frame size).
    Push {
        /// A .dnp file (from `pattern pull`).
        file: PathBuf,
    },
}

#[derive(Serialize)]
struct Summary<'a> {
    file: &'a std::path::Path,
    width: u32,
    height: u32,
    method: &'a str,
    camera: &'a str,
    fit_loss: Option<f32>,
    unix_ms: u64,
    bytes: usize,
}

fn summary<'a>(file: &'a std::path::Path, p: &'a StoredPattern, bytes: usize) -> Summary<'a> {
    Summary {
        file,
        width: p.width,
        height: p.height,
        method: &p.meta.method,
        camera: &p.meta.camera,
        fit_loss: p.meta.fit_loss,
        unix_ms: p.meta.unix_ms,
        bytes,
    }
}

pub fn run(a: PatternArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    match a.action {
        PatternAction::Pull { file } => {
            let mut dev = conn.connect()?;
            let p = dev.pattern_pull().context("pulling the pattern")?;
            let bytes = p.encode();
            std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            if json {
                output::json_line(&summary(&file, &p, bytes.len()))?;
            } else {
                output::outln!(
                    "{}x{} pattern ({}) saved to {}",
                    p.width,
                    p.height,
                    p.meta.method,
                    file.display()
                );
            }
        }
        PatternAction::Push { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let p = StoredPattern::decode(&bytes)
                .with_context(|| format!("{} is not a valid pattern file", file.display()))?;
            let mut dev = conn.connect()?;
            let info = dev.info()?;
            if (p.width, p.height) != (u32::from(info.width), u32::from(info.height)) {
                anyhow::bail!(
                    "{} is a {}x{} pattern but the device's camera delivers {}x{}",
                    file.display(),
                    p.width,
                    p.height,
                    info.width,
                    info.height
                );
            }
            dev.pattern_push(&p).context("pushing the pattern")?;
            if json {
                output::json_line(&summary(&file, &p, bytes.len()))?;
            } else {
                output::outln!(
                    "{}x{} pattern from {} applied",
                    p.width,
                    p.height,
                    file.display()
                );
            }
        }
    }
    Ok(())
}
