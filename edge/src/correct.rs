//! Per-frame correction on the hot path: `out = clamp(raw − pattern + offset)`, then optional
//! bad-pixel replacement. The raw frame is only read.
//!
//! The pattern is prepared once per swap into per-pixel `i16` offsets (`offset − round(pattern)`),
//! so the per-frame kernel is one widening add and one clamp per pixel, which the compiler
//! vectorises; `benches/correct.rs` measures it against a plain copy.

/// A dead or stuck pixel and the good neighbours that replace it.
#[derive(Debug, Clone, PartialEq)]
struct BadPixel {
    index: usize,
    neighbours: Vec<usize>,
}

/// A prepared correction for one frame size.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    width: usize,
    height: usize,
    offsets: Vec<i16>,
    lo: u16,
    hi: u16,
    bad: Vec<BadPixel>,
}

/// Why a correction could not be prepared.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CorrectionError {
    /// The pattern does not have `width × height` values.
    #[error("pattern has {got} values, the frame {width}x{height} needs {}", width * height)]
    PatternSize {
        /// Values in the pattern.
        got: usize,
        /// Frame width.
        width: usize,
        /// Frame height.
        height: usize,
    },
    /// A bad pixel lies outside the frame.
    #[error("bad pixel [{x}, {y}] is outside the {width}x{height} frame")]
    BadPixelOutside {
        /// Column.
        x: u32,
        /// Row.
        y: u32,
        /// Frame width.
        width: usize,
        /// Frame height.
        height: usize,
    },
}

/// The per-pixel kernel, in 16-bit lanes without widening: flipping the top bit maps u16
/// onto i16 order-preservingly (v − 32768), so `raw + offset` saturated to the u16 range is one
/// saturating i16 add (SSE2 `paddsw`, NEON `sqadd`), and the clamp to [lo, hi] is an i16
/// min/max in the same flipped domain (SSE2 `pminsw`/`pmaxsw`; unsigned 16-bit min/max would
/// need SSE4.1). Equal-length slices in one zip: no bounds checks; the loop vectorises.
#[inline(always)]
fn correct_portable(raw: &[u16], offsets: &[i16], out: &mut [u16], lo: u16, hi: u16) {
    let lo = (lo ^ 0x8000) as i16;
    let hi = (hi ^ 0x8000) as i16;
    for ((o, &r), &d) in out.iter_mut().zip(raw).zip(offsets) {
        let v = ((r ^ 0x8000) as i16).saturating_add(d).clamp(lo, hi);
        *o = (v as u16) ^ 0x8000;
    }
}

/// The same kernel compiled for AVX2 (16 lanes instead of SSE2's 8); the x86-64 baseline is
/// SSE2, so it is chosen at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn correct_avx2(raw: &[u16], offsets: &[i16], out: &mut [u16], lo: u16, hi: u16) {
    correct_portable(raw, offsets, out, lo, hi);
}

fn correct_lanes(raw: &[u16], offsets: &[i16], out: &mut [u16], lo: u16, hi: u16) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of calling a
        // `#[target_feature(enable = "avx2")]` function; the body is safe Rust.
        unsafe { correct_avx2(raw, offsets, out, lo, hi) };
        return;
    }
    correct_portable(raw, offsets, out, lo, hi);
}

impl Correction {
    /// Prepares `raw − pattern + offset` clamped to `[lo, hi]`; `pattern = None` only adds the
    /// offset. `bad_pixels` are `[x, y]` pairs.
    pub fn new(
        width: usize,
        height: usize,
        pattern: Option<&[f32]>,
        offset: i32,
        (lo, hi): (u16, u16),
        bad_pixels: &[[u32; 2]],
    ) -> Result<Correction, CorrectionError> {
        let n = width * height;
        let offsets = match pattern {
            Some(p) if p.len() != n => {
                return Err(CorrectionError::PatternSize {
                    got: p.len(),
                    width,
                    height,
                });
            }
            // Rounded with the error carried along the scan, so the integer offsets add up to
            // the pattern's sum: a zero-mean pattern keeps a uniform scene's mean exactly.
            Some(p) => {
                let mut carry = 0.0f32;
                p.iter()
                    .map(|&v| {
                        let want = if v.is_finite() { v } else { 0.0 } + carry;
                        let q = want.round();
                        carry = want - q;
                        (offset as f32 - q).clamp(i16::MIN as f32, i16::MAX as f32) as i16
                    })
                    .collect()
            }
            None => vec![offset.clamp(i16::MIN as i32, i16::MAX as i32) as i16; n],
        };
        let mut is_bad = vec![false; n];
        for &[x, y] in bad_pixels {
            if x as usize >= width || y as usize >= height {
                return Err(CorrectionError::BadPixelOutside {
                    x,
                    y,
                    width,
                    height,
                });
            }
            is_bad[y as usize * width + x as usize] = true;
        }
        let bad = bad_pixels
            .iter()
            .map(|&[x, y]| {
                let (x, y) = (x as isize, y as isize);
                let neighbours = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                    .into_iter()
                    .filter(|&(nx, ny)| {
                        nx >= 0 && ny >= 0 && (nx as usize) < width && (ny as usize) < height
                    })
                    .map(|(nx, ny)| ny as usize * width + nx as usize)
                    .filter(|&i| !is_bad[i])
                    .collect();
                BadPixel {
                    index: y as usize * width + x as usize,
                    neighbours,
                }
            })
            .collect();
        Ok(Correction {
            width,
            height,
            offsets,
            lo,
            hi,
            bad,
        })
    }

