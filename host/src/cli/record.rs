//! `dipnuc record`: 16-bit frames from the device's frame stream into a TIFF sequence or a
//! multi-page TIFF, with a metadata sidecar and a progress bar; at the end a summary that
//! accounts for every frame the device captured meanwhile.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use host::client::FrameAssembler;
use host::recording::{Layout, RecordingWriter, Sidecar};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use protocol::FrameKind;
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::exit::{self, Failure};
use super::{interrupt, output};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Raw sensor counts, before correction.
    Raw,
    /// Corrected frames.
    Corrected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SidecarArg {
    /// frames.csv, one row per frame as it arrives.
    Csv,
    /// frames.json with the summary, written at the end.
    Json,
}

/// Record 16-bit frames (raw counts or corrected) into TIFF files with a metadata sidecar.
///
/// Each frame's sequence number, capture time, sensor temperature and pattern id go into the
/// sidecar. The device sends at most --fps frames per second and never waits for the link:
/// frames it skipped (above the rate, or while the link was behind) are counted, and so are
/// frames lost on the link, so the summary accounts for every frame captured meanwhile.
///
/// Examples:
///   dipnuc record --kind raw --frames 300 --out run1 --tcp 192.168.1.20:7700
///   dipnuc record --kind corrected --seconds 60 --fps 9 --multipage --out run2 --port /dev/ttyUSB0
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RecordArgs {
    /// Which frames.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Stop after N frames.
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    pub frames: Option<u64>,
    /// Stop after S seconds.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Folder to write into (created; refused when it holds a recording already).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Highest rate to ask for, frames per second (the device caps it at recording.max_fps).
    #[arg(long, value_name = "FPS", default_value_t = 30.0)]
    pub fps: f32,
    /// One multi-page frames.tif instead of a frame-NNNNNN.tif per frame.
    #[arg(long)]
    pub multipage: bool,
    /// Metadata sidecar format.
    #[arg(long, value_enum, default_value = "csv")]
    pub sidecar: SidecarArg,
}

/// The end-of-recording summary (stdout with --json; in frames.json).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub device_id: String,
    pub kind: &'static str,
    pub out: PathBuf,
    pub frames: u64,
    pub seconds: f64,
    pub fps: f64,
    pub max_fps_granted: f32,
    pub offered: u64,
    pub skipped_rate: u64,
    pub skipped_busy: u64,
    pub lost_on_link: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub interrupted: bool,
}

pub fn run(a: RecordArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    if a.frames.is_none() && a.seconds.is_none() {
        anyhow::bail!("say how long to record: --frames N or --seconds S");
    }
    if let Some(s) = a.seconds
        && !(s.is_finite() && s > 0.0)
    {
        anyhow::bail!("--seconds must be a positive number, got {s}");
    }
    if a.frames == Some(0) {
        anyhow::bail!("--frames must be at least 1");
    }
    if !(a.fps.is_finite() && a.fps > 0.0) {
        anyhow::bail!("--fps must be a positive number, got {}", a.fps);
    }
    let layout = if a.multipage {
        Layout::Multipage
    } else {
        Layout::Sequence
    };
    let sidecar = match a.sidecar {
        SidecarArg::Csv => Sidecar::Csv,
        SidecarArg::Json => Sidecar::Json,
    };
    let (kind, kind_name) = match a.kind {
        KindArg::Raw => (FrameKind::Raw, "raw"),
        KindArg::Corrected => (FrameKind::Corrected, "corrected"),
    };
    let mut writer = RecordingWriter::create(&a.out, layout, sidecar)?;
    let mut dev = conn.connect()?;
    let stop = interrupt::flag();
    let opened = dev
        .frames_subscribe(kind, a.fps)
        .context("opening the frame stream")?;
    let mut assembler = FrameAssembler::new(opened.stream_id);
    let bar = match a.frames {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "record [{bar:30}] {pos}/{len} frames {msg} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let limit = a.seconds.map(Duration::from_secs_f64);
    let (mut first_seq, mut last_seq) = (None, None);
    // A stream that stops delivering (camera gone, link dead) ends the recording with an error.
    let silence = conn_timeout(conn).max(Duration::from_secs(5));
    let mut last_frame = Instant::now();
    let mut failure = None;
    while a.frames.is_none_or(|n| writer.frames() < n)
        && limit.is_none_or(|l| started.elapsed() < l)
        && !stop.load(Ordering::Relaxed)
    {
        let wait = Duration::from_millis(200);
        match dev.next_frame(&mut assembler, wait) {
            Ok(Some(frame)) => {
                first_seq.get_or_insert(frame.header.seq);
                last_seq = Some(frame.header.seq);
                writer.write(&frame)?;
                last_frame = Instant::now();
                bar.set_position(writer.frames());
                let c = assembler.counts();
                let secs = started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "{:.1} fps, skipped {} rate / {} busy, lost {}",
                    writer.frames() as f64 / secs.max(1e-3),
                    c.skipped_rate,
                    c.skipped_busy,
                    c.lost_on_link
                ));
            }
            Ok(None) if last_frame.elapsed() > silence => {
                failure = Some(format!(
                    "no frame for {:.0} s; the device stopped streaming",
                    last_frame.elapsed().as_secs_f64()
                ));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                failure = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if failure.is_none() {
        // The stream ends with the connection anyway; saying so frees the device's slot at once.
        let _ = dev.frames_unsubscribe();
    }
    let c = assembler.counts();
    let summary = Summary {
        device_id: dev.peer().device_id.to_string(),
        kind: kind_name,
        out: a.out.clone(),
        frames: writer.frames(),
        seconds,
        fps: writer.frames() as f64 / seconds.max(1e-3),
        max_fps_granted: opened.max_fps,
        offered: c.offered,
        skipped_rate: c.skipped_rate,
        skipped_busy: c.skipped_busy,
        lost_on_link: c.lost_on_link,
        first_seq,
        last_seq,
        interrupted: stop.load(Ordering::Relaxed),
    };
    let sidecar_path = writer.finish(&summary)?;
    if json {
        output::json(&summary)?;
    } else {
        output::table(&[
            (
                "recorded",
                format!(
                    "{} {kind_name} frames in {seconds:.1} s ({:.2} fps)",
                    summary.frames, summary.fps
                ),
            ),
            (
                "into",
                format!("{} (metadata: {})", a.out.display(), sidecar_path.display()),
            ),
            ("rate", format!("at most {:.1} fps granted", opened.max_fps)),
            (
                "skipped",
                format!(
                    "{} above the rate, {} while the link was behind",
                    c.skipped_rate, c.skipped_busy
                ),
            ),
            ("lost on link", c.lost_on_link.to_string()),
        ])?;
    }
    if let Some(why) = failure {
        return Err(Failure::new(exit::COMMS, format!("recording stopped early: {why}")).into());
    }
    if summary.interrupted {
        return Err(Failure::new(
            exit::INTERRUPTED,
            "interrupted; the frames so far are saved",
        )
        .into());
    }
    Ok(())
}

fn conn_timeout(conn: &ConnectionArgs) -> Duration {
    Duration::from_secs_f64(conn.timeout.clamp(0.1, 3600.0))
}
