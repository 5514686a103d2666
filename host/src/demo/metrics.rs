//! Frame measurements for the demo, on top of the engine's metrics: PSNR against a clean
//! frame with the global offset removed, and pattern error with both means removed.

use engine::nuc::metrics;

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64
}

/// PSNR of `estimate` against `clean` (data range = clean's max − min) after shifting the
/// estimate to the clean frame's mean.
pub fn psnr_offset_free(estimate: &[f32], clean: &[f32]) -> f64 {
    let shift = (mean(clean) - mean(estimate)) as f32;
    let shifted: Vec<f32> = estimate.iter().map(|v| v + shift).collect();
    let lo = clean.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = clean.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    metrics::psnr(&shifted, clean, (hi - lo).max(1.0))
}

/// PSNR after min-max normalisation (the reference notebooks' number).
pub fn psnr_minmax(estimate: &[f32], clean: &[f32]) -> f64 {
    metrics::psnr_minmax(estimate, clean)
}

/// Roughness ρ = (‖h∗I‖₁ + ‖hᵀ∗I‖₁) / ‖I‖₁ with h = [1, −1].
pub fn roughness(v: &[f32], width: usize, height: usize) -> f64 {
    let mut diff = 0.0f64;
    let mut total = 0.0f64;
    for y in 0..height {
        for x in 0..width {
            let a = f64::from(v[y * width + x]);
            total += a.abs();
            if x + 1 < width {
                diff += (a - f64::from(v[y * width + x + 1])).abs();
            }
            if y + 1 < height {
                diff += (a - f64::from(v[(y + 1) * width + x])).abs();
            }
        }
    }
    if total == 0.0 { 0.0 } else { diff / total }
}

/// RMS difference of two patterns after removing each one's mean, and the RMS of `truth`.
pub fn pattern_error(estimate: &[f32], truth: &[f32]) -> (f64, f64) {
    let (me, mt) = (mean(estimate), mean(truth));
    let n = truth.len().max(1) as f64;
    let err = estimate
        .iter()
        .zip(truth)
        .map(|(&e, &t)| {
            let d = (f64::from(e) - me) - (f64::from(t) - mt);
            d * d
        })
        .sum::<f64>();
    let rms = truth
        .iter()
        .map(|&t| (f64::from(t) - mt).powi(2))
        .sum::<f64>();
    ((err / n).sqrt(), (rms / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_does_not_change_psnr_and_noise_lowers_it() {
        let clean: Vec<f32> = (0..100).map(|i| (i % 10) as f32 * 10.0).collect();
        let shifted: Vec<f32> = clean.iter().map(|v| v + 500.0).collect();
        assert!(psnr_offset_free(&shifted, &clean).is_infinite());
        let noisy: Vec<f32> = clean
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 5.0 } else { -5.0 })
            .collect();
        let p = psnr_offset_free(&noisy, &clean);
        assert!((p - 20.0 * (90.0f64 / 5.0).log10()).abs() < 1e-6, "{p}");
    }

    #[test]
    fn roughness_of_flat_is_zero_and_pattern_error_ignores_means() {
        assert_eq!(roughness(&[3.0; 12], 4, 3), 0.0);
        assert!(roughness(&[0.0, 1.0, 0.0, 1.0], 2, 2) > 0.0);
        let t = [1.0, -1.0, 2.0, -2.0];
        let e = [11.0, 9.0, 12.0, 8.0];
        let (err, rms) = pattern_error(&e, &t);
        assert!(err < 1e-9);
        assert!((rms - (2.5f64).sqrt()).abs() < 1e-9);
    }
}
