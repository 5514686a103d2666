//! A drifting uncooled thermal camera, simulated: a [`Scene`] larger than the view, a
//! [`Scenario`] that pans, stares and switches gain, and a [`Sensor`] whose FPN, gain and LPN
//! drift with the sensor temperature, quantised to the core's bit depth. Every frame is a
//! deterministic function of the model and its sequence number, so the clean scene and the true
//! pattern of any frame can be rebuilt (the daemon's `sim` source, `dipnuc demo` and the drift
//! bench all use this model).

pub mod scenario;
pub mod scene;
pub mod sensor;

use std::sync::Arc;

pub use scenario::{GainMode, Motion, Scenario, Segment};
pub use scene::{CityScene, FrameSequenceScene, Scene, SceneError};
pub use sensor::{Sensor, SensorParams};

/// Everything that defines a drift camera besides its scene.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftConfig {
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Frames per second.
    pub fps: f32,
    /// Significant bits per pixel.
    pub bit_depth: u8,
    /// Seed of the sensor's fields and the temporal noise.
    pub seed: u64,
    /// Mean output level, DN.
    pub level: f32,
    /// Scene contrast at high gain, DN (used for the hot object).
    pub contrast: f32,
    /// Pan speed, px/s (the scenario scales it per segment).
    pub pan_px_per_s: f32,
    /// Non-uniformity magnitudes.
    pub sensor: SensorParams,
    /// σ of the temporal noise, DN.
    pub temporal_noise: f32,
    /// The script.
    pub scenario: Scenario,
}

/// One simulated frame with its ground truth.
#[derive(Debug, Clone)]
pub struct DriftFrame {
    /// Sequence number.
    pub seq: u64,
    /// Seconds since power-on.
    pub time_s: f32,
    /// What the camera delivers.
    pub raw: Vec<u16>,
    /// The ideal corrected frame (no pattern, no noise), DN.
    pub clean: Vec<f32>,
    /// Sensor temperature, °C.
    pub temp_c: f32,
    /// Index of the scenario segment.
    pub segment: usize,
    /// Gain mode.
    pub gain: GainMode,
}

/// The camera model (see the module docs).
#[derive(Clone)]
pub struct DriftModel {
    cfg: DriftConfig,
    scene: Arc<dyn Scene>,
    sensor: Arc<Sensor>,
    noise: Arc<Vec<f32>>,
    full_scale: f32,
}

