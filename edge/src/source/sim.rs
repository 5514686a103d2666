//! The simulated camera: the drift model of [`super::drift`] (a textured city the camera pans
//! across and stares at, column and pixel FPN, pixel gain and optics LPN drifting with an
//! uncooled core's temperature curve, a gain switch), configured by `camera.sim`, paced at the
//! configured frame rate, as `bit_depth`-bit values in 16-bit words, through a model of a
//! capture driver's buffer queue (a slow reader gets stale frames first, then a gap).
//!
//! Everything is a deterministic function of the configuration and the frame number, so a test
//! (or `dipnuc demo`) can rebuild the same [`SimModel`] and ask it for the clean scene and the
//! true pattern of any frame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::drift::{CityScene, DriftConfig, DriftFrame, DriftModel, Scenario, SensorParams};
use super::{DRIVER_BUFFERS, FrameSource, SourceError, SourceInfo, pace_until};
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

/// The simulated camera as a frame source: frames are captured on the camera's own clock at
/// the configured rate into [`DRIVER_BUFFERS`] driver buffers, as a V4L2 driver does, and read
/// from there oldest first, stamped with their capture time.
pub struct SimCamera {
    model: Arc<SimModel>,
    bit_depth: u8,
    queue: DriverQueue,
    /// Streaming starts with the first read, as V4L2 capture does.
    streaming: bool,
}

impl SimCamera {
    /// A simulated camera for this camera section.
    pub fn new(cfg: &CameraConfig) -> SimCamera {
        SimCamera {
            model: Arc::new(SimModel::new(cfg)),
            bit_depth: cfg.bit_depth,
            queue: DriverQueue::new(
                Duration::from_secs_f32(1.0 / cfg.fps),
                DRIVER_BUFFERS as usize,
                Instant::now(),
            ),
            streaming: false,
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
        if !self.streaming {
            self.queue.restart(Instant::now());
            self.streaming = true;
        }
        self.queue.capture_until(Instant::now());
        if self.queue.is_empty() {
            if !pace_until(self.queue.next_capture(), timeout) {
                return Ok(None);
            }
            self.queue.capture_until(Instant::now());
        }
        let Some((seq, captured)) = self.queue.pop() else {
            return Ok(None);
        };
        let (data, temp) = self.model.raw(seq);
        let (w, h) = self.model.size();
        Ok(Some(RawFrame {
            seq,
            timestamp: captured,
            width: w as u32,
            height: h as u32,
            data,
            sensor_temp_c: Some(temp),
        }))
    }

    fn reopen(&mut self) -> Result<(), SourceError> {
        // Streaming starts again now; the frame clock (the scene) goes on where it was.
        self.queue.restart(Instant::now());
        Ok(())
    }
}

/// A capture driver's queue on the camera's clock: frame `seq` is captured at `next_at` when
/// one of `buffers` buffers is free, and dropped otherwise (the sequence number still counts
/// it, so the reader sees the gap). Captures are worked out when the reader comes, so a reader
/// that is away costs nothing.
#[derive(Debug, Clone)]
struct DriverQueue {
    period: Duration,
    buffers: usize,
    /// Number and capture time of the frames waiting, oldest first.
    waiting: std::collections::VecDeque<(u64, Instant)>,
    /// The next frame the camera captures, and when.
    next_seq: u64,
    next_at: Instant,
}

impl DriverQueue {
    fn new(period: Duration, buffers: usize, start: Instant) -> DriverQueue {
        DriverQueue {
            period,
            buffers: buffers.max(1),
            waiting: std::collections::VecDeque::new(),
            next_seq: 0,
            next_at: start,
        }
    }

    /// Captures every frame due by `now`: into a free buffer, or dropped when none is free.
    fn capture_until(&mut self, now: Instant) {
        while self.next_at <= now && self.waiting.len() < self.buffers {
            self.waiting.push_back((self.next_seq, self.next_at));
            self.next_seq += 1;
            self.next_at += self.period;
        }
        if self.next_at <= now {
            // Every buffer is full: all frames due until now are dropped.
            let period_ns = self.period.as_nanos().max(1);
            let dropped = ((now - self.next_at).as_nanos() / period_ns + 1) as u64;
            self.next_seq += dropped;
            self.next_at += Duration::from_nanos((period_ns * u128::from(dropped)) as u64);
        }
    }

    /// The oldest waiting frame.
    fn pop(&mut self) -> Option<(u64, Instant)> {
        self.waiting.pop_front()
    }

    fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// When the next frame is captured.
    fn next_capture(&self) -> Instant {
        self.next_at
    }

    /// Empties the buffers and captures the next frame at `now`.
    fn restart(&mut self, now: Instant) {
        self.waiting.clear();
        self.next_at = now;
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
    fn a_late_reader_gets_the_buffered_frames_then_a_gap() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut q = DriverQueue::new(ms(10), 4, t0);
        // In time: every frame, stamped with its capture time.
        q.capture_until(t0 + ms(25));
        assert_eq!(q.pop(), Some((0, t0)));
        assert_eq!(q.pop(), Some((1, t0 + ms(10))));
        assert_eq!(q.pop(), Some((2, t0 + ms(20))));
        assert!(q.is_empty());
        assert_eq!(q.next_capture(), t0 + ms(30));
        // Late by three periods: buffered, nothing lost.
        q.capture_until(t0 + ms(55));
        let seqs: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|f| f.0).collect();
        assert_eq!(seqs, [3, 4, 5]);
        // Away for 15 periods: four frames wait, the eleven after them are dropped.
        q.capture_until(t0 + ms(205));
        let got: Vec<(u64, Instant)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), [6, 7, 8, 9]);
        assert_eq!(
            got[0].1,
            t0 + ms(60),
            "stale frames keep their capture time"
        );
        q.capture_until(t0 + ms(210));
        assert_eq!(q.pop(), Some((21, t0 + ms(210))));
        // A long absence is dropped in one step.
        q.capture_until(t0 + Duration::from_secs(3600));
        assert_eq!(q.pop().unwrap().0, 22);
        assert_eq!(std::iter::from_fn(|| q.pop()).count(), 3);
        q.capture_until(t0 + Duration::from_secs(3600) + ms(10));
        assert_eq!(q.pop().unwrap().0, 360_001);
    }

    #[test]
    fn frames_come_in_sequence_stamped_on_the_camera_clock() {
        let mut cam = SimCamera::new(&cam());
        let period = Duration::from_secs_f32(1.0 / 500.0);
        let mut last: Option<RawFrame> = None;
        for _ in 0..20 {
            let f = cam.next_frame(Duration::from_secs(1)).unwrap().unwrap();
            assert!(f.timestamp <= Instant::now());
            if let Some(prev) = &last {
                // A gap (the machine stalled this reader for four periods) spans the frames
                // the driver dropped, in time too.
                assert!(f.seq > prev.seq, "{} -> {}", prev.seq, f.seq);
                assert_eq!(
                    f.timestamp - prev.timestamp,
                    period * (f.seq - prev.seq) as u32
                );
            }
            last = Some(f);
        }
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
