//! `eval`: fit a pattern on noisy frames and compare before/after against clean frames of the
//! same names: PSNR (min-max normalised as the reference, and plain), SSIM and roughness.

use std::ops::ControlFlow;
use std::path::PathBuf;

use engine::nuc::metrics::{psnr, psnr_minmax, roughness, ssim_minmax};
use engine::nuc::{Budget, FitConfig, FitProgress, Method, estimator};
use serde::Serialize;

use super::{OfflineError, load_folder};

/// Inputs of [`eval`].
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub noisy: PathBuf,
    pub clean: PathBuf,
    pub method: Method,
    pub config: FitConfig,
    pub budget: Budget,
}

/// Metrics of one image against its clean frame.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Metrics {
    /// PSNR after min-max normalising both images (the reference's figure), dB.
    pub psnr_minmax: f64,
    /// PSNR in the frames' own units with the bit depth's full range, dB.
    pub psnr: f64,
    /// SSIM of the min-max normalised images (scikit-image defaults).
    pub ssim: f64,
    /// Roughness ρ of the image itself (lower = smoother).
    pub roughness: f64,
}

/// Per-frame figures.
#[derive(Debug, Clone, Serialize)]
pub struct FrameMetrics {
    pub name: String,
    pub before: Metrics,
    pub after: Metrics,
}

/// The evaluation result (means over frames plus each frame).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub method: String,
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub steps: u32,
    pub seconds: f64,
    pub aborted: bool,
    pub clean_roughness: f64,
    pub before: Metrics,
    pub after: Metrics,
    pub per_frame: Vec<FrameMetrics>,
}

fn measure(img: &[f32], clean: &[f32], w: usize, h: usize, range: f32) -> Metrics {
    Metrics {
        psnr_minmax: psnr_minmax(img, clean),
        psnr: psnr(img, clean, range),
        ssim: ssim_minmax(img, clean, w, h),
        roughness: roughness(img, w, h),
    }
}

fn mean(ms: &[Metrics]) -> Metrics {
    let n = ms.len().max(1) as f64;
    Metrics {
        psnr_minmax: ms.iter().map(|m| m.psnr_minmax).sum::<f64>() / n,
        psnr: ms.iter().map(|m| m.psnr).sum::<f64>() / n,
        ssim: ms.iter().map(|m| m.ssim).sum::<f64>() / n,
        roughness: ms.iter().map(|m| m.roughness).sum::<f64>() / n,
    }
}

/// Fits `method` on the noisy folder and measures every frame before and after correction.
pub fn eval(
    opts: &EvalOptions,
    progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
) -> Result<EvalReport, OfflineError> {
    let noisy = load_folder(&opts.noisy)?;
    let clean = load_folder(&opts.clean)?;
    let clean_names = clean.names();
    let mut pairs = Vec::with_capacity(noisy.images.len());
    for (name, path) in noisy.names().into_iter().zip(&noisy.paths) {
        let Some(j) = clean_names.iter().position(|c| *c == name) else {
            return Err(OfflineError::MissingClean {
                noisy: path.clone(),
                clean: opts.clean.join(&name),
            });
        };
        if (clean.width, clean.height) != (noisy.width, noisy.height) {
            return Err(OfflineError::MixedSizes {
                path: clean.paths[j].clone(),
                first: path.clone(),
                got_w: clean.width,
                got_h: clean.height,
                want_w: noisy.width,
                want_h: noisy.height,
            });
        }
        pairs.push((name, j));
    }
    let set = noisy.frame_set()?;
    let mut est = estimator(opts.method, &opts.config)?;
    let out = est.estimate(&set, &opts.budget, progress)?;
    let (w, h) = (noisy.width, noisy.height);
    let range = noisy.depth.max_value();
    let mut per_frame = Vec::with_capacity(pairs.len());
    let mut clean_rough = 0.0;
    for (i, (name, j)) in pairs.into_iter().enumerate() {
        let y = set.frame(i);
        let c = clean.images[j].to_f32();
        let corrected = out.pattern.apply(w, h, y)?;
        clean_rough += roughness(&c, w, h);
        per_frame.push(FrameMetrics {
            name,
            before: measure(y, &c, w, h, range),
            after: measure(&corrected, &c, w, h, range),
        });
    }
    let befores: Vec<Metrics> = per_frame.iter().map(|f| f.before).collect();
    let afters: Vec<Metrics> = per_frame.iter().map(|f| f.after).collect();
    Ok(EvalReport {
        method: out.method.to_string(),
        frames: per_frame.len(),
        width: w,
        height: h,
        steps: out.steps,
        seconds: out.duration.as_secs_f64(),
        aborted: out.aborted,
        clean_roughness: clean_rough / per_frame.len().max(1) as f64,
        before: mean(&befores),
        after: mean(&afters),
        per_frame,
    })
}
