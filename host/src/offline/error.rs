//! Errors of the offline tools, each naming the file or folder at fault.

use std::path::PathBuf;

/// What can go wrong when processing or evaluating a folder of frames.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("{0}: no PNG, TIFF, JPEG, BMP or PGM/PPM/PAM frames in this folder")]
    EmptyFolder(PathBuf),
    #[error(
        "{path}: is {got_w}x{got_h} but {first} is {want_w}x{want_h}; all frames must have one size"
    )]
    MixedSizes {
        path: PathBuf,
        first: PathBuf,
        got_w: usize,
        got_h: usize,
        want_w: usize,
        want_h: usize,
    },
    #[error("{path}: is {got}-bit but {first} is {want}-bit; all frames must have one bit depth")]
    MixedDepths {
        path: PathBuf,
        first: PathBuf,
        got: u32,
        want: u32,
    },
    #[error("{noisy} has no clean counterpart {clean}")]
    MissingClean { noisy: PathBuf, clean: PathBuf },
    #[error("{0}: output folder is the input folder; refusing to overwrite the raw frames")]
    SameFolder(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] engine::imageio::ImageError),
    #[error(transparent)]
    Nuc(#[from] engine::nuc::NucError),
}
