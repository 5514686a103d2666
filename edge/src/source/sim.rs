//! The simulated camera: the drift model of [`super::drift`] (a textured city the camera pans
//! across and stares at, column and pixel FPN, pixel gain and optics LPN drifting with an
//! uncooled core's temperature curve, a gain switch), configured by `camera.sim`, paced at the
//! configured frame rate, as `bit_depth`-bit values in 16-bit words.
//!
//! Everything is a deterministic function of the configuration and the frame number, so a test
//! (or `dipnuc demo`) can rebuild the same [`SimModel`] and ask it for the clean scene and the
//! true pattern of any frame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::drift::{CityScene, DriftConfig, DriftFrame, DriftModel, Scenario, SensorParams};
use super::{FrameSource, SourceError, SourceInfo, pace_until};
use crate::config::CameraConfig;
use crate::frame::RawFrame;

/// Length of one pass through the simulator's script (pan, stare, gain switch...), s.
pub const SCRIPT_PERIOD_S: f32 = 1800.0;

/// The simulator's ground truth: scene, pattern and temperature as functions of the frame.
#[derive(Debug, Clone)]
pub struct SimModel {
    model: DriftModel,
}

/// The drift-camera configuration a camera section describes.
pub fn drift_config(camera: &CameraConfig) -> DriftConfig {
    let s = &camera.sim;
    DriftConfig {
        width: camera.width as usize,
        height: camera.height as usize,
        fps: camera.fps,
        bit_depth: camera.bit_depth,
        seed: s.seed,
        level: s.scene_level,
        contrast: s.scene_contrast,
        pan_px_per_s: s.motion_px_per_s,
        sensor: SensorParams {
            column_fpn: s.column_fpn,
            pixel_fpn: s.pixel_fpn,
            pixel_gain: 0.01,
            lpn: s.lpn,
            drift_per_c: s.drift_per_c,
            low_gain: 0.35,
        },
        temporal_noise: s.temporal_noise,
        scenario: Scenario::drift(
            SCRIPT_PERIOD_S,
            s.temp_start_c,
            s.temp_drift_c_per_min,
            s.temp_wobble_c,
        ),
    }
}

impl SimModel {
    /// Builds the model for a camera section (uses `camera.sim`, size, fps and bit depth).
    pub fn new(camera: &CameraConfig) -> SimModel {
        let cfg = drift_config(camera);
        let scene = Arc::new(CityScene::new(
            camera.sim.seed,
            cfg.width,
            cfg.height,
            cfg.level,
            cfg.contrast,
        ));
        SimModel {
            model: DriftModel::new(cfg, scene),
        }
    }

    /// The underlying drift model.
    pub fn drift(&self) -> &DriftModel {
        &self.model
    }

    /// Frame size.
    pub fn size(&self) -> (usize, usize) {
        self.model.size()
    }

    /// Simulated time of a frame, seconds.
    pub fn time_of(&self, seq: u64) -> f32 {
        self.model.time_of(seq)
    }

    /// Sensor temperature at frame `seq`, °C.
    pub fn temperature(&self, seq: u64) -> f32 {
        self.model.temperature(seq)
    }

    /// The true pattern of frame `seq` (raw = clean + pattern + noise).
    pub fn pattern_of(&self, seq: u64) -> Vec<f32> {
        self.model.pattern_of(seq)
    }

    /// The noise-free scene of frame `seq`, in DN (not clamped).
    pub fn clean(&self, seq: u64) -> Vec<f32> {
        self.model.clean(seq)
    }

    /// Frame `seq` with its ground truth.
    pub fn frame(&self, seq: u64) -> DriftFrame {
        self.model.frame(seq)
    }

    /// The raw frame `seq` would have: clean + pattern + temporal noise, rounded and clamped.
    pub fn raw(&self, seq: u64) -> (Vec<u16>, f32) {
        let f = self.model.frame(seq);
        (f.raw, f.temp_c)
    }
}

/// The simulated camera as a frame source, paced at the configured frame rate.
pub struct SimCamera {
    model: Arc<SimModel>,
    bit_depth: u8,
    seq: u64,
    period: Duration,
    next_due: Instant,
}

