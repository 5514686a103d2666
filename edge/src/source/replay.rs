//! Replay of a folder of PNG/TIFF frames (8- or 16-bit grey, or R=G=B RGB), in file-name
//! order, paced at the configured frame rate. The folder is listed again on `reopen`, so frames
//! can be added while it runs, and a folder that disappears (an unmounted card) reads as a
//! disconnect until it is back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{FrameSource, SourceError, SourceInfo, pace_until};
use crate::config::CameraConfig;
use crate::frame::RawFrame;
use engine::imageio::load_gray;

/// A folder of frames played back as a camera.
pub struct ReplaySource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    next: usize,
    looping: bool,
    width: u32,
    height: u32,
    bit_depth: u8,
    seq: u64,
    period: Duration,
    next_due: Instant,
}

/// The image files of a folder in name order.
pub fn list_frames(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "tif", "tiff"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Decodes one frame file into 16-bit words (the project's image loader: 8- or 16-bit grey,
/// R=G=B colour accepted, real colour refused).
pub fn decode_frame(path: &Path) -> Result<(u32, u32, Vec<u16>), String> {
    let img = load_gray(path).map_err(|e| e.to_string())?;
    Ok((img.width as u32, img.height as u32, img.data))
}

impl ReplaySource {
    /// Opens the folder `camera.path`.
    pub fn open(cfg: &CameraConfig) -> Result<ReplaySource, SourceError> {
        let dir = cfg
            .path
            .clone()
            .ok_or_else(|| SourceError::Open("camera.path is not set".into()))?;
        let mut src = ReplaySource {
            dir,
            files: Vec::new(),
            next: 0,
            looping: cfg.replay_loop,
            width: cfg.width,
            height: cfg.height,
            bit_depth: cfg.bit_depth,
            seq: 0,
            period: Duration::from_secs_f32(1.0 / cfg.fps),
            next_due: Instant::now(),
        };
        src.relist()?;
        Ok(src)
    }

    fn relist(&mut self) -> Result<(), SourceError> {
        self.files = list_frames(&self.dir).map_err(|e| {
            SourceError::Disconnected(format!("replay folder {}: {e}", self.dir.display()))
        })?;
        if self.files.is_empty() {
            return Err(SourceError::Disconnected(format!(
                "replay folder {} has no PNG/TIFF frames",
                self.dir.display()
            )));
        }
        self.next = 0;
        Ok(())
    }
}

impl FrameSource for ReplaySource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: format!("replay of {}", self.dir.display()),
            width: self.width,
            height: self.height,
            bit_depth: self.bit_depth,
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, SourceError> {
        if self.next >= self.files.len() {
            if !self.looping {
                return Err(SourceError::EndOfStream);
            }
            self.relist()?;
        }
        if !pace_until(self.next_due, timeout) {
            return Ok(None);
        }
        self.next_due = (self.next_due + self.period).max(Instant::now());
        let path = self.files[self.next].clone();
        self.next += 1;
        let seq = self.seq;
        self.seq += 1;
        if !self.dir.is_dir() {
            return Err(SourceError::Disconnected(format!(
                "replay folder {} is gone",
                self.dir.display()
            )));
        }
        let (width, height, data) = decode_frame(&path).map_err(SourceError::BadFrame)?;
        Ok(Some(RawFrame {
            seq,
            timestamp: Instant::now(),
            width,
            height,
            data,
            sensor_temp_c: None,
        }))
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        self.relist()?;
        self.next_due = Instant::now();
        Ok(())
    }
}
