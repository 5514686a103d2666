//! The script of a drifting-camera run: named segments in which the camera pans, stares at a
//! static scene (with people walking or a hot object crossing it) or switches gain, and the
//! sensor-temperature curve of an uncooled core (warm-up towards a plateau, then slow cycles).
//! Everything is a function of time, so any frame can be rebuilt from its timestamp.

use std::f32::consts::TAU;

/// What the camera does during a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Motion {
    /// Pans across the scene (and tilts a little) at the configured speed times `speed`.
    Pan {
        /// Multiplier of the configured pan speed.
        speed: f32,
    },
    /// Holds still; only things in the scene move.
    Stare,
}

/// The core's gain mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GainMode {
    /// Full scene contrast (the usual mode).
    High,
    /// About a third of the contrast, for hot scenes; the core uses other offset tables, so the
    /// pattern changes at once.
    Low,
}

/// One part of the script.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Name in reports (`pan`, `stare`, ...).
    pub name: &'static str,
    /// Share of the whole run (all shares add up to 1).
    pub share: f32,
    /// Camera motion.
    pub motion: Motion,
    /// Gain mode.
    pub gain: GainMode,
    /// A hot object crosses the view during the segment.
    pub hot_crossing: bool,
}

/// The script: segments over `period_s` seconds (repeated after that), and the temperature
/// curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Length of one pass through the segments, s.
    pub period_s: f32,
    /// The segments in order.
    pub segments: Vec<Segment>,
    /// Sensor temperature at power-on, °C.
    pub temp_start_c: f32,
    /// Initial warm-up slope, °C per minute (the plateau is `slope × τ` above the start).
    pub warmup_c_per_min: f32,
    /// Warm-up time constant, s.
    pub warmup_tau_s: f32,
    /// Amplitude of the slow cycles after warm-up, °C.
    pub cycle_c: f32,
    /// Period of the cycles, s.
    pub cycle_period_s: f32,
}

/// Where a time falls in the script.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase<'a> {
    /// The segment.
    pub segment: &'a Segment,
    /// Its index.
    pub index: usize,
    /// Seconds since the segment started.
    pub into_s: f32,
    /// Seconds the segment lasts.
    pub length_s: f32,
    /// Seconds of panning done before `t` (what drives the view position).
    pub pan_s: f32,
}

impl Scenario {
    /// The drift script: a pan during warm-up, minutes of staring with people walking, a
    /// fast pan, a stare with a hot object crossing, a switch to low gain while panning, back
    /// to high gain, and a last stare through a temperature cycle.
    pub fn drift(period_s: f32, temp_start_c: f32, warmup_c_per_min: f32, cycle_c: f32) -> Self {
        let seg = |name, share, motion, gain, hot_crossing| Segment {
            name,
            share,
            motion,
            gain,
            hot_crossing,
        };
        use GainMode::{High, Low};
        Scenario {
            period_s,
            segments: vec![
                seg("warm-up pan", 0.17, Motion::Pan { speed: 1.0 }, High, false),
                seg("stare", 0.17, Motion::Stare, High, false),
                seg("fast pan", 0.10, Motion::Pan { speed: 2.0 }, High, false),
                seg("stare + hot object", 0.16, Motion::Stare, High, true),
                seg("low gain pan", 0.14, Motion::Pan { speed: 1.0 }, Low, false),
                seg(
                    "high gain pan",
                    0.10,
                    Motion::Pan { speed: 1.0 },
                    High,
                    false,
                ),
                seg("final stare", 0.16, Motion::Stare, High, false),
            ],
            temp_start_c,
            warmup_c_per_min,
            warmup_tau_s: (period_s / 7.0).max(1.0),
            cycle_c,
            cycle_period_s: (period_s / 2.5).max(1.0),
        }
    }

    /// Sensor temperature at `t` seconds after power-on, °C: exponential warm-up to a plateau,
    /// with ±`cycle_c` cycles growing in as the core warms.
    pub fn temperature(&self, t: f32) -> f32 {
        let warm = 1.0 - (-t.max(0.0) / self.warmup_tau_s).exp();
        let plateau = self.warmup_c_per_min / 60.0 * self.warmup_tau_s;
        self.temp_start_c
            + plateau * warm
            + self.cycle_c * warm * (TAU * t / self.cycle_period_s).sin()
    }

    /// The segment at `t` (the script repeats every `period_s`).
    pub fn phase(&self, t: f32) -> Phase<'_> {
        let period = self.period_s.max(1e-3);
        let passes = (t.max(0.0) / period).floor();
        let local = t.max(0.0) - passes * period;
        let pan_per_pass: f32 = self
            .segments
            .iter()
            .filter(|s| matches!(s.motion, Motion::Pan { .. }))
            .map(|s| s.share * period * pan_speed(s))
            .sum();
        let mut start = 0.0;
        let mut pan_s = passes * pan_per_pass;
        let last = self.segments.len() - 1;
        for (index, segment) in self.segments.iter().enumerate() {
            let length = segment.share * period;
            if local < start + length || index == last {
                let into = (local - start).max(0.0);
                pan_s += into * pan_speed(segment);
                return Phase {
                    segment,
                    index,
                    into_s: into,
                    length_s: length,
                    pan_s,
                };
            }
            pan_s += length * pan_speed(segment);
            start += length;
        }
        unreachable!("the last segment takes every later time")
    }

    /// Start and end time of segment `index` in the first pass, s.
    pub fn segment_span(&self, index: usize) -> (f32, f32) {
        let start: f32 = self.segments[..index]
            .iter()
            .map(|s| s.share * self.period_s)
            .sum();
        (start, start + self.segments[index].share * self.period_s)
    }
}

fn pan_speed(s: &Segment) -> f32 {
    match s.motion {
        Motion::Pan { speed } => speed,
        Motion::Stare => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_the_period_and_the_view_holds_still_in_stares() {
        let s = Scenario::drift(1800.0, 30.0, 1.5, 2.0);
        let total: f32 = s.segments.iter().map(|g| g.share).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        let (a, b) = s.segment_span(1);
        assert_eq!(s.phase(a + 1.0).segment.name, "stare");
        assert_eq!(s.phase(a + 1.0).pan_s, s.phase(b - 1.0).pan_s, "no panning");
        assert!(s.phase(a - 1.0).pan_s < s.phase(a + 1.0).pan_s + 1e-3);
        assert_eq!(s.phase(1800.0 + a + 1.0).segment.name, "stare", "repeats");
        assert!(s.phase(1800.0 + a + 1.0).pan_s > s.phase(a + 1.0).pan_s);
        let low = s
            .segments
            .iter()
            .position(|g| g.gain == GainMode::Low)
            .unwrap();
        let (la, _) = s.segment_span(low);
        assert_eq!(s.phase(la + 0.5).segment.gain, GainMode::Low);
    }

    #[test]
    fn temperature_warms_up_then_cycles() {
        let s = Scenario::drift(1800.0, 30.0, 1.5, 2.0);
        assert_eq!(s.temperature(0.0), 30.0);
        let plateau = 1.5 / 60.0 * s.warmup_tau_s;
        assert!(s.temperature(s.warmup_tau_s) > 30.0 + 0.5 * plateau);
        let late: Vec<f32> = (0..200)
            .map(|i| s.temperature(1200.0 + i as f32 * 3.0))
            .collect();
        let (lo, hi) = late
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(hi - lo > 3.0 && hi - lo < 4.5, "cycle {lo}..{hi}");
    }
}
