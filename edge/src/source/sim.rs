//! The simulated camera: a moving synthetic scene plus column FPN, pixel FPN and a
//! low-frequency pattern (LPN) that drift with a simulated sensor temperature, paced at the
//! configured frame rate, as `bit_depth`-bit values in 16-bit words, through a model of a
//! capture driver's buffer queue (a slow reader gets stale frames first, then a gap).
//!
//! Everything is a deterministic function of the configuration and the frame number, so a test
//! (or `dipnuc demo`) can rebuild the same [`SimModel`] and ask it for the clean scene and the
//! true pattern of any frame.

use std::f32::consts::TAU;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};

use super::{DRIVER_BUFFERS, FrameSource, SourceError, SourceInfo, pace_until};
use crate::config::{CameraConfig, SimConfig};
use crate::frame::RawFrame;

/// A moving blob of the synthetic scene.
#[derive(Debug, Clone)]
struct Blob {
    cx: f32,
    cy: f32,
    ax: f32,
    ay: f32,
    wx: f32,
    wy: f32,
    phase: f32,
    radius: f32,
    gain: f32,
}

/// The simulator's ground truth: scene, pattern and temperature as functions of the frame.
#[derive(Debug, Clone)]
pub struct SimModel {
    cfg: SimConfig,
    width: usize,
    height: usize,
    fps: f32,
    full_scale: f32,
    blobs: Vec<Blob>,
    /// Pattern at the reference temperature (column + pixel FPN + LPN), zero-mean.
    base: Vec<f32>,
    /// Shape the pattern takes on per °C of drift (scaled by `drift_per_c`), zero-mean.
    drift: Vec<f32>,
}

impl SimModel {
    /// Builds the model for a camera section (uses `camera.sim`, size, fps and bit depth).
    pub fn new(camera: &CameraConfig) -> SimModel {
        let cfg = camera.sim.clone();
        let (w, h) = (camera.width as usize, camera.height as usize);
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let blobs = (0..5)
            .map(|i| Blob {
                cx: rng.gen_range(0.25..0.75) * w as f32,
                cy: rng.gen_range(0.25..0.75) * h as f32,
                ax: rng.gen_range(0.15..0.35) * w as f32,
                ay: rng.gen_range(0.15..0.35) * h as f32,
                wx: rng.gen_range(0.6..1.4),
                wy: rng.gen_range(0.6..1.4),
                phase: rng.gen_range(0.0..TAU),
                radius: rng.gen_range(0.06..0.14) * w.min(h) as f32 + 1.0,
                gain: if i % 2 == 0 { 1.0 } else { -0.6 } * rng.gen_range(0.5..1.0),
            })
            .collect();
        let base = pattern_field(&mut rng, w, h, cfg.column_fpn, cfg.pixel_fpn, cfg.lpn);
        let drift = pattern_field(&mut rng, w, h, cfg.column_fpn, cfg.pixel_fpn, cfg.lpn);
        SimModel {
            cfg,
            width: w,
            height: h,
            fps: camera.fps,
            full_scale: ((1u32 << camera.bit_depth) - 1) as f32,
            blobs,
            base,
            drift,
        }
    }

    /// Frame size.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Simulated time of a frame, seconds.
    pub fn time_of(&self, seq: u64) -> f32 {
        seq as f32 / self.fps
    }

    /// Sensor temperature at frame `seq`, °C.
    pub fn temperature(&self, seq: u64) -> f32 {
        let t = self.time_of(seq);
        self.cfg.temp_start_c
            + self.cfg.temp_drift_c_per_min * t / 60.0
            + self.cfg.temp_wobble_c * (TAU * t / 300.0).sin()
    }

    /// The true zero-mean pattern at a sensor temperature (raw = clean + pattern + noise).
    pub fn pattern_at(&self, temp_c: f32) -> Vec<f32> {
        let k = (temp_c - self.cfg.temp_start_c) * self.cfg.drift_per_c;
        self.base
            .iter()
            .zip(&self.drift)
            .map(|(b, d)| b + k * d)
            .collect()
    }

