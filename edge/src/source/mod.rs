//! Frame sources behind one trait: the simulated camera, replay of a folder of frames, and
//! V4L2 capture. `open_source` builds the one the configuration names; `open_or_wait` stands
//! in for one whose device is missing until it appears.
//!
//! A source returns `Ok(None)` when no frame arrived within the timeout, `SourceError::BadFrame`
//! for a frame it could not use (the capture loop logs it, counts it as dropped and goes on) and
//! `SourceError::Disconnected` when the device is gone (the loop calls `reopen` until it is back).

pub mod absent;
pub mod drift;
pub mod replay;
pub mod sim;
#[cfg(all(target_os = "linux", feature = "v4l2"))]
pub mod v4l2;

use std::time::Duration;

pub use self::absent::open_or_wait;
use crate::config::{CameraConfig, SourceKind};
use crate::frame::RawFrame;

/// Buffers a capture driver holds: frames captured while the reader is busy wait in them, and
/// only a reader late by more than this many frame periods loses frames. The V4L2 source
/// streams through this many memory-mapped buffers, and the simulator models the same.
pub const DRIVER_BUFFERS: u32 = 4;

/// What a source delivers.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// Human-readable description (device path, folder, "simulated").
    pub name: String,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Significant bits per pixel.
    pub bit_depth: u8,
}

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// One frame was unusable (wrong size, truncated, undecodable); later frames may be fine.
    #[error("bad frame: {0}")]
    BadFrame(String),
    /// The device or folder went away; `reopen` may bring it back.
    #[error("source disconnected: {0}")]
    Disconnected(String),
    /// The source cannot be opened with this configuration (no retry helps).
    #[error("cannot open source: {0}")]
    Open(String),
    /// The source has no more frames (replay without looping).
    #[error("end of stream")]
    EndOfStream,
}

/// A camera or anything that produces raw frames.
pub trait FrameSource: Send {
    /// What this source delivers.
    fn info(&self) -> SourceInfo;
    /// Waits up to `timeout` for the next frame.
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, SourceError>;
    /// Re-opens the device after a disconnect (or a stall).
    fn reopen(&mut self) -> Result<(), SourceError>;
}

/// Opens the source the camera section names.
pub fn open_source(cfg: &CameraConfig) -> Result<Box<dyn FrameSource>, SourceError> {
    match cfg.source {
        SourceKind::Sim => Ok(Box::new(sim::SimCamera::new(cfg))),
        SourceKind::Replay => Ok(Box::new(replay::ReplaySource::open(cfg)?)),
        SourceKind::V4l2 => open_v4l2(cfg),
    }
}

#[cfg(all(target_os = "linux", feature = "v4l2"))]
fn open_v4l2(cfg: &CameraConfig) -> Result<Box<dyn FrameSource>, SourceError> {
    Ok(Box::new(v4l2::V4l2Source::open(cfg)?))
}

#[cfg(not(all(target_os = "linux", feature = "v4l2")))]
fn open_v4l2(_cfg: &CameraConfig) -> Result<Box<dyn FrameSource>, SourceError> {
    Err(SourceError::Open(
        "V4L2 capture needs Linux and a dipnuc-edge built with the `v4l2` feature".into(),
    ))
}

/// Sleeps until `deadline` (pacing a source at its frame rate), at most `timeout`.
/// Returns false when the timeout ran out first.
pub(crate) fn pace_until(deadline: std::time::Instant, timeout: Duration) -> bool {
    let now = std::time::Instant::now();
    if deadline <= now {
        return true;
    }
    let wait = deadline - now;
    if wait > timeout {
        std::thread::sleep(timeout);
        return false;
    }
    std::thread::sleep(wait);
    true
}
