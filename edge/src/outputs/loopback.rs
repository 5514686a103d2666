//! Corrected frames to a V4L2 loopback device (v4l2loopback) as Y16, written with `write()`,
//! so that any V4L2 client (ffmpeg, GStreamer, OpenCV) sees the corrected stream.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open loopback output.
pub struct LoopbackOutput {
    path: PathBuf,
    file: File,
    bytes: Vec<u8>,
}

impl LoopbackOutput {
    /// Opens `path` and sets its output format to `width × height` Y16.
    #[cfg(all(target_os = "linux", feature = "v4l2"))]
    pub fn open(path: &Path, width: u32, height: u32) -> Result<LoopbackOutput, String> {
        use v4l::video::Output;
        let dev = v4l::Device::with_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let fmt = v4l::Format::new(width, height, v4l::FourCC::new(b"Y16 "));
        let got = Output::set_format(&dev, &fmt)
            .map_err(|e| format!("{}: cannot set Y16 {width}x{height}: {e}", path.display()))?;
        if got.width != width || got.height != height {
            return Err(format!(
                "{}: device took {}x{} instead of {width}x{height}",
                path.display(),
                got.width,
                got.height
            ));
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(LoopbackOutput {
            path: path.to_path_buf(),
            file,
            bytes: Vec::new(),
        })
    }

    /// V4L2 exists only on Linux, and only in a build with the `v4l2` feature.
    #[cfg(not(all(target_os = "linux", feature = "v4l2")))]
    pub fn open(path: &Path, _width: u32, _height: u32) -> Result<LoopbackOutput, String> {
        Err(format!(
            "{}: V4L2 loopback needs Linux and a dipnuc-edge built with the `v4l2` feature",
            path.display()
        ))
    }

    /// Writes one frame.
    pub fn write_frame(&mut self, data: &[u16]) -> Result<(), String> {
        self.bytes.clear();
        self.bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
        self.file
            .write_all(&self.bytes)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
