//! What the drift bench measures per frame and sums per segment: PSNR against the clean frame
//! (offset-free, range of the clean frame), residual non-uniformity, flicker when the applied
//! pattern changes (frame-to-frame change of the correction on pixels whose scene did not
//! change), ghosting (the share of the scene in view that leaked into a newly installed
//! pattern) and compute used.

use crate::box_blur::box_blur;

/// PSNR (dB) and residual non-uniformity (DN RMS) of `out` against `clean`, both with the
/// global offset removed (a pattern's DC level is not observable).
pub fn quality(out: &[u16], clean: &[f32]) -> (f64, f64) {
    let n = clean.len().max(1) as f64;
    let (mut s, mut ss) = (0.0f64, 0.0f64);
    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
    for (&o, &c) in out.iter().zip(clean) {
        let d = f64::from(o) - f64::from(c);
        s += d;
        ss += d * d;
        lo = lo.min(c);
        hi = hi.max(c);
    }
    let var = (ss / n - (s / n).powi(2)).max(1e-12);
    let range = f64::from((hi - lo).max(1.0));
    (10.0 * (range * range / var).log10(), var.sqrt())
}

/// RMS change of the applied correction between two frames over the pixels whose clean value
/// changed by less than 1 DN (the static part of the view), DN.
pub fn flicker(prev_applied: &[f32], applied: &[f32], prev_clean: &[f32], clean: &[f32]) -> f64 {
    let (mut ss, mut n) = (0.0f64, 0usize);
    for i in 0..applied.len().min(prev_applied.len()) {
        if (clean[i] - prev_clean[i]).abs() < 1.0 {
            let d = f64::from(applied[i] - prev_applied[i]);
            ss += d * d;
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { (ss / n as f64).sqrt() }
}

/// Share of the scene in view that is in the pattern's error: the regression coefficient of
/// (estimate − truth) on the clean frame, all mean-removed (0 = no ghost, 1 = the whole scene
/// burnt in).
pub fn scene_leak(estimate: &[f32], truth: &[f32], clean: &[f32]) -> f64 {
    let n = clean.len().max(1) as f64;
    let mean = |v: &mut dyn Iterator<Item = f64>| v.sum::<f64>() / n;
    let me = mean(&mut estimate.iter().zip(truth).map(|(e, t)| f64::from(e - t)));
    let mc = mean(&mut clean.iter().map(|&c| f64::from(c)));
    let (mut cov, mut var) = (0.0f64, 0.0f64);
    for i in 0..clean.len() {
        let e = f64::from(estimate[i] - truth[i]) - me;
        let c = f64::from(clean[i]) - mc;
        cov += e * c;
        var += c * c;
    }
    if var <= 0.0 { 0.0 } else { cov / var }
}

/// RMS of a pattern's error (estimate − truth, mean removed) split three ways, DN: its low
/// frequencies (a 17×17 box blur: shading, LPN), the column stripes of what is left (its
/// column means) and the rest (pixel scale). Says which part of the non-uniformity an
/// estimator misses.
pub fn error_parts(estimate: &[f32], truth: &[f32], w: usize, h: usize) -> [f64; 3] {
    let n = (w * h).max(1) as f64;
    let diff: Vec<f32> = estimate.iter().zip(truth).map(|(a, b)| a - b).collect();
    let mean = (diff.iter().map(|&v| f64::from(v)).sum::<f64>() / n) as f32;
    let diff: Vec<f32> = diff.iter().map(|v| v - mean).collect();
    let low: Vec<f64> = box_blur(&diff, w, h, 8)
        .into_iter()
        .map(f64::from)
        .collect();
    let e: Vec<f64> = diff
        .iter()
        .zip(&low)
        .map(|(&v, l)| f64::from(v) - l)
        .collect();
    let cols: Vec<f64> = (0..w)
        .map(|x| (0..h).map(|y| e[y * w + x]).sum::<f64>() / h.max(1) as f64)
        .collect();
    let rest = (0..w * h)
        .map(|i| (e[i] - cols[i % w]).powi(2))
        .sum::<f64>();
    // The blur's edge effects leave a level in every column alike: that is no stripe.
    let level = cols.iter().sum::<f64>() / w.max(1) as f64;
    let column = cols.iter().map(|c| (c - level).powi(2)).sum::<f64>() / w.max(1) as f64;
    let low = low.iter().map(|v| v * v).sum::<f64>();
    [(low / n).sqrt(), column.sqrt(), (rest / n).sqrt()]
}

/// Sums over one scenario segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentSums {
    /// Frames measured.
    pub frames: u64,
    psnr: f64,
    nu: f64,
    /// Largest flicker of a frame, DN.
    pub flicker_max: f64,
    /// Largest scene leak of a pattern installed in the segment.
    pub leak_max: f64,
    /// Compute of the fits that ended in the segment, s.
    pub compute_s: f64,
    /// Fits that ended in the segment (completed ones).
    pub fits: u32,
}

impl SegmentSums {
    /// Adds one frame's quality.
    pub fn add_frame(&mut self, psnr: f64, nu: f64, flicker: f64) {
        self.frames += 1;
        self.psnr += psnr;
        self.nu += nu;
        self.flicker_max = self.flicker_max.max(flicker);
    }

    /// Mean PSNR, dB.
    pub fn psnr(&self) -> f64 {
        self.psnr / self.frames.max(1) as f64
    }

    /// Mean residual non-uniformity, DN.
    pub fn nu(&self) -> f64 {
        self.nu / self.frames.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_see_what_they_claim() {
        let clean: Vec<f32> = (0..100).map(|i| (i % 10) as f32 * 100.0).collect();
        let shifted: Vec<u16> = clean.iter().map(|&c| c as u16 + 50).collect();
        let (p, nu) = quality(&shifted, &clean);
        assert!(p > 100.0 && nu < 1e-5, "offset only: {p} {nu}");
        let noisy: Vec<u16> = clean
            .iter()
            .enumerate()
            .map(|(i, &c)| c as u16 + if i % 2 == 0 { 10 } else { 0 })
            .collect();
        let (p, nu) = quality(&noisy, &clean);
        assert!((nu - 5.0).abs() < 1e-6 && (p - 20.0 * (900.0f64 / 5.0).log10()).abs() < 1e-6);

        let a = vec![0.0f32; 100];
        let b = vec![2.0f32; 100];
        let mut moved = clean.clone();
        moved[..50].iter_mut().for_each(|v| *v += 500.0);
        assert!((flicker(&a, &b, &clean, &moved) - 2.0).abs() < 1e-9);

        // Column stripes are column error, a smooth tilt low-frequency error.
        let zero = vec![0.0f32; 64 * 64];
        let stripes: Vec<f32> = (0..64 * 64)
            .map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let [l, c, r] = error_parts(&stripes, &zero, 64, 64);
        assert!(l < 0.3 && c > 2.7 && r < 1e-9, "{l} {c} {r}");
        let tilt: Vec<f32> = (0..64 * 64)
            .map(|i| ((i / 64) as f32 * 0.05).sin() * 4.0)
            .collect();
        let [l, c, r] = error_parts(&tilt, &zero, 64, 64);
        assert!(l > 0.9 && c < 1e-6 && r < 0.5, "{l} {c} {r}");

        let truth = vec![0.0f32; 100];
        let ghost: Vec<f32> = clean.iter().map(|&c| 0.3 * c).collect();
        assert!((scene_leak(&ghost, &truth, &clean) - 0.3).abs() < 1e-6);
        assert!(scene_leak(&truth, &truth, &clean).abs() < 1e-12);
    }
}
