//! `process`: fit one pattern from a folder of frames and write the corrected frames under the
//! same names and bit depth.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::imageio::{GrayImage, check_writable, save_gray};
use engine::nuc::{Budget, FitConfig, FitProgress, Method, estimator};

use super::{OfflineError, load_folder};

/// Inputs of [`process`].
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub method: Method,
    pub config: FitConfig,
    pub budget: Budget,
    pub save_pattern: Option<PathBuf>,
}

/// What [`process`] did.
#[derive(Debug, Clone)]
pub struct ProcessReport {
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub method: Method,
    pub steps: u32,
    pub loss: f32,
    pub duration: Duration,
    pub aborted: bool,
    pub written: Vec<PathBuf>,
}

/// Fits a pattern on every frame of `input` and writes `frame − pattern` (rounded, clamped to
/// the bit depth) to `output` under the same file names.
pub fn process(
    opts: &ProcessOptions,
    progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
) -> Result<ProcessReport, OfflineError> {
    if same_dir(&opts.input, &opts.output) {
        return Err(OfflineError::SameFolder(opts.output.clone()));
    }
    let folder = load_folder(&opts.input)?;
    // Refused before the fit, not after it: a name whose format cannot hold the depth.
    for name in folder.names() {
        check_writable(&opts.output.join(name), folder.depth)?;
    }
    let set = folder.frame_set()?;
    let mut est = estimator(opts.method, &opts.config)?;
    let out = est.estimate(&set, &opts.budget, progress)?;
    std::fs::create_dir_all(&opts.output).map_err(|source| OfflineError::Io {
        path: opts.output.clone(),
        source,
    })?;
    let mut written = Vec::with_capacity(folder.paths.len());
    for (name, img) in folder.names().iter().zip(&folder.images) {
        let corrected = out.pattern.apply(img.width, img.height, &img.to_f32())?;
        let dst = opts.output.join(name);
        save_gray(
            &dst,
            &GrayImage::from_f32(img.width, img.height, img.depth, &corrected),
        )?;
        written.push(dst);
    }
    if let Some(p) = &opts.save_pattern {
        out.pattern.save(p)?;
    }
    Ok(ProcessReport {
        frames: folder.images.len(),
        width: folder.width,
        height: folder.height,
        method: out.method,
        steps: out.steps,
        loss: out.loss,
        duration: out.duration,
        aborted: out.aborted,
        written,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