    /// The noise-free scene of frame `seq`, in DN (not clamped).
    pub fn clean(&self, seq: u64) -> Vec<f32> {
        let t = self.time_of(seq);
        let (w, h) = (self.width, self.height);
        let c = self.cfg.scene_contrast;
        let shift = self.cfg.motion_px_per_s * t;
        let mut out = vec![0.0f32; w * h];
        // A smooth background that drifts sideways and down: every part of the scene moves
        // relative to the sensor, which is what lets a multi-frame fit tell scene from pattern
        // (a static scene component is indistinguishable from pattern).
        let fx = TAU * 1.3 / w as f32;
        let fy = TAU * 0.9 / h as f32;
        for y in 0..h {
            let cy = (fy * (y as f32 + 0.5 * shift)).cos();
            for x in 0..w {
                out[y * w + x] =
                    self.cfg.scene_level + 0.25 * c * ((fx * (x as f32 + shift)).sin() * cy);
            }
        }
        let speed = self.cfg.motion_px_per_s / (0.3 * w as f32).max(1.0);
        for b in &self.blobs {
            let px = b.cx + b.ax * (b.wx * speed * t + b.phase).sin();
            let py = b.cy + b.ay * (b.wy * speed * t + 0.7 * b.phase).cos();
            let inv = 1.0 / (2.0 * b.radius * b.radius);
            let reach = (3.0 * b.radius) as isize + 1;
            let (x0, x1) = clip_range(px as isize - reach, px as isize + reach, w);
            let (y0, y1) = clip_range(py as isize - reach, py as isize + reach, h);
            for y in y0..y1 {
                let dy = y as f32 - py;
                for x in x0..x1 {
                    let dx = x as f32 - px;
                    out[y * w + x] += c * b.gain * (-(dx * dx + dy * dy) * inv).exp();
                }
            }
        }
        out
    }

    /// The raw frame `seq` would have: clean + pattern + temporal noise, rounded and clamped.
    pub fn raw(&self, seq: u64) -> (Vec<u16>, f32) {
        let temp = self.temperature(seq);
        let pattern = self.pattern_at(temp);
        let clean = self.clean(seq);
        let mut rng =
            StdRng::seed_from_u64(self.cfg.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let noise = Normal::new(0.0f32, self.cfg.temporal_noise.max(1e-6)).expect("sigma > 0");
        let data = clean
            .iter()
            .zip(&pattern)
            .map(|(c, p)| {
                let n = if self.cfg.temporal_noise > 0.0 {
                    noise.sample(&mut rng)
                } else {
                    0.0
                };
                (c + p + n).round().clamp(0.0, self.full_scale) as u16
            })
            .collect();
        (data, temp)
    }
}

fn clip_range(a: isize, b: isize, n: usize) -> (usize, usize) {
    (
        a.clamp(0, n as isize) as usize,
        b.clamp(0, n as isize) as usize,
    )
}

/// A zero-mean pattern: Gaussian column offsets + Gaussian pixel offsets + smooth LPN.
fn pattern_field(rng: &mut StdRng, w: usize, h: usize, col: f32, pix: f32, lpn: f32) -> Vec<f32> {
    let col_d = Normal::new(0.0f32, col.max(1e-6)).expect("sigma > 0");
    let pix_d = Normal::new(0.0f32, pix.max(1e-6)).expect("sigma > 0");
    let cols: Vec<f32> = (0..w)
        .map(|_| if col > 0.0 { col_d.sample(rng) } else { 0.0 })
        .collect();
    // Low-frequency pattern: a few random 2-D cosines of at most ~1.5 periods per frame.
    let waves: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| {
            (
                rng.gen_range(0.2..1.5) * TAU / w as f32,
                rng.gen_range(0.2..1.5) * TAU / h as f32,
                rng.gen_range(0.0..TAU),
            )
        })
        .collect();
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let low: f32 = waves
                .iter()
                .map(|(kx, ky, ph)| (kx * x as f32 + ky * y as f32 + ph).cos())
                .sum::<f32>()
                / 2.0;
            let p = if pix > 0.0 { pix_d.sample(rng) } else { 0.0 };
            out[y * w + x] = cols[x] + p + lpn * low;
        }
    }
    let mean = out.iter().map(|&v| v as f64).sum::<f64>() / out.len() as f64;
    out.iter_mut().for_each(|v| *v -= mean as f32);
    out
}

/// The simulated camera as a frame source: frames are captured on the camera's own clock at
/// the configured rate into [`DRIVER_BUFFERS`] driver buffers, as a V4L2 driver does, and read
/// from there oldest first, stamped with their capture time.
pub struct SimCamera {
    model: std::sync::Arc<SimModel>,
    bit_depth: u8,
    queue: DriverQueue,
    /// Streaming starts with the first read, as V4L2 capture does.
    streaming: bool,
}

impl SimCamera {
    /// A simulated camera for this camera section.
    pub fn new(cfg: &CameraConfig) -> SimCamera {
        SimCamera {
            model: std::sync::Arc::new(SimModel::new(cfg)),
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
    pub fn model(&self) -> std::sync::Arc<SimModel> {
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
        let pat = model.pattern_at(f.sensor_temp_c.unwrap());
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
        let a = m.pattern_at(30.0);
        let b = m.pattern_at(40.0);
        let d: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(d > 10.0, "pattern drift {d}");
        let c0 = m.clean(0);
        let c1 = m.clean(500);
        let d: f32 = c0.iter().zip(&c1).map(|(x, y)| (x - y).abs()).sum::<f32>() / c0.len() as f32;
        assert!(d > 50.0, "scene motion {d}");
        assert!(m.temperature(500 * 60) > m.temperature(0));
    }
}
