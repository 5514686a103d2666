//! The warm-start check of the drift bench: a TV-DIP estimator fitted on frames from early in
//! the run refreshes on later frames (the pattern has drifted) for a few steps, against a cold
//! fit on those later frames; both scored against the clean frames.

use std::path::Path;

use engine::nuc::{Budget, FitConfig, FrameSet, Method, NucError, estimator};

use super::measure;
use crate::source::drift::DriftModel;

/// What the check measured.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmStart {
    /// Network steps of the cold fit's main run (the split-half check, when on, runs two
    /// more of the same length).
    pub cold_steps: u32,
    /// Steps the cold fit took in all.
    pub cold_steps_total: u32,
    /// Mean PSNR of the later frames corrected by the cold fit, dB.
    pub cold_psnr: f64,
    /// Compute of the cold fit, s.
    pub cold_s: f64,
    /// (warm steps, PSNR dB, s) of each refresh.
    pub warm: Vec<(u32, f64, f64)>,
}

impl WarmStart {
    /// The fewest warm steps that reach the cold fit's PSNR.
    pub fn reached_at(&self) -> Option<u32> {
        self.warm
            .iter()
            .find(|w| w.1 >= self.cold_psnr)
            .map(|w| w.0)
    }
}

/// `n` frames spread over `[from, to)` seconds, as a frame set with their clean frames.
fn frames(
    model: &DriftModel,
    from: f32,
    to: f32,
    n: usize,
) -> Result<(FrameSet, Vec<Vec<f32>>), NucError> {
    let (w, h) = model.size();
    let fps = model.config().fps;
    let (mut raw, mut clean) = (Vec::new(), Vec::new());
    for i in 0..n {
        let t = from + (to - from) * i as f32 / n as f32;
        let f = model.frame((t * fps) as u64);
        raw.push(f.raw);
        clean.push(f.clean);
    }
    Ok((FrameSet::from_u16(w, h, &raw)?, clean))
}

fn score(set: &FrameSet, clean: &[Vec<f32>], pattern: &[f32]) -> f64 {
    let mut sum = 0.0;
    for (f, c) in set.frames().iter().zip(clean) {
        let out: Vec<u16> = f
            .iter()
            .zip(pattern)
            .map(|(r, p)| (r - p).round().clamp(0.0, 65535.0) as u16)
            .collect();
        sum += measure::quality(&out, c).0;
    }
    sum / clean.len().max(1) as f64
}

/// Fits on frames of segment `early`, refreshes on frames of segment `late` with each of
/// `warm_steps`, and fits `late` cold. `work` holds the saved network state.
pub fn check(
    model: &DriftModel,
    preset: &str,
    early: usize,
    late: usize,
    warm_steps: &[u32],
    work: &Path,
) -> Result<WarmStart, NucError> {
    let scenario = &model.config().scenario;
    let span = |i: usize| {
        let (a, b) = scenario.segment_span(i);
        (a + 0.4 * (b - a), b)
    };
    let n = 12;
    let (a0, a1) = span(early);
    let (b0, b1) = span(late);
    let (set_a, _) = frames(model, a0, a1, n)?;
    let (set_b, clean_b) = frames(model, b0, b1, n)?;
    let mut cfg = FitConfig::preset(preset)?;
    cfg.seed = Some(1);
    // As the refit loop fits: without the per-pixel stage unless its configuration says so.
    cfg.pixel_passes = crate::config::FitSection::default().pixel_passes;
    let state = work.join("warm-start.state.safetensors");
    let mut first = estimator(Method::TvDip, &cfg)?;
    first.estimate(&set_a, &Budget::default(), &mut |_| {
        std::ops::ControlFlow::Continue(())
    })?;
    first.save_state(&state)?;

    let mut cold = estimator(Method::TvDip, &cfg)?;
    let c = cold.estimate(&set_b, &Budget::default(), &mut |_| {
        std::ops::ControlFlow::Continue(())
    })?;
    let cold_psnr = score(&set_b, &clean_b, c.pattern.data());
    let mut warm = Vec::new();
    for &k in warm_steps {
        let mut est = estimator(Method::TvDip, &cfg)?;
        est.load_state(&state)?;
        let out = est.estimate(&set_b, &Budget::steps(k), &mut |_| {
            std::ops::ControlFlow::Continue(())
        })?;
        warm.push((
            out.steps,
            score(&set_b, &clean_b, out.pattern.data()),
            out.duration.as_secs_f64(),
        ));
    }
    Ok(WarmStart {
        cold_steps: cfg.steps,
        cold_steps_total: c.steps,
        cold_psnr,
        cold_s: c.duration.as_secs_f64(),
        warm,
    })
}
