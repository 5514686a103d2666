//! The engine's error type: every way a fit, a solver or a pattern file can fail.

use std::path::PathBuf;

/// Errors of the noise-pattern engine.
#[derive(Debug, thiserror::Error)]
pub enum NucError {
    /// A frame set with no frames.
    #[error("the frame set is empty")]
    EmptyFrameSet,
    /// Width or height is zero, or too small for the method.
    #[error("frame size {width}x{height} is invalid: {reason}")]
    BadSize {
        width: usize,
        height: usize,
        reason: &'static str,
    },
    /// A frame whose pixel count does not match the set's size.
    #[error("frame {index} has {got} pixels, expected {expected} ({width}x{height})")]
    FrameLength {
        index: usize,
        got: usize,
        expected: usize,
        width: usize,
        height: usize,
    },
    /// A frame containing NaN or infinity.
    #[error("frame {index} contains a non-finite value at pixel {pixel}")]
    NonFinite { index: usize, pixel: usize },
    /// A pattern whose size does not match the frames it is applied to.
    #[error("pattern is {pw}x{ph} but the frames are {fw}x{fh}")]
    PatternSize {
        pw: usize,
        ph: usize,
        fw: usize,
        fh: usize,
    },
    /// Unknown method name.
    #[error("unknown method {0:?} (expected tv-dip, cp-tv or colmean)")]
    UnknownMethod(String),
    /// Unknown preset name.
    #[error("unknown preset {0:?} (expected paper, fast or refine)")]
    UnknownPreset(String),
    /// The fit would need more memory than `max_memory_mb` allows.
    #[error(transparent)]
    MemoryCap(#[from] super::memory::MemoryCapExceeded),
    /// A configuration value out of range or inconsistent.
    #[error("invalid configuration: `{key}`: {reason}")]
    Config { key: String, reason: String },
    /// The configuration file did not parse.
    #[error("cannot parse fit configuration: {0}")]
    ConfigParse(String),
    /// The configured device cannot be used.
    #[error("device {device:?} is not available: {reason}")]
    Device { device: String, reason: String },
    /// A saved state or pattern file is unreadable or inconsistent.
    #[error("{path}: {reason}")]
    StateFile { path: PathBuf, reason: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A frame file could not be read or written.
    #[error(transparent)]
    Image(#[from] crate::imageio::ImageError),
    /// The tensor backend failed.
    #[error("tensor backend: {0}")]
    Candle(#[from] candle_core::Error),
}