impl std::fmt::Debug for DriftModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftModel")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// splitmix64: a frame's noise offset from its sequence number.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl DriftModel {
    /// A model looking at `scene`.
    pub fn new(cfg: DriftConfig, scene: Arc<dyn Scene>) -> DriftModel {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let n = cfg.width * cfg.height;
        let sensor = Sensor::new(cfg.seed, cfg.width, cfg.height, cfg.sensor.clone());
        // A table of normal draws; each frame reads it from its own offset (cheap, and frames
        // still differ everywhere).
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x0004_015E);
        let normal = rand_distr::StandardNormal;
        let noise: Vec<f32> = (0..4 * n + 1024).map(|_| normal.sample(&mut rng)).collect();
        let full_scale = ((1u32 << cfg.bit_depth.min(16)) - 1) as f32;
        DriftModel {
            cfg,
            scene,
            sensor: Arc::new(sensor),
            noise: Arc::new(noise),
            full_scale,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DriftConfig {
        &self.cfg
    }

    /// Frame size.
    pub fn size(&self) -> (usize, usize) {
        (self.cfg.width, self.cfg.height)
    }

    /// Seconds since power-on of frame `seq`.
    pub fn time_of(&self, seq: u64) -> f32 {
        (seq as f64 / f64::from(self.cfg.fps)) as f32
    }

    /// Sensor temperature at frame `seq`, °C.
    pub fn temperature(&self, seq: u64) -> f32 {
        self.cfg.scenario.temperature(self.time_of(seq))
    }

    /// Where the view's top-left corner is in the world at time `t`.
    fn view_origin(&self, t: f32) -> (usize, usize) {
        let (ww, wh) = self.scene.world_size();
        let (w, h) = self.size();
        let (rx, ry) = (ww.saturating_sub(w) as f32, wh.saturating_sub(h) as f32);
        let travel = self.cfg.scenario.phase(t).pan_s * self.cfg.pan_px_per_s;
        // Back and forth across the world, tilting up and down at a different rate so that
        // rows move across the sensor too (a horizon fixed in the rows would look like LPN).
        let tri = |d: f32, r: f32| {
            if r <= 0.0 {
                return 0.0;
            }
            let p = d.rem_euclid(2.0 * r);
            if p > r { 2.0 * r - p } else { p }
        };
        let ox = tri(travel + 0.3 * rx, rx);
        let oy = tri(0.37 * travel + 0.5 * ry, ry);
        (ox.round() as usize, oy.round() as usize)
    }

    /// The scene in view at frame `seq` (scene units), with the hot object when the segment
    /// has one.
    fn scene_view(&self, seq: u64) -> (Vec<f32>, GainMode, usize) {
        let t = self.time_of(seq);
        let (w, h) = self.size();
        let (ox, oy) = self.view_origin(t);
        let mut view = vec![0.0f32; w * h];
        self.scene.render(t, ox, oy, w, h, &mut view);
        let phase = self.cfg.scenario.phase(t);
        if phase.segment.hot_crossing {
            // Crosses the view from left to right in the middle 60 % of the segment.
            let p = (phase.into_s / phase.length_s.max(1e-3) - 0.2) / 0.6;
            if (0.0..=1.0).contains(&p) {
                let (ow, oh) = (0.3 * w as f32, 0.22 * h as f32);
                let cx = -ow / 2.0 + p * (w as f32 + ow);
                let cy = 0.7 * h as f32;
                let hot = self.cfg.level + 1.4 * self.cfg.contrast;
                scene::fill(
                    &mut view,
                    w,
                    h,
                    cx - ow / 2.0,
                    cy - oh / 2.0,
                    cx + ow / 2.0,
                    cy + oh / 2.0,
                    |dx, dy| {
                        let e = (dx / (ow / 2.0)).powi(4) + (dy / (oh / 2.0)).powi(4);
                        (e < 1.0).then_some(hot - 0.3 * self.cfg.contrast * e)
                    },
                );
            }
        }
        (view, phase.segment.gain, phase.index)
    }

    /// The frame `seq` with its ground truth.
    pub fn frame(&self, seq: u64) -> DriftFrame {
        let (view, gain, segment) = self.scene_view(seq);
        let n = view.len();
        let temp = self.temperature(seq);
        let dtemp = temp - self.cfg.scenario.temp_start_c;
        let (mut raw, mut clean) = (vec![0.0f32; n], vec![0.0f32; n]);
        self.sensor
            .expose(&view, self.cfg.level, gain, dtemp, &mut raw, &mut clean);
        let off = (mix(seq ^ self.cfg.seed) % (3 * n as u64 + 1)) as usize;
        let sigma = self.cfg.temporal_noise;
        let noise = &self.noise[off..off + n];
        let fs = self.full_scale;
        let raw = raw
            .iter()
            .zip(noise)
            .map(|(r, z)| (r + sigma * z).round().clamp(0.0, fs) as u16)
            .collect();
        DriftFrame {
            seq,
            time_s: self.time_of(seq),
            raw,
            clean,
            temp_c: temp,
            segment,
            gain,
        }
    }

    /// The clean frame `seq` (no pattern, no noise), DN.
    pub fn clean(&self, seq: u64) -> Vec<f32> {
        self.frame(seq).clean
    }

    /// The true pattern of frame `seq`: noise-free raw − clean, DN (it depends a little on the
    /// scene through the pixel gain).
    pub fn pattern_of(&self, seq: u64) -> Vec<f32> {
        let (view, gain, _) = self.scene_view(seq);
        let n = view.len();
        let dtemp = self.temperature(seq) - self.cfg.scenario.temp_start_c;
        let (mut raw, mut clean) = (vec![0.0f32; n], vec![0.0f32; n]);
        self.sensor
            .expose(&view, self.cfg.level, gain, dtemp, &mut raw, &mut clean);
        raw.iter().zip(&clean).map(|(r, c)| r - c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(w: usize, h: usize) -> DriftModel {
        let cfg = DriftConfig {
            width: w,
            height: h,
            fps: 9.0,
            bit_depth: 14,
            seed: 5,
            level: 7000.0,
            contrast: 2000.0,
            pan_px_per_s: 30.0,
            sensor: SensorParams {
                column_fpn: 40.0,
                pixel_fpn: 15.0,
                pixel_gain: 0.01,
                lpn: 250.0,
                drift_per_c: 0.05,
                low_gain: 0.35,
            },
            temporal_noise: 6.0,
            scenario: Scenario::drift(1800.0, 30.0, 1.5, 2.0),
        };
        let scene = Arc::new(CityScene::new(5, w, h, cfg.level, cfg.contrast));
        DriftModel::new(cfg, scene)
    }

    #[test]
    fn raw_is_clean_plus_pattern_plus_noise_in_14_bits() {
        let m = model(96, 80);
        let f = m.frame(100);
        assert!(f.raw.iter().all(|&v| v < 1 << 14));
        let p = m.pattern_of(100);
        let resid: f32 = f
            .raw
            .iter()
            .zip(f.clean.iter().zip(&p))
            .map(|(&r, (c, p))| (f32::from(r) - c - p).powi(2))
            .sum::<f32>()
            / p.len() as f32;
        assert!(resid.sqrt() < 7.0, "residual {}", resid.sqrt());
        assert_eq!(m.frame(100).raw, f.raw, "deterministic");
    }

    #[test]
    fn the_view_pans_then_stares() {
        let m = model(96, 80);
        let (a, _) = m.cfg.scenario.segment_span(1);
        let fps = 9.0;
        let at = |t: f32| m.frame((t * fps) as u64).clean;
        let diff = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .filter(|(p, q)| (*p - *q).abs() > 50.0)
                .count() as f32
                / x.len() as f32
        };
        let moving = diff(&at(10.0), &at(20.0));
        assert!(moving > 0.3, "pan changes most pixels: {moving}");
        let staring = diff(&at(a + 10.0), &at(a + 20.0));
        assert!(staring < 0.1, "a stare changes few: {staring}");
        assert!(m.temperature((a * fps) as u64) > m.temperature(0) + 2.0);
    }
}
