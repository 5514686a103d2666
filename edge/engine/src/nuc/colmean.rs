//! Column-statistics destriper: column offsets from the median of horizontal pixel differences
//! over all rows and frames (scene edges are rare per column, stripes are in every row),
//! integrated across the frame and high-passed so that smooth scene shading does not leak in.

use std::ops::ControlFlow;

use super::budget::BudgetClock;
use super::{Budget, FitOutcome, FitProgress, FrameSet, Method, NucError, Pattern};

/// Estimates a pure column pattern (constant down each column).
pub fn column_pattern(frames: &FrameSet, window: usize) -> Result<Pattern, NucError> {
    let (w, h) = (frames.width(), frames.height());
    let mut col_diff = vec![0.0f32; w];
    let mut samples = Vec::with_capacity(h * frames.len());
    for (j, d) in col_diff.iter_mut().enumerate().skip(1) {
        samples.clear();
        for f in frames.frames() {
            samples.extend((0..h).map(|r| f[r * w + j] - f[r * w + j - 1]));
        }
        *d = median(&mut samples);
    }
    let mut offsets = vec![0.0f32; w];
    for j in 1..w {
        offsets[j] = offsets[j - 1] + col_diff[j];
    }
    let trend = moving_average(&offsets, window);
    let cols: Vec<f32> = offsets.iter().zip(&trend).map(|(o, t)| o - t).collect();
    let data = (0..h).flat_map(|_| cols.iter().copied()).collect();
    Pattern::new(w, h, data)
}

fn median(v: &mut [f32]) -> f32 {
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}

/// Centred moving average with the window shrunk symmetrically at the ends.
fn moving_average(x: &[f32], window: usize) -> Vec<f32> {
    let n = x.len();
    let half = window / 2;
    let mut prefix = vec![0.0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + f64::from(x[i]);
    }
    (0..n)
        .map(|i| {
            let r = half.min(i).min(n - 1 - i);
            let (a, b) = (i - r, i + r + 1);
            ((prefix[b] - prefix[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// The estimator form (one pass; budget and progress are honoured for uniformity).
pub(crate) fn estimate(
    frames: &FrameSet,
    window: usize,
    budget: &Budget,
    progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
) -> Result<FitOutcome, NucError> {
    let mut clock = BudgetClock::new(budget, 1);
    if !clock.may_start(0) {
        return Ok(FitOutcome {
            pattern: Pattern::zeros(frames.width(), frames.height()),
            loss: f32::NAN,
            steps: 0,
            duration: clock.elapsed(),
            aborted: clock.aborted(),
            method: Method::ColMean,
        });
    }
    let pattern = column_pattern(frames, window)?;
    let loss = super::tv::mean_tv1(frames, &pattern);
    clock.finish(Method::ColMean, 1, loss, progress);
    Ok(FitOutcome {
        pattern,
        loss,
        steps: 1,
        duration: clock.elapsed(),
        aborted: false,
        method: Method::ColMean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nuc::testutil::{
        column_offsets, correlation, offset_rms_error, smooth_scene_frames,
    };

    #[test]
    fn recovers_column_offsets_up_to_a_constant() {
        let (w, h) = (96, 64);
        let offsets = column_offsets(w, 20.0, 7);
        let frames = smooth_scene_frames(w, h, 6, &offsets, 11);
        let p = column_pattern(&frames, 31).unwrap();
        let got: Vec<f32> = p.data()[..w].to_vec();
        let c = correlation(&got, &offsets);
        assert!(c > 0.97, "correlation {c}");
        let rms = offset_rms_error(&got, &offsets);
        assert!(rms < 0.2 * 20.0 / 12f32.sqrt() * 1.5, "rms error {rms}");
    }
}
