//! Per-pixel offset refinement, the last stage of a TV-DIP fit (`pixel_passes`). TV of the
//! residual sets each pixel's offset from its differences to its neighbours, a median-like
//! estimate over the frames; a pixel's frame-to-frame noise (read noise, compression) leaves
//! that estimate noisy, and the worst of those pixels set a corrected frame's extremes, so its
//! display range. Each pass adds, per pixel, the frames' mean of what the corrected frame reads
//! above the mean of its 8 neighbours: moving scene detail averages out over the frames, a
//! pixel's own offset does not, and a mean is the efficient estimate of it under noise. It
//! needs moving frames, as every stage does (a stare would leave its fine texture in the
//! pattern; the daemon's static-scene guard holds refits off then).

use rayon::prelude::*;

use super::{FrameSet, NucError};

/// One neighbour of each opposite pair of the 8-neighbourhood (row, column offsets).
const PAIRS: [(isize, isize); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];

/// Refines `pattern` (row-major, the set's size, raw units) in place by `passes` passes over
/// `set` (see the module docs); 0 passes leave it as it is.
pub fn refine(set: &FrameSet, pattern: &mut [f32], passes: u32) -> Result<(), NucError> {
    let (w, h) = (set.width(), set.height());
    if pattern.len() != w * h {
        return Err(NucError::FrameLength {
            index: 0,
            got: pattern.len(),
            expected: w * h,
            width: w,
            height: h,
        });
    }
    let n = set.len();
    if n == 0 {
        return Ok(());
    }
    let p = pattern;
    for _ in 0..passes {
        let mut delta = vec![0.0f32; w * h];
        delta.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
            let mut sum = vec![0.0f64; w];
            for f in set.frames() {
                let x = |y: usize, c: usize| f[y * w + c] - p[y * w + c];
                for (j, s) in sum.iter_mut().enumerate() {
                    let (mut acc, mut cnt) = (0.0f32, 0u32);
                    // Opposite pairs only, so a scene gradient cancels at the borders too.
                    for (dy, dx) in PAIRS {
                        let (Some(ya), Some(xa)) =
                            (r.checked_add_signed(dy), j.checked_add_signed(dx))
                        else {
                            continue;
                        };
                        let (Some(yb), Some(xb)) =
                            (r.checked_add_signed(-dy), j.checked_add_signed(-dx))
                        else {
                            continue;
                        };
                        if ya < h && yb < h && xa < w && xb < w {
                            acc += x(ya, xa) + x(yb, xb);
                            cnt += 2;
                        }
                    }
                    if cnt > 0 {
                        *s += f64::from(x(r, j) - acc / cnt as f32);
                    }
                }
            }
            for (d, s) in row.iter_mut().zip(&sum) {
                *d = (s / n as f64) as f32;
            }
        });
        p.iter_mut().zip(&delta).for_each(|(v, d)| *v += d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth moving scene (a ramp that shifts each frame) over a fixed per-pixel pattern.
    fn frames(w: usize, h: usize, n: usize, pixel: &[f32]) -> FrameSet {
        let frames = (0..n)
            .map(|i| {
                (0..w * h)
                    .map(|k| {
                        let (x, y) = ((k % w) as f32, (k / w) as f32);
                        100.0 + 2.0 * (x + 1.5 * i as f32) + 0.5 * y + pixel[k]
                    })
                    .collect()
            })
            .collect();
        FrameSet::new(w, h, frames).unwrap()
    }

    fn rms(a: &[f32], b: &[f32]) -> f32 {
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let (ma, mb) = (mean(a), mean(b));
        let s: f32 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - ma - y + mb).powi(2))
            .sum();
        (s / a.len() as f32).sqrt()
    }

    /// `start` refined by `passes` passes.
    fn refined(set: &FrameSet, start: &[f32], passes: u32) -> Vec<f32> {
        let mut p = start.to_vec();
        refine(set, &mut p, passes).unwrap();
        p
    }

    #[test]
    fn passes_recover_a_per_pixel_pattern_under_a_moving_scene() {
        let (w, h) = (24, 16);
        // Deterministic pixel offsets of ±8 DN.
        let pixel: Vec<f32> = (0..w * h).map(|k| (k * 7919 % 17) as f32 - 8.0).collect();
        let set = frames(w, h, 8, &pixel);
        let start = vec![0.0; w * h];
        let before = rms(&start, &pixel);
        let (e1, e3) = (
            rms(&refined(&set, &start, 1), &pixel),
            rms(&refined(&set, &start, 3), &pixel),
        );
        // One pass leaves about the neighbours' mean of the error, 1/√8 of it for white offsets.
        assert!(e1 < 0.4 * before, "one pass: {e1} of {before}");
        assert!(e3 < e1, "more passes converge further: {e3} vs {e1}");
        // A linear scene has no excess over its neighbours' mean: the pattern is kept.
        assert!(rms(&refined(&set, &pixel, 2), &pixel) < 1e-3);
    }

    #[test]
    fn zero_passes_and_wrong_sizes() {
        let set = frames(8, 8, 2, &[0.0; 64]);
        let p: Vec<f32> = (0..64).map(|v| v as f32).collect();
        assert_eq!(refined(&set, &p, 0), p);
        assert!(matches!(
            refine(&set, &mut [0.0; 16], 1),
            Err(NucError::FrameLength { .. })
        ));
    }
}
