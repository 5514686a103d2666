//! Writing a recording: 16-bit frames as a TIFF sequence (`frame-000000.tif`, …) or one
//! multi-page TIFF (`frames.tif`), and every frame's metadata in a sidecar beside them:
//! `frames.csv` (one row per frame, written as they come) or `frames.json` (written at the end,
//! with the recording's summary). A folder that already holds a recording is refused, so
//! nothing recorded before is overwritten.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tiff::encoder::{TiffEncoder, colortype::Gray16};

use crate::client::RecordedFrame;

/// How frames are laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One TIFF per frame.
    Sequence,
    /// All frames as pages of `frames.tif`.
    Multipage,
}

/// The sidecar format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// `frames.csv`.
    Csv,
    /// `frames.json`.
    Json,
}

/// Why a recording could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The folder holds a recording already.
    #[error("{0} already holds a recording ({1}); choose another --out folder")]
    Exists(PathBuf, String),
    /// File system trouble.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> RecordingError {
    RecordingError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The sidecar's record of one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameRow {
    /// The TIFF holding it.
    pub file: String,
    /// Its page in that file (0 for a sequence).
    pub page: u64,
    /// Frames sent on the stream before it.
    pub index: u64,
    /// The camera's sequence number.
    pub seq: u64,
    /// Capture time, Unix ms (device clock).
    pub unix_ms: u64,
    /// Sensor temperature, °C.
    pub sensor_temp_c: Option<f32>,
    /// The pattern applied (its creation time, Unix ms).
    pub pattern_id: Option<u64>,
    /// Frames the stream was offered up to this one.
    pub offered: u64,
    /// Frames skipped for the rate so far.
    pub skipped_rate: u64,
    /// Frames skipped because the link was behind so far.
    pub skipped_busy: u64,
}

const CSV_HEADER: &str =
    "file,page,index,seq,unix_ms,sensor_temp_c,pattern_id,offered,skipped_rate,skipped_busy";

/// A recording being written.
pub struct RecordingWriter {
    dir: PathBuf,
    layout: Layout,
    // Unbuffered: each page is written whole, so nothing is left in a buffer on an error.
    multipage: Option<(PathBuf, TiffEncoder<File>)>,
    csv: Option<(PathBuf, BufWriter<File>)>,
    rows: Vec<FrameRow>,
    sidecar: Sidecar,
    frames: u64,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl RecordingWriter {
    /// Creates `dir` (if needed) and the files a recording starts with.
    pub fn create(dir: &Path, layout: Layout, sidecar: Sidecar) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let taken = ["frames.csv", "frames.json", "frames.tif"].contains(&name.as_str())
                || (name.starts_with("frame-") && name.ends_with(".tif"));
            if taken {
                return Err(RecordingError::Exists(dir.to_path_buf(), name));
            }
        }
        let multipage = match layout {
            Layout::Sequence => None,
            Layout::Multipage => {
                let path = dir.join("frames.tif");
                let file = File::create(&path).map_err(|e| io_err(&path, e))?;
                let enc = TiffEncoder::new(file).map_err(|e| io_err(&path, e))?;
                Some((path, enc))
            }
        };
        let csv = match sidecar {
            Sidecar::Json => None,
            Sidecar::Csv => {
                let path = dir.join("frames.csv");
                let mut w = BufWriter::new(File::create(&path).map_err(|e| io_err(&path, e))?);
                writeln!(w, "{CSV_HEADER}").map_err(|e| io_err(&path, e))?;
                Some((path, w))
            }
        };
        Ok(RecordingWriter {
            dir: dir.to_path_buf(),
            layout,
            multipage,
            csv,
            rows: Vec::new(),
            sidecar,
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Writes one frame and its sidecar row.
    pub fn write(&mut self, frame: &RecordedFrame) -> Result<(), RecordingError> {
        let h = &frame.header;
        let (w, ht) = (u32::from(h.width), u32::from(h.height));
        let (file, page) = match self.layout {
            Layout::Sequence => {
                let name = format!("frame-{:06}.tif", self.frames);
                let path = self.dir.join(&name);
                let f = File::create(&path).map_err(|e| io_err(&path, e))?;
                let mut enc = TiffEncoder::new(f).map_err(|e| io_err(&path, e))?;
                enc.write_image::<Gray16>(w, ht, &frame.pixels)
                    .map_err(|e| io_err(&path, e))?;
                (name, 0)
            }
            Layout::Multipage => {
                let (path, enc) = self.multipage.as_mut().expect("opened in create");
                enc.write_image::<Gray16>(w, ht, &frame.pixels)
                    .map_err(|e| io_err(path, e))?;
                ("frames.tif".to_string(), self.frames)
            }
        };
        let row = FrameRow {
            file,
            page,
            index: h.index,
            seq: h.seq,
            unix_ms: h.unix_ms,
            sensor_temp_c: h.sensor_temp_c,
            pattern_id: h.pattern_id,
            offered: h.offered,
            skipped_rate: h.skipped_rate,
            skipped_busy: h.skipped_busy,
        };
        if let Some((path, csv)) = self.csv.as_mut() {
            writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{}",
                row.file,
                row.page,
                row.index,
                row.seq,
                row.unix_ms,
                opt(row.sensor_temp_c),
                opt(row.pattern_id),
                row.offered,
                row.skipped_rate,
                row.skipped_busy
            )
            .map_err(|e| io_err(path, e))?;
        }
        if self.sidecar == Sidecar::Json {
            self.rows.push(row);
        }
        self.frames += 1;
        Ok(())
    }

    /// Flushes everything; a JSON sidecar gets `summary` beside the rows.
    pub fn finish(self, summary: &impl Serialize) -> Result<PathBuf, RecordingError> {
        drop(self.multipage);
        if let Some((path, mut csv)) = self.csv {
            csv.flush().map_err(|e| io_err(&path, e))?;
            return Ok(path);
        }
        let path = self.dir.join("frames.json");
        let doc = serde_json::json!({ "summary": summary, "frames": self.rows });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| io_err(&path, e))?;
        formats::atomic::write_atomically(&path, text.as_bytes()).map_err(|e| io_err(&path, e))?;
        Ok(path)
    }
}
