//! `FrameSet` (raw frames a pattern is estimated from) and `Pattern` (the estimated additive
//! spatial noise, in the same units: `corrected = raw − pattern`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::NucError;

/// Raw frames of one camera, all the same size, row-major, in raw units (DN).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameSet {
    width: usize,
    height: usize,
    frames: Vec<Vec<f32>>,
}

impl FrameSet {
    /// Checks that there is at least one frame, that every frame has `width·height` finite
    /// values and that the size is at least 2×2.
    pub fn new(width: usize, height: usize, frames: Vec<Vec<f32>>) -> Result<Self, NucError> {
        if width < 2 || height < 2 {
            return Err(NucError::BadSize {
                width,
                height,
                reason: "both sides must be at least 2 pixels",
            });
        }
        if frames.is_empty() {
            return Err(NucError::EmptyFrameSet);
        }
        let expected = width * height;
        for (index, f) in frames.iter().enumerate() {
            if f.len() != expected {
                return Err(NucError::FrameLength {
                    index,
                    got: f.len(),
                    expected,
                    width,
                    height,
                });
            }
            if let Some(pixel) = f.iter().position(|v| !v.is_finite()) {
                return Err(NucError::NonFinite { index, pixel });
            }
        }
        Ok(Self {
            width,
            height,
            frames,
        })
    }

    /// Frames of 16-bit raw words (any bit depth up to 16).
    pub fn from_u16(width: usize, height: usize, frames: &[Vec<u16>]) -> Result<Self, NucError> {
        let frames = frames
            .iter()
            .map(|f| f.iter().map(|&v| f32::from(v)).collect())
            .collect();
        Self::new(width, height, frames)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn frames(&self) -> &[Vec<f32>] {
        &self.frames
    }

    pub fn frame(&self, i: usize) -> &[f32] {
        &self.frames[i]
    }

    /// Minimum and maximum over all frames.
    pub fn range(&self) -> (f32, f32) {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for f in &self.frames {
            for &v in f {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        (lo, hi)
    }

    /// At most `n` frames spread evenly over the set (all when `n ≥ len`).
    pub fn subsample(&self, n: usize) -> FrameSet {
        let n = n.max(1);
        if n >= self.frames.len() {
            return self.clone();
        }
        let frames = (0..n)
            .map(|i| self.frames[i * self.frames.len() / n].clone())
            .collect();
        FrameSet {
            width: self.width,
            height: self.height,
            frames,
        }
    }

    /// Each frame minus `pattern`.
    pub fn corrected(&self, pattern: &Pattern) -> Result<FrameSet, NucError> {
        let frames = self
            .frames
            .iter()
            .map(|f| pattern.apply(self.width, self.height, f))
            .collect::<Result<_, _>>()?;
        Ok(FrameSet {
            width: self.width,
            height: self.height,
            frames,
        })
    }
}

/// An additive spatial noise pattern in raw units, zero mean: `corrected = raw − pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Pattern {
    /// A pattern from row-major data; the mean is removed (the absolute offset of a pattern is
    /// not observable from frames, and a zero-mean pattern keeps the corrected brightness).
    pub fn new(width: usize, height: usize, mut data: Vec<f32>) -> Result<Self, NucError> {
        if width == 0 || height == 0 {
            return Err(NucError::BadSize {
                width,
                height,
                reason: "a pattern needs at least one pixel",
            });
        }
        if data.len() != width * height {
            return Err(NucError::FrameLength {
                index: 0,
                got: data.len(),
                expected: width * height,
                width,
                height,
            });
        }
        if let Some(pixel) = data.iter().position(|v| !v.is_finite()) {
            return Err(NucError::NonFinite { index: 0, pixel });
        }
        let mean = (data.iter().map(|&v| f64::from(v)).sum::<f64>() / data.len() as f64) as f32;
        data.iter_mut().for_each(|v| *v -= mean);
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// The all-zero pattern (no correction).
    pub fn zeros(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Mean of each column (zero-mean like the pattern): its column-FPN profile.
    pub fn column_means(&self) -> Vec<f32> {
        let mut sums = vec![0.0f64; self.width];
        for row in self.data.chunks_exact(self.width) {
            sums.iter_mut()
                .zip(row)
                .for_each(|(s, &v)| *s += f64::from(v));
        }
        let n = self.height as f64;
        sums.into_iter().map(|s| (s / n) as f32).collect()
    }

    /// `frame − pattern` for a frame of `width`×`height`.
    pub fn apply(&self, width: usize, height: usize, frame: &[f32]) -> Result<Vec<f32>, NucError> {
        if width != self.width || height != self.height || frame.len() != self.data.len() {
            return Err(NucError::PatternSize {
                pw: self.width,
                ph: self.height,
                fw: width,
                fh: height,
            });
        }
        Ok(frame.iter().zip(&self.data).map(|(f, p)| f - p).collect())
    }

    /// Sum of two patterns of the same size.
    pub fn add(&self, other: &Pattern) -> Result<Pattern, NucError> {
        if other.width != self.width || other.height != self.height {
            return Err(NucError::PatternSize {
                pw: other.width,
                ph: other.height,
                fw: self.width,
                fh: self.height,
            });
        }
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| a + b)
            .collect();
        Pattern::new(self.width, self.height, data)
    }

    /// Saves as safetensors: one `pattern` tensor of shape (height, width), f32.
    pub fn save(&self, path: &Path) -> Result<(), NucError> {
        let t = Tensor::from_slice(&self.data, (self.height, self.width), &Device::Cpu)?;
        let map = HashMap::from([("pattern".to_string(), t)]);
        candle_core::safetensors::save(&map, path).map_err(|e| NucError::StateFile {
            path: path.to_path_buf(),
            reason: format!("cannot save pattern: {e}"),
        })
    }

    /// Loads a pattern written by [`Pattern::save`].
    pub fn load(path: &Path) -> Result<Pattern, NucError> {
        let bad = |reason: String| NucError::StateFile {
            path: path.to_path_buf(),
            reason,
        };
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| bad(format!("cannot read pattern file: {e}")))?;
        let t = map
            .get("pattern")
            .ok_or_else(|| bad("no `pattern` tensor in file".into()))?;
        let (h, w) = t.dims2().map_err(|_| {
            bad(format!(
                "`pattern` has shape {:?}, expected (height, width)",
                t.dims()
            ))
        })?;
        let data = t
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Pattern::new(w, h, data).map_err(|e| bad(e.to_string()))
    }
}