impl SimCamera {
    /// A simulated camera for this camera section.
    pub fn new(cfg: &CameraConfig) -> SimCamera {
        SimCamera {
            model: Arc::new(SimModel::new(cfg)),
            bit_depth: cfg.bit_depth,
            seq: 0,
            period: Duration::from_secs_f32(1.0 / cfg.fps),
            next_due: Instant::now(),
        }
    }

    /// The ground truth behind the frames.
    pub fn model(&self) -> Arc<SimModel> {
        self.model.clone()
    }
}

impl FrameSource for SimCamera {
    fn info(&self) -> SourceInfo {
        let (w, h) = self.model.size();
        SourceInfo {
            name: "simulated camera".into(),
            width: w as u32,
            height: h as u32,
            bit_depth: self.bit_depth,
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Option<RawFrame>, SourceError> {
        if !pace_until(self.next_due, timeout) {
            return Ok(None);
        }
        // A real camera keeps its own clock: frames due while nobody read them are lost (the
        // sequence number jumps, which the daemon counts as dropped), never delivered late in
        // a burst.
        let now = Instant::now();
        let behind = now.saturating_duration_since(self.next_due);
        let missed = (behind.as_secs_f64() / self.period.as_secs_f64()) as u64;
        self.seq += missed;
        self.next_due += self.period.mul_f64((missed + 1) as f64);
        let (data, temp) = self.model.raw(self.seq);
        let (w, h) = self.model.size();
        let frame = RawFrame {
            seq: self.seq,
            timestamp: Instant::now(),
            width: w as u32,
            height: h as u32,
            data,
            sensor_temp_c: Some(temp),
        };
        self.seq += 1;
        Ok(Some(frame))
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        self.next_due = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> CameraConfig {
        CameraConfig {
            width: 64,
            height: 48,
            fps: 500.0,
            ..CameraConfig::default()
        }
    }

    #[test]
    fn frames_are_14_bit_and_carry_the_pattern() {
        let cfg = cam();
        let mut cam = SimCamera::new(&cfg);
        let model = cam.model();
        let f = cam.next_frame(Duration::from_secs(1)).unwrap().unwrap();
        assert_eq!(f.data.len(), 64 * 48);
        assert!(f.data.iter().all(|&v| v < 1 << 14));
        let clean = model.clean(0);
        let pat = model.pattern_of(0);
        let resid: f32 = f
            .data
            .iter()
            .zip(clean.iter().zip(&pat))
            .map(|(&r, (c, p))| (r as f32 - c - p).abs())
            .sum::<f32>()
            / f.data.len() as f32;
        assert!(resid < 3.0 * cfg.sim.temporal_noise, "residual {resid}");
    }

    #[test]
    fn a_slow_reader_loses_frames_like_a_real_camera() {
        let mut cam = SimCamera::new(&cam());
        let a = cam.next_frame(Duration::from_secs(1)).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(30)); // 15 frame periods at 500 fps
        let b_asked = Instant::now();
        let b = cam.next_frame(Duration::from_secs(1)).unwrap().unwrap();
        let c = cam.next_frame(Duration::from_secs(1)).unwrap().unwrap();
        assert!(b.seq >= a.seq + 10, "{} -> {}", a.seq, b.seq);
        // Reading on at once loses only the frames this reader was late for (none unless the
        // machine is busy): the periods since it asked for `b`, measured here.
        let late = (b_asked.elapsed().as_secs_f64() * 500.0) as u64;
        assert!(
            c.seq > b.seq && c.seq <= b.seq + 1 + late,
            "{} -> {} ({late} periods late)",
            b.seq,
            c.seq
        );
    }

    #[test]
    fn pattern_drifts_with_temperature_and_scene_moves() {
        let m = SimModel::new(&cam());
        let late = 500 * 600;
        let a = m.pattern_of(0);
        let b = m.pattern_of(late);
        let d: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(d > 5.0, "pattern drift {d}");
        let c0 = m.clean(0);
        let c1 = m.clean(500);
        let d: f32 = c0.iter().zip(&c1).map(|(x, y)| (x - y).abs()).sum::<f32>() / c0.len() as f32;
        assert!(d > 50.0, "scene motion {d}");
        assert!(m.temperature(late) > m.temperature(0) + 1.0);
    }
}