    /// Frame size this correction is for.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Corrects `raw` into `out` (both `width × height`).
    ///
    /// # Panics
    /// When the slices have the wrong length (callers check frame shapes first).
    pub fn apply(&self, raw: &[u16], out: &mut [u16]) {
        let n = self.offsets.len();
        assert!(raw.len() == n && out.len() == n, "frame size mismatch");
        correct_lanes(raw, &self.offsets, out, self.lo, self.hi);
        for b in &self.bad {
            if b.neighbours.is_empty() {
                continue;
            }
            let sum: u32 = b.neighbours.iter().map(|&i| u32::from(out[i])).sum();
            out[b.index] = (sum / b.neighbours.len() as u32) as u16;
        }
    }

    /// Corrects into a new buffer.
    pub fn apply_new(&self, raw: &[u16]) -> Vec<u16> {
        let mut out = vec![0u16; raw.len()];
        self.apply(raw, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts_pattern_adds_offset_and_clamps() {
        let pattern = [10.0, -10.0, 0.4, 3000.0];
        let c = Correction::new(2, 2, Some(&pattern), 100, (0, 1000), &[]).unwrap();
        let raw = [50u16, 50, 900, 100];
        let out = c.apply_new(&raw);
        assert_eq!(out, [140, 160, 1000, 0]);
        assert_eq!(raw, [50, 50, 900, 100], "raw unchanged");
    }

    #[test]
    fn rounding_keeps_the_sum_of_the_pattern() {
        // 0.4 DN everywhere rounds to 0 per pixel; carried, 4 of 10 pixels take 1 DN.
        let c = Correction::new(10, 1, Some(&[0.4; 10]), 0, (0, u16::MAX), &[]).unwrap();
        let out = c.apply_new(&[100; 10]);
        assert_eq!(out.iter().map(|&v| u32::from(v)).sum::<u32>(), 1000 - 4);
        let zero_mean = [0.3, -0.3, 0.6, -0.6, 0.2, -0.2];
        let c = Correction::new(6, 1, Some(&zero_mean), 0, (0, u16::MAX), &[]).unwrap();
        assert_eq!(
            c.apply_new(&[50; 6])
                .iter()
                .map(|&v| u32::from(v))
                .sum::<u32>(),
            300
        );
    }

    #[test]
    fn bad_pixels_take_the_mean_of_good_neighbours() {
        let c = Correction::new(3, 3, None, 0, (0, u16::MAX), &[[1, 1], [2, 1]]).unwrap();
        let raw = [0u16, 10, 0, 20, 9999, 9999, 0, 30, 0];
        let out = c.apply_new(&raw);
        // (1,1): neighbours (0,1)=20, (1,0)=10, (1,2)=30; (2,1) is bad too.
        assert_eq!(out[4], 20);
        // (2,1): neighbours (2,0)=0, (2,2)=0.
        assert_eq!(out[5], 0);
    }

    #[test]
    fn kernel_matches_the_widening_formula_everywhere() {
        // Extremes of raw, offset and clamp range, against `clamp(raw + offset)` in i32.
        let raws = [
            0u16, 1, 2, 100, 8191, 16383, 32767, 32768, 40000, 65534, 65535,
        ];
        let offs = [-32768i32, -16384, -20000, -1, 0, 1, 5000, 16384, 32767];
        for &(lo, hi) in &[(0u16, 65535u16), (0, 16383), (100, 1000)] {
            for &off in &offs {
                let pattern = vec![-(off as f32); raws.len()];
                let c = Correction::new(raws.len(), 1, Some(&pattern), 0, (lo, hi), &[]).unwrap();
                let out = c.apply_new(&raws);
                for (i, &r) in raws.iter().enumerate() {
                    let d = i32::from(c.offsets[i]);
                    let want = (i32::from(r) + d).clamp(i32::from(lo), i32::from(hi)) as u16;
                    assert_eq!(out[i], want, "raw {r} offset {d} clamp {lo}..{hi}");
                }
            }
        }
    }

    #[test]
    fn dispatched_kernel_equals_the_portable_one() {
        // Covers the AVX2 path where the CPU has it (and the remainder loop: odd length).
        let n = 1037;
        let raw: Vec<u16> = (0..n).map(|i| (i * 7919 % 65536) as u16).collect();
        let offsets: Vec<i16> = (0..n)
            .map(|i| (i as i32 * 977 % 65536 - 32768) as i16)
            .collect();
        let (mut a, mut b) = (vec![0u16; n], vec![0u16; n]);
        correct_lanes(&raw, &offsets, &mut a, 7, 60000);
        correct_portable(&raw, &offsets, &mut b, 7, 60000);
        assert_eq!(a, b);
        for i in 0..n {
            let want = (i32::from(raw[i]) + i32::from(offsets[i])).clamp(7, 60000) as u16;
            assert_eq!(a[i], want, "pixel {i}");
        }
    }

    #[test]
    fn wrong_pattern_size_is_refused() {
        let e = Correction::new(4, 4, Some(&[0.0; 3]), 0, (0, 10), &[]).unwrap_err();
        assert!(e.to_string().contains("4x4"), "{e}");
        assert!(Correction::new(4, 4, None, 0, (0, 10), &[[4, 0]]).is_err());
    }
}
