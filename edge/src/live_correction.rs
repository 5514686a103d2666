//! The correction the frame stream gets: a [`Correction`] rebuilt when the pattern or the
//! configuration changes, with a new pattern blended in linearly over
//! `correction.blend_frames` frames, so the video never jumps when a refit lands (the capture
//! loop and the drift bench both correct through this). Patterns are applied zero-mean, so a
//! correction never shifts the radiometric level of the frame.

use std::sync::Arc;

use formats::pattern::StoredPattern;

use crate::config::EdgeConfig;
use crate::correct::{Correction, CorrectionError};

/// The per-frame correction with its blend state.
pub struct LiveCorrection {
    width: usize,
    height: usize,
    /// The pattern applied to the last frame (zero-mean; zeros before any pattern).
    applied: Vec<f32>,
    /// Blend start and end, and frames done of `frames`.
    blend: Option<Blend>,
    /// The pattern the blend goes to (or that is fully applied).
    target: Option<Arc<StoredPattern>>,
    correction: Option<Correction>,
    config_gen: Option<u64>,
}

struct Blend {
    from: Vec<f32>,
    to: Vec<f32>,
    done: u32,
    frames: u32,
}

/// `v` minus its mean.
fn zero_mean(v: &[f32]) -> Vec<f32> {
    let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
    let mean = v.iter().map(|&x| f64::from(finite(x))).sum::<f64>() / v.len().max(1) as f64;
    v.iter().map(|&x| finite(x) - mean as f32).collect()
}

impl LiveCorrection {
    /// No pattern applied yet, for frames of `width`×`height`.
    pub fn new(width: usize, height: usize) -> Self {
        LiveCorrection {
            width,
            height,
            applied: vec![0.0; width * height],
            blend: None,
            target: None,
            correction: None,
            config_gen: None,
        }
    }

    /// The pattern applied to the last corrected frame (zero-mean, DN).
    pub fn applied(&self) -> &[f32] {
        &self.applied
    }

    /// Whether a new pattern is still being blended in.
    pub fn blending(&self) -> bool {
        self.blend.is_some()
    }

    /// Corrects `raw` into `out` against `pattern` (`None`: no correction, faded out the same
    /// way). `config_gen` changes whenever the configuration did.
    pub fn correct(
        &mut self,
        raw: &[u16],
        out: &mut [u16],
        pattern: Option<&Arc<StoredPattern>>,
        cfg: &EdgeConfig,
        config_gen: u64,
    ) -> Result<(), CorrectionError> {
        let n = self.width * self.height;
        let changed = match (&self.target, pattern) {
            (None, None) => false,
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            _ => true,
        };
        let mut rebuild = self.correction.is_none() || self.config_gen != Some(config_gen);
        if changed {
            let to = match pattern {
                Some(p) if p.data.len() == n => zero_mean(&p.data),
                Some(p) => {
                    return Err(CorrectionError::PatternSize {
                        got: p.data.len(),
                        width: self.width,
                        height: self.height,
                    });
                }
                None => vec![0.0; n],
            };
            self.target = pattern.cloned();
            let frames = cfg.correction.blend_frames;
            if frames <= 1 {
                self.applied = to;
                self.blend = None;
            } else {
                self.blend = Some(Blend {
                    from: std::mem::take(&mut self.applied),
                    to,
                    done: 0,
                    frames,
                });
            }
            rebuild = true;
        }
        if let Some(b) = &mut self.blend {
            b.done += 1;
            let a = b.done as f32 / b.frames as f32;
            self.applied = b
                .from
                .iter()
                .zip(&b.to)
                .map(|(f, t)| f + a * (t - f))
                .collect();
            if b.done >= b.frames {
                self.applied = std::mem::take(&mut b.to);
                self.blend = None;
            }
            rebuild = true;
        }
        if rebuild {
            let c = &cfg.correction;
            let applied =
                (self.target.is_some() || self.blend.is_some()).then_some(self.applied.as_slice());
            self.correction = Some(Correction::new(
                self.width,
                self.height,
                applied,
                c.offset,
                (c.clamp_min, cfg.clamp_max()),
                &c.bad_pixels,
            )?);
            self.config_gen = Some(config_gen);
        }
        self.correction
            .as_ref()
            .expect("built above")
            .apply(raw, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::pattern::PatternMeta;

    fn pattern(v: Vec<f32>) -> Arc<StoredPattern> {
        Arc::new(StoredPattern {
            width: 4,
            height: 2,
            data: v,
            meta: PatternMeta::default(),
        })
    }

    fn cfg(blend: u32) -> EdgeConfig {
        let mut c = EdgeConfig::default();
        c.correction.blend_frames = blend;
        c
    }

    #[test]
    fn a_new_pattern_is_blended_in_over_frames() {
        let mut lc = LiveCorrection::new(4, 2);
        let raw = [1000u16; 8];
        let mut out = [0u16; 8];
        let c = cfg(4);
        lc.correct(&raw, &mut out, None, &c, 0).unwrap();
        assert_eq!(out, raw);
        let p = pattern(vec![80.0, -80.0, 40.0, -40.0, 0.0, 0.0, 0.0, 0.0]);
        let mut firsts = Vec::new();
        for _ in 0..6 {
            lc.correct(&raw, &mut out, Some(&p), &c, 0).unwrap();
            firsts.push(out[0]);
        }
        assert_eq!(
            firsts,
            [980, 960, 940, 920, 920, 920],
            "a quarter per frame"
        );
        assert!(!lc.blending());
        // Switched off: faded out the same way.
        lc.correct(&raw, &mut out, None, &c, 0).unwrap();
        assert_eq!(out[0], 940);
    }

    #[test]
    fn without_blending_the_pattern_applies_at_once_and_keeps_the_level() {
        let mut lc = LiveCorrection::new(4, 2);
        // A pattern with a non-zero mean (e.g. pushed from a tool): only its shape is applied.
        let p = pattern(vec![110.0, 90.0, 100.0, 100.0, 100.0, 100.0, 95.0, 105.0]);
        let raw = [5000u16; 8];
        let mut out = [0u16; 8];
        lc.correct(&raw, &mut out, Some(&p), &cfg(0), 0).unwrap();
        assert_eq!(out, [4990, 5010, 5000, 5000, 5000, 5000, 5005, 4995]);
        let mean = out.iter().map(|&v| f64::from(v)).sum::<f64>() / 8.0;
        assert_eq!(mean, 5000.0, "a uniform scene keeps its mean");
        let bad = pattern(vec![0.0; 3]);
        assert!(lc.correct(&raw, &mut out, Some(&bad), &cfg(0), 0).is_err());
    }
}
