//! V4L2 capture (v4l crate, memory-mapped buffers): Y16, GREY, Y10 and Y12. The device is
//! given by path (`/dev/video0`) or by a name matched against the card name of every
//! `/dev/video*` (e.g. `PureThermal`, `Boson`). A vanished device reads as a disconnect and
//! `reopen` finds it again: at the same path (which the udev rule keeps stable,
//! `/dev/dipnuc-camera`), or by card name under a different `/dev/videoN` after a replug.
//!
//! Frames carry the driver's numbers, not the daemon's: the buffer's sequence number (so
//! frames the driver dropped for want of a free buffer show as gaps) and its capture timestamp
//! on the monotonic clock (so latency counts the time a frame waited in the queue).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use v4l::buffer::{Flags, Metadata, Type};
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::{DRIVER_BUFFERS, FrameSource, SourceError, SourceInfo};
use crate::config::{CameraConfig, PixelFormat};
use crate::frame::{DriverSequence, RawFrame};

/// An open V4L2 capture device.
pub struct V4l2Source {
    wanted: String,
    format: PixelFormat,
    width: u32,
    height: u32,
    bit_depth: u8,
    path: PathBuf,
    stride: usize,
    stream: Option<Stream<'static>>,
    device: Option<Device>,
    sequence: DriverSequence,
}

/// Finds the device: a path is used as is, anything else is matched (case-insensitively)
/// against the card names of `/dev/video*` that offer the wanted format.
pub fn find_device(wanted: &str, format: PixelFormat) -> Result<PathBuf, SourceError> {
    if wanted.starts_with('/') {
        return Ok(PathBuf::from(wanted));
    }
    let needle = wanted.to_ascii_lowercase();
    let mut seen = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir("/dev")
        .map_err(|e| SourceError::Disconnected(format!("cannot list /dev: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("video"))
        })
        .collect();
    entries.sort();
    for path in entries {
        let Ok(dev) = Device::with_path(&path) else {
            continue;
        };
        let Ok(caps) = dev.query_caps() else {
            continue;
        };
        seen.push(format!("{} ({})", path.display(), caps.card));
        if !caps.card.to_ascii_lowercase().contains(&needle) {
            continue;
        }
        let offers = dev
            .enum_formats()
            .map(|fs| fs.iter().any(|f| f.fourcc == FourCC::new(&format.fourcc())))
            .unwrap_or(false);
        if offers {
            return Ok(path);
        }
    }
    Err(SourceError::Disconnected(format!(
        "no V4L2 device named {wanted:?} offering {:?}; found: {}",
        format,
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

impl V4l2Source {
    /// Opens and configures the device named by `camera.device`.
    pub fn open(cfg: &CameraConfig) -> Result<V4l2Source, SourceError> {
        let wanted = cfg
            .device
            .clone()
            .ok_or_else(|| SourceError::Open("camera.device is not set".into()))?;
        let mut src = V4l2Source {
            wanted,
            format: cfg.format,
            width: cfg.width,
            height: cfg.height,
            bit_depth: cfg.bit_depth,
            path: PathBuf::new(),
            stride: 0,
            stream: None,
            device: None,
            sequence: DriverSequence::default(),
        };
        src.reopen()?;
        Ok(src)
    }

    fn configure(&mut self, path: &Path) -> Result<(), SourceError> {
        let lost =
            |e: std::io::Error| SourceError::Disconnected(format!("{}: {e}", path.display()));
        let dev = Device::with_path(path).map_err(lost)?;
        let fourcc = FourCC::new(&self.format.fourcc());
        let mut fmt = dev.format().map_err(lost)?;
        fmt.width = self.width;
        fmt.height = self.height;
        fmt.fourcc = fourcc;
        let got = dev.set_format(&fmt).map_err(lost)?;
        if got.width != self.width || got.height != self.height || got.fourcc != fourcc {
            return Err(SourceError::Open(format!(
                "{} gives {}x{} {} instead of {}x{} {:?} (check camera.width/height/format)",
                path.display(),
                got.width,
                got.height,
                got.fourcc,
                self.width,
                self.height,
                self.format
            )));
        }
        self.stride =
            (got.stride as usize).max(self.width as usize * self.format.bytes_per_pixel());
        let stream =
            Stream::with_buffers(&dev, Type::VideoCapture, DRIVER_BUFFERS).map_err(lost)?;
        self.stream = Some(stream);
        self.device = Some(dev);
        self.path = path.to_path_buf();
        Ok(())
    }
}

/// Unpacks a V4L2 buffer (with row stride) into 16-bit words.
fn convert(
    buf: &[u8],
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    bit_depth: u8,
) -> Result<Vec<u16>, SourceError> {
    {
        let (w, h) = (width as usize, height as usize);
        let bpp = format.bytes_per_pixel();
        let needed = stride * (h - 1) + w * bpp;
        if buf.len() < needed {
            return Err(SourceError::BadFrame(format!(
                "truncated buffer: {} of {needed} bytes",
                buf.len()
            )));
        }
        let max = ((1u32 << bit_depth) - 1) as u16;
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h {
            let row = &buf[y * stride..y * stride + w * bpp];
            match format {
                PixelFormat::Grey => out.extend(row.iter().map(|&b| u16::from(b))),
                _ => out.extend(
                    row.chunks_exact(2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]).min(max)),
                ),
            }
        }
        Ok(out)
    }
}

impl FrameSource for V4l2Source {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: format!("V4L2 {}", self.path.display()),
            width: self.width,
            height: self.height,
            bit_depth: self.bit_depth,
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, SourceError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(SourceError::Disconnected("device not open".into()));
        };
        stream.set_timeout(timeout.max(Duration::from_millis(1)));
        let (buf, meta) = match CaptureStream::next(stream) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(None),
            Err(e) => {
                self.stream = None;
                self.device = None;
                return Err(SourceError::Disconnected(format!(
                    "{}: {e}",
                    self.path.display()
                )));
            }
        };
        let dequeued = Instant::now();
        let timestamp = driver_capture_time(meta, dequeued).unwrap_or(dequeued);
        let seq = self.sequence.widen(meta.sequence);
        let used = (meta.bytesused as usize).min(buf.len());
        let bytes = if used == 0 { buf } else { &buf[..used] };
        let data = convert(
            bytes,
            self.format,
            self.width,
            self.height,
            self.stride,
            self.bit_depth,
        )?;
        Ok(Some(RawFrame {
            seq,
            timestamp,
            width: self.width,
            height: self.height,
            data,
            sensor_temp_c: None,
        }))
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        self.stream = None;
        self.device = None;
        self.sequence.reset();
        let path = find_device(&self.wanted, self.format)?;
        self.configure(&path)
    }
}

