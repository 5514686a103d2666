//! The uncooled core's non-uniformity: column and pixel offset FPN, pixel gain, and optics LPN
//! (vignetting and a warm ring from the lens mount), all drifting with sensor temperature, and
//! two gain modes with their own offset tables.
//!
//! raw = level + G·g·(scene − level + lpn(T)) + o(T, mode) + noise, and the clean frame is
//! level + G·(scene − level), so the pattern a correction must remove is raw − clean − noise
//! (scene-dependent through the pixel gain g, which no additive pattern removes entirely).

use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};

use super::scenario::GainMode;

/// Magnitudes of the non-uniformity, DN at high gain.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorParams {
    /// σ of the per-column offsets.
    pub column_fpn: f32,
    /// σ of the per-pixel offsets.
    pub pixel_fpn: f32,
    /// σ of the per-pixel gain around 1.
    pub pixel_gain: f32,
    /// Amplitude of the vignetting (centre to corner); the warm ring is 0.6 of it.
    pub lpn: f32,
    /// Relative change of the offsets per °C from the reference temperature (the LPN grows
    /// 2.5 times as fast: the housing's own radiation).
    pub drift_per_c: f32,
    /// Contrast factor of the low-gain mode.
    pub low_gain: f32,
}

/// Offsets of one gain mode: at the reference temperature and their change per °C.
#[derive(Debug, Clone)]
struct OffsetTable {
    base: Vec<f32>,
    per_c: Vec<f32>,
}

fn normal(sigma: f32) -> Normal<f32> {
    Normal::new(0.0, sigma.max(1e-6)).expect("sigma > 0")
}

fn zero_mean(v: &mut [f32]) {
    let m = (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64) as f32;
    v.iter_mut().for_each(|x| *x -= m);
}

impl OffsetTable {
    fn new(rng: &mut StdRng, w: usize, h: usize, p: &SensorParams, scale: f32) -> Self {
        let (col, pix) = (normal(p.column_fpn * scale), normal(p.pixel_fpn * scale));
        let cols: Vec<f32> = (0..w).map(|_| col.sample(rng)).collect();
        // Each column and pixel drifts by its own coefficient: the pattern changes shape with
        // temperature, not only its amplitude.
        let col_drift: Vec<f32> = (0..w).map(|_| col.sample(rng)).collect();
        let mut base = vec![0.0; w * h];
        let mut per_c = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                base[i] = cols[x] + pix.sample(rng);
                per_c[i] = p.drift_per_c * (col_drift[x] + pix.sample(rng));
            }
        }
        zero_mean(&mut base);
        zero_mean(&mut per_c);
        OffsetTable { base, per_c }
    }
}

/// The non-uniformity of one `width`×`height` core.
#[derive(Debug, Clone)]
pub struct Sensor {
    width: usize,
    height: usize,
    params: SensorParams,
    high: OffsetTable,
    low: OffsetTable,
    gain: Vec<f32>,
    vignette: Vec<f32>,
    ring: Vec<f32>,
}

impl Sensor {
    /// Draws the fields from `seed`.
    pub fn new(seed: u64, width: usize, height: usize, params: SensorParams) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_450A);
        let high = OffsetTable::new(&mut rng, width, height, &params, 1.0);
        let low = OffsetTable::new(&mut rng, width, height, &params, 0.7);
        let g = normal(params.pixel_gain);
        let gain = (0..width * height)
            .map(|_| 1.0 + g.sample(&mut rng))
            .collect();
        let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
        let half_diag = (cx * cx + cy * cy).sqrt();
        // The ring's centre sits off the optical axis (a tilted lens mount).
        let (rx, ry) = (0.53 * width as f32, 0.46 * height as f32);
        let mut vignette = vec![0.0; width * height];
        let mut ring = vec![0.0; width * height];
        for y in 0..height {
            for x in 0..width {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let r = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt() / half_diag;
                vignette[y * width + x] = -r * r;
                let rr = ((px - rx).powi(2) + (py - ry).powi(2)).sqrt() / half_diag;
                ring[y * width + x] = 0.6 * (-((rr - 0.72) / 0.1).powi(2)).exp();
            }
        }
        zero_mean(&mut vignette);
        zero_mean(&mut ring);
        Sensor {
            width,
            height,
            params,
            high,
            low,
            gain,
            vignette,
            ring,
        }
    }

    /// Frame size.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Contrast factor of a gain mode.
    pub fn gain_factor(&self, mode: GainMode) -> f32 {
        match mode {
            GainMode::High => 1.0,
            GainMode::Low => self.params.low_gain,
        }
    }

    /// The noise-free raw frame and the clean frame for a `scene` (scene units) at `dtemp` °C
    /// from the reference temperature.
    pub fn expose(
        &self,
        scene: &[f32],
        level: f32,
        mode: GainMode,
        dtemp: f32,
        raw: &mut [f32],
        clean: &mut [f32],
    ) {
        let g = self.gain_factor(mode);
        let table = match mode {
            GainMode::High => &self.high,
            GainMode::Low => &self.low,
        };
        let lpn_amp = self.params.lpn * (1.0 + 2.5 * self.params.drift_per_c * dtemp);
        for i in 0..scene.len() {
            let s = scene[i] - level;
            let lpn = lpn_amp * (self.vignette[i] + self.ring[i]);
            let offset = table.base[i] + table.per_c[i] * dtemp;
            raw[i] = level + g * self.gain[i] * (s + lpn) + offset;
            clean[i] = level + g * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SensorParams {
        SensorParams {
            column_fpn: 40.0,
            pixel_fpn: 15.0,
            pixel_gain: 0.01,
            lpn: 200.0,
            drift_per_c: 0.05,
            low_gain: 0.35,
        }
    }

    fn pattern(s: &Sensor, mode: GainMode, dtemp: f32) -> Vec<f32> {
        let (w, h) = s.size();
        let scene = vec![7000.0; w * h];
        let (mut raw, mut clean) = (vec![0.0; w * h], vec![0.0; w * h]);
        s.expose(&scene, 7000.0, mode, dtemp, &mut raw, &mut clean);
        raw.iter().zip(&clean).map(|(r, c)| r - c).collect()
    }

    fn rms_diff(a: &[f32], b: &[f32]) -> f32 {
        (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32).sqrt()
    }

    #[test]
    fn pattern_drifts_with_temperature_and_changes_with_gain() {
        let s = Sensor::new(1, 64, 48, params());
        let p0 = pattern(&s, GainMode::High, 0.0);
        let p4 = pattern(&s, GainMode::High, 4.0);
        let rms0 = rms_diff(&p0, &vec![0.0; p0.len()]);
        assert!(rms0 > 40.0, "pattern rms {rms0}");
        let drift = rms_diff(&p0, &p4);
        assert!(
            drift > 0.15 * rms0 && drift < rms0,
            "4 °C drift {drift} of {rms0}"
        );
        let low = pattern(&s, GainMode::Low, 0.0);
        assert!(
            rms_diff(&p0, &low) > 0.5 * rms0,
            "another table in low gain"
        );
        // Column structure: column means vary far more than row means.
        let col_sd = |p: &[f32]| {
            let m: Vec<f32> = (0..64)
                .map(|x| (0..48).map(|y| p[y * 64 + x]).sum::<f32>() / 48.0)
                .collect();
            rms_diff(&m, &vec![m.iter().sum::<f32>() / 64.0; 64])
        };
        assert!(col_sd(&p0) > 25.0);
    }
}
