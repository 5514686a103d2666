//! `dipnuc snapshot`: pull one frame (raw, pattern or corrected) as a 16-bit PNG or TIFF,
//! with an optional false-colour preview.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use host::client::Pixels;
use host::frame_image;
use protocol::SnapshotKind;
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::output;

/// Which frame to pull.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// The frame as the sensor delivered it.
    Raw,
    /// The noise pattern being subtracted.
    Pattern,
    /// The corrected frame.
    Corrected,
}

/// Offset added to float patterns (zero-mean, may be negative) to store them as 16-bit words.
pub const PATTERN_OFFSET: f32 = 32768.0;

/// Save one frame from the device as a 16-bit PNG or TIFF (by the file extension).
///
/// A pattern sent as floats is stored shifted by +32768 so negative values survive.
///
/// Examples:
///   dipnuc snapshot --kind corrected --out frame.png --tcp 127.0.0.1:7700
///   dipnuc snapshot --kind raw --out raw.tiff --preview --tcp 127.0.0.1:7700
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SnapshotArgs {
    /// raw, pattern or corrected.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Output file: .png or .tif/.tiff (16-bit grey).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write a false-colour PNG preview next to it (FILE.preview.png).
    #[arg(long)]
    pub preview: bool,
}

#[derive(Serialize)]
struct Saved<'a> {
    file: &'a std::path::Path,
    preview: Option<PathBuf>,
    kind: &'a str,
    width: usize,
    height: usize,
    bit_depth: u8,
    seq: Option<u64>,
    sensor_temp_c: Option<f32>,
    unix_ms: u64,
    label: &'a str,
}

pub fn run(a: SnapshotArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    let ext_ok = a
        .out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "tif", "tiff"].contains(&e.to_ascii_lowercase().as_str()));
    if !ext_ok {
        anyhow::bail!(
            "--out {}: use a .png, .tif or .tiff file name",
            a.out.display()
        );
    }
    let (kind, name) = match a.kind {
        Kind::Raw => (SnapshotKind::Raw, "raw"),
        Kind::Pattern => (SnapshotKind::Pattern, "pattern"),
        Kind::Corrected => (SnapshotKind::Corrected, "corrected"),
    };
    let mut dev = conn.connect()?;
    let shot = dev
        .snapshot(kind)
        .with_context(|| format!("pulling a {name} snapshot"))?;
    let (w, h) = (shot.width(), shot.height());
    let words = match &shot.pixels {
        Pixels::U16(v) => v.clone(),
        Pixels::F32(v) => frame_image::f32_to_u16(v, PATTERN_OFFSET),
    };
    frame_image::save_u16(&a.out, w, h, &words)?;
    let preview = if a.preview {
        let p = frame_image::preview_path(&a.out);
        frame_image::save_preview(&p, w, h, &shot.to_f32())?;
        Some(p)
    } else {
        None
    };
    if json {
        output::json_line(&Saved {
            file: &a.out,
            preview,
            kind: name,
            width: w,
            height: h,
            bit_depth: shot.meta.bit_depth,
            seq: shot.seq(),
            sensor_temp_c: shot.meta.sensor_temp_c,
            unix_ms: shot.meta.unix_ms,
            label: &shot.meta.label,
        })?;
    } else {
        output::outln!("{name} {w}x{h} frame saved to {}", a.out.display());
        if let Some(p) = preview {
            output::outln!("preview saved to {}", p.display());
        }
    }
    Ok(())
}