/// When the driver captured a buffer, as an `Instant` (`dequeued` moved back by the buffer's
/// age on the monotonic clock), or `None` when its timestamp is on another clock (copied from
/// the source, or unknown) or implausible.
fn driver_capture_time(meta: &Metadata, dequeued: Instant) -> Option<Instant> {
    if meta.flags & Flags::TIMESTAMP_MASK != Flags::TIMESTAMP_MONOTONIC {
        return None;
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now_us = i128::from(now.tv_sec) * 1_000_000 + i128::from(now.tv_nsec) / 1000;
    let ts_us = i128::from(meta.timestamp.sec) * 1_000_000 + i128::from(meta.timestamp.usec);
    dequeued.checked_sub(buffer_age(ts_us, now_us)?)
}

/// Age of a buffer stamped `ts_us` at `now_us` (µs, one clock); a stamp in the future or more
/// than a minute old is not believed.
fn buffer_age(ts_us: i128, now_us: i128) -> Option<Duration> {
    let age = now_us - ts_us;
    (0..=60_000_000)
        .contains(&age)
        .then(|| Duration::from_micros(age as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_timestamps_become_instants_only_on_the_monotonic_clock() {
        assert_eq!(buffer_age(1_000, 3_500), Some(Duration::from_micros(2_500)));
        assert_eq!(buffer_age(4_000, 3_500), None, "from the future");
        assert_eq!(buffer_age(0, 61_000_000), None, "a minute old");
        // A buffer the driver stamped 5 ms before the clock was read.
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let ts_us = now.tv_sec * 1_000_000 + now.tv_nsec / 1000 - 5_000;
        let stamped = |flags| Metadata {
            flags,
            timestamp: v4l::timestamp::Timestamp::new(
                (ts_us / 1_000_000) as _,
                (ts_us % 1_000_000) as _,
            ),
            ..Metadata::default()
        };
        let dequeued = Instant::now();
        let t = driver_capture_time(&stamped(Flags::TIMESTAMP_MONOTONIC), dequeued).unwrap();
        assert!(
            dequeued - t >= Duration::from_millis(5),
            "{:?}",
            dequeued - t
        );
        assert_eq!(
            driver_capture_time(&stamped(Flags::TIMESTAMP_COPY), dequeued),
            None
        );
        assert_eq!(
            driver_capture_time(&stamped(Flags::TIMESTAMP_UNKNOWN), dequeued),
            None
        );
    }

    #[test]
    fn buffers_unpack_with_stride_depth_and_truncation_checks() {
        // 2x2 Y16 with a 6-byte stride (2 padding bytes per row).
        let buf = [1, 0, 2, 0, 9, 9, 3, 0, 0xff, 0xff];
        let out = convert(&buf, PixelFormat::Y16, 2, 2, 6, 14).unwrap();
        assert_eq!(out, [1, 2, 3, 16383], "clamped to 14 bits");
        let out = convert(&[10, 20, 30, 40], PixelFormat::Grey, 2, 2, 2, 8).unwrap();
        assert_eq!(out, [10, 20, 30, 40]);
        let e = convert(&buf[..8], PixelFormat::Y16, 2, 2, 6, 14).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
