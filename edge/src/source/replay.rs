//! Replay of a folder of frames (PNG, TIFF, JPEG, BMP or PGM/PPM/PAM, read by their content;
//! 8- or 16-bit grey, or R=G=B RGB), in natural file-name order (`2.png` before `10.png`),
//! paced at the configured frame rate. The folder is listed again on `reopen`, so frames
//! can be added while it runs, and a folder that disappears (an unmounted card) reads as a
//! disconnect until it is back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{FrameSource, SourceError, SourceInfo, pace_until};
use crate::config::CameraConfig;
use crate::frame::RawFrame;
use engine::imageio::{list_images, load_gray};

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
        self.files = list_images(&self.dir)
            .map_err(|e| SourceError::Disconnected(format!("replay folder: {e}")))?;
        if self.files.is_empty() {
            return Err(SourceError::Disconnected(format!(
                "replay folder {} has no frames (PNG, TIFF, JPEG, BMP or PGM/PPM/PAM)",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceKind;
    use engine::imageio::{BitDepth, GrayImage, save_gray};

    #[test]
    fn replays_bmp_and_pgm_by_content_in_natural_order() {
        let dir = tempfile::tempdir().unwrap();
        let frame = |level: f32| GrayImage::from_f32(6, 4, BitDepth::Eight, &[level; 24]);
        save_gray(&dir.path().join("1.bmp"), &frame(10.0)).unwrap();
        save_gray(&dir.path().join("2.pgm"), &frame(20.0)).unwrap();
        // A BMP saved under a .png name.
        save_gray(&dir.path().join("10.bmp"), &frame(100.0)).unwrap();
        std::fs::rename(dir.path().join("10.bmp"), dir.path().join("10.png")).unwrap();
        let mut src = ReplaySource::open(&CameraConfig {
            source: SourceKind::Replay,
            path: Some(dir.path().to_path_buf()),
            replay_loop: false,
            width: 6,
            height: 4,
            bit_depth: 8,
            fps: 1000.0,
            ..CameraConfig::default()
        })
        .unwrap();
        let mut levels = Vec::new();
        loop {
            match src.next_frame(Duration::from_secs(5)) {
                Ok(Some(f)) => levels.push(f.data[0]),
                Ok(None) => {}
                Err(SourceError::EndOfStream) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(levels, [10, 20, 100]);
    }
}
