//! Quality metrics (reference §4, §10, §13): PSNR plain, min-max normalised (as the reference
//! notebooks) and after a least-squares gain/offset fit, SSIM with scikit-image's defaults (7×7 uniform window, K1 0.01, K2 0.03, sample
//! covariance, mean over the interior), and roughness ρ with entry-wise L1 norms.

/// `10·log10(range² / MSE)`; infinite for identical images.
pub fn psnr(a: &[f32], b: &[f32], data_range: f32) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = f64::from(x - y);
            d * d
        })
        .sum::<f64>()
        / a.len().max(1) as f64;
    10.0 * (f64::from(data_range).powi(2) / mse).log10()
}

/// `(v − min) / (max − min + 1e-8)`, as the notebooks normalise before measuring.
pub fn minmax_normalise(v: &[f32]) -> Vec<f32> {
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let d = hi - lo + 1e-8;
    v.iter().map(|x| (x - lo) / d).collect()
}

/// PSNR after min-max normalising both images to [0, 1] (data range 1).
pub fn psnr_minmax(estimate: &[f32], clean: &[f32]) -> f64 {
    psnr(&minmax_normalise(estimate), &minmax_normalise(clean), 1.0)
}

/// PSNR after the least-squares gain and offset fit of the estimate onto the min-max normalised
/// clean frame (reference §13 "ls"): unlike [`psnr_minmax`] it does not hinge on the two most
/// extreme pixels, so it measures the residual pattern rather than the display scaling.
pub fn psnr_ls(estimate: &[f32], clean: &[f32]) -> f64 {
    let c = minmax_normalise(clean);
    let n = estimate.len().min(c.len()).max(1) as f64;
    let (mut se, mut sc, mut see, mut sec) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&e, &c) in estimate.iter().zip(&c) {
        let (e, c) = (f64::from(e), f64::from(c));
        se += e;
        sc += c;
        see += e * e;
        sec += e * c;
    }
    let var = see - se * se / n;
    let gain = if var > 0.0 {
        (sec - se * sc / n) / var
    } else {
        0.0
    };
    let offset = (sc - gain * se) / n;
    let fitted: Vec<f32> = estimate
        .iter()
        .map(|&e| (gain * f64::from(e) + offset) as f32)
        .collect();
    psnr(&fitted, &c, 1.0)
}

/// SSIM with scikit-image defaults (`structural_similarity(a, b, data_range=R)`: 7×7 uniform
/// window, sample covariance, mean over pixels at least 3 from the border).
pub fn ssim(a: &[f32], b: &[f32], w: usize, h: usize, data_range: f32) -> f64 {
    const WIN: usize = 7;
    if w < WIN || h < WIN {
        return f64::NAN;
    }
    let np = (WIN * WIN) as f64;
    let cov_norm = np / (np - 1.0);
    let c1 = (0.01 * f64::from(data_range)).powi(2);
    let c2 = (0.03 * f64::from(data_range)).powi(2);
    // Integral images of a, b, a², b², ab.
    let iw = w + 1;
    let mut ii = vec![[0.0f64; 5]; iw * (h + 1)];
    for y in 0..h {
        let mut row = [0.0f64; 5];
        for x in 0..w {
            let (p, q) = (f64::from(a[y * w + x]), f64::from(b[y * w + x]));
            let v = [p, q, p * p, q * q, p * q];
            for k in 0..5 {
                row[k] += v[k];
                ii[(y + 1) * iw + x + 1][k] = ii[y * iw + x + 1][k] + row[k];
            }
        }
    }
    let half = WIN / 2;
    let mut total = 0.0;
    let mut count = 0usize;
    for y in half..h - half {
        for x in half..w - half {
            let (y0, y1, x0, x1) = (y - half, y + half + 1, x - half, x + half + 1);
            let mut s = [0.0f64; 5];
            for (k, sk) in s.iter_mut().enumerate() {
                *sk = (ii[y1 * iw + x1][k] - ii[y0 * iw + x1][k] - ii[y1 * iw + x0][k]
                    + ii[y0 * iw + x0][k])
                    / np;
            }
            let (ux, uy) = (s[0], s[1]);
            let vx = cov_norm * (s[2] - ux * ux);
            let vy = cov_norm * (s[3] - uy * uy);
            let vxy = cov_norm * (s[4] - ux * uy);
            total += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    total / count as f64
}

/// SSIM of min-max normalised images (data range 1), the reference's convention.
pub fn ssim_minmax(estimate: &[f32], clean: &[f32], w: usize, h: usize) -> f64 {
    ssim(
        &minmax_normalise(estimate),
        &minmax_normalise(clean),
        w,
        h,
        1.0,
    )
}

/// Roughness ρ = (‖h∗I‖₁ + ‖hᵀ∗I‖₁) / ‖I‖₁ with h = [1, −1], 'valid' differences, entry-wise
/// L1 norms. Lower is smoother.
pub fn roughness(img: &[f32], w: usize, h: usize) -> f64 {
    let mut d = 0.0f64;
    for y in 0..h {
        for x in 0..w {
            let v = img[y * w + x];
            if x + 1 < w {
                d += f64::from((img[y * w + x + 1] - v).abs());
            }
            if y + 1 < h {
                d += f64::from((img[(y + 1) * w + x] - v).abs());
            }
        }
    }
    let n: f64 = img.iter().map(|v| f64::from(v.abs())).sum();
    d / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_values() {
        let a = [0.0f32, 0.5, 1.0, 0.25];
        let b = [0.1f32, 0.5, 1.0, 0.25];
        // MSE = 0.01 / 4 → 10·log10(400) = 26.0206 dB.
        assert!((psnr(&a, &b, 1.0) - 26.0206).abs() < 1e-3);
        assert!(psnr(&a, &a, 1.0).is_infinite());
        // Min-max PSNR ignores gain and offset.
        let c: Vec<f32> = a.iter().map(|v| 3.0 * v + 7.0).collect();
        assert!(psnr_minmax(&c, &a) > 70.0);
        assert!(psnr_ls(&c, &a) > 70.0);
        // One outlier ruins the min-max scaling (8.3 dB) far more than the least-squares fit
        // (22.4 dB, numpy's lstsq on the same data).
        let mut ramp: Vec<f32> = (0..1000).map(|i| i as f32 / 999.0).collect();
        let clean = ramp.clone();
        ramp[500] = 3.0;
        assert!((psnr_minmax(&ramp, &clean) - 8.29).abs() < 0.05);
        assert!((psnr_ls(&ramp, &clean) - 22.36).abs() < 0.05);
    }

    #[test]
    fn ssim_is_one_for_identical_and_drops_with_noise() {
        let (w, h) = (20, 16);
        let a: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 / w as f32).collect();
        assert!((ssim(&a, &a, w, h, 1.0) - 1.0).abs() < 1e-12);
        let b: Vec<f32> = a
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let s = ssim(&a, &b, w, h, 1.0);
        assert!(s < 0.9 && s > 0.0, "{s}");
    }

    #[test]
    fn roughness_of_stripes() {
        // Columns alternate 1, 3: horizontal diffs 2 each (3 per row × 2 rows), vertical 0.
        let img = [1.0f32, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0];
        assert!((roughness(&img, 4, 2) - 12.0 / 16.0).abs() < 1e-12);
    }
}
