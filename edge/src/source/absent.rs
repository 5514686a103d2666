//! A camera that is not there yet: [`open_or_wait`] opens the configured source, and when the
//! device is missing (unplugged at start, or gone when the capture watchdog reopens it) returns
//! an [`AbsentSource`] instead, which reads as "disconnected" until one of the capture loop's
//! `reopen` calls finds the real device, and from then on delegates to it. So a missing camera
//! is waited for like one that was unplugged while running, never an error that stops the
//! daemon.

use std::time::Duration;

use tracing::warn;

use super::{FrameSource, SourceError, SourceInfo, open_source};
use crate::config::CameraConfig;
use crate::frame::RawFrame;

/// Opens the configured source, or stands in for it while its device is missing. Errors that
/// waiting cannot fix (bad configuration) are returned.
pub fn open_or_wait(camera: &CameraConfig) -> Result<Box<dyn FrameSource>, SourceError> {
    match open_source(camera) {
        Ok(s) => Ok(s),
        Err(SourceError::Disconnected(msg)) => {
            warn!(reason = %msg, "camera not available yet; will keep trying");
            Ok(Box::new(AbsentSource::new(camera)))
        }
        Err(e) => Err(e),
    }
}

/// Stands in for a camera that is not plugged in (see the module docs).
pub struct AbsentSource {
    camera: CameraConfig,
    inner: Option<Box<dyn FrameSource>>,
}

impl AbsentSource {
    /// A stand-in for the camera this section describes.
    pub fn new(camera: &CameraConfig) -> Self {
        AbsentSource {
            camera: camera.clone(),
            inner: None,
        }
    }
}

impl FrameSource for AbsentSource {
    fn info(&self) -> SourceInfo {
        match &self.inner {
            Some(s) => s.info(),
            None => SourceInfo {
                name: format!(
                    "{} {} (not connected)",
                    self.camera.source,
                    self.camera
                        .device
                        .clone()
                        .or_else(|| self.camera.path.as_ref().map(|p| p.display().to_string()))
                        .unwrap_or_default()
                ),
                width: self.camera.width,
                height: self.camera.height,
                bit_depth: self.camera.bit_depth,
            },
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, SourceError> {
        match &mut self.inner {
            Some(s) => s.next_frame(timeout),
            None => Err(SourceError::Disconnected("camera not connected".into())),
        }
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        match &mut self.inner {
            Some(s) => s.reopen(),
            None => {
                self.inner = Some(open_source(&self.camera)?);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceKind;

    #[test]
    fn a_missing_replay_folder_is_waited_for_until_it_appears() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("frames");
        let camera = CameraConfig {
            source: SourceKind::Replay,
            path: Some(dir.clone()),
            width: 4,
            height: 2,
            bit_depth: 8,
            fps: 1000.0,
            ..CameraConfig::default()
        };
        let mut src = open_or_wait(&camera).unwrap();
        assert!(src.info().name.contains("not connected"));
        assert!(matches!(
            src.next_frame(Duration::from_millis(1)),
            Err(SourceError::Disconnected(_))
        ));
        assert!(src.reopen().is_err(), "still missing");
        std::fs::create_dir(&dir).unwrap();
        let img =
            engine::imageio::GrayImage::from_f32(4, 2, engine::imageio::BitDepth::Eight, &[7.0; 8]);
        engine::imageio::save_gray(&dir.join("0.png"), &img).unwrap();
        src.reopen().unwrap();
        let f = loop {
            if let Some(f) = src.next_frame(Duration::from_secs(1)).unwrap() {
                break f;
            }
        };
        assert_eq!(f.data, [7; 8]);
        // Errors no wait can fix are not hidden.
        let bad = CameraConfig {
            path: None,
            ..camera
        };
        assert!(matches!(open_or_wait(&bad), Err(SourceError::Open(_))));
    }
}
