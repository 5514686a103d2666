//! Synthetic frame sets with known column offsets for the unit tests.

use rand::{Rng, SeedableRng};

use super::FrameSet;

/// Per-column offsets U[0, amplitude).
pub fn column_offsets(w: usize, amplitude: f32, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..w).map(|_| rng.gen_range(0.0..amplitude)).collect()
}

/// `n` frames of a smooth scene (shading plus a bright disc) that moves between frames, plus
/// the column offsets, around 1000 DN.
pub fn smooth_scene_frames(w: usize, h: usize, n: usize, offsets: &[f32], seed: u64) -> FrameSet {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let frames = (0..n)
        .map(|_| {
            let (cx, cy) = (rng.gen_range(0.0..w as f32), rng.gen_range(0.0..h as f32));
            let phase: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            let rad = 0.2 * w.min(h) as f32;
            (0..h * w)
                .map(|i| {
                    let (y, x) = ((i / w) as f32, (i % w) as f32);
                    let shade = 40.0 * ((x / w as f32) * 3.0 + phase).sin() + 30.0 * (y / h as f32);
                    let disc = if (x - cx).powi(2) + (y - cy).powi(2) < rad * rad {
                        150.0
                    } else {
                        0.0
                    };
                    1000.0 + shade + disc + offsets[i % w]
                })
                .collect()
        })
        .collect();
    FrameSet::new(w, h, frames).unwrap()
}

/// RMS error of an estimated column pattern against true offsets, up to the constant that a
/// zero-mean pattern cannot carry (the offsets' mean).
pub fn offset_rms_error(got: &[f32], offsets: &[f32]) -> f32 {
    let mean_o = offsets.iter().sum::<f32>() / offsets.len() as f32;
    (got.iter()
        .zip(offsets)
        .map(|(g, o)| (g - (o - mean_o)).powi(2))
        .sum::<f32>()
        / offsets.len() as f32)
        .sqrt()
}

/// Pearson correlation.
pub fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// `n` frames of a piecewise-constant scene (three discs of random brightness moving over a
/// flat background, TV's ideal case) plus the column offsets.
pub fn piecewise_scene_frames(
    w: usize,
    h: usize,
    n: usize,
    offsets: &[f32],
    seed: u64,
) -> FrameSet {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let frames = (0..n)
        .map(|_| {
            let discs: Vec<(f32, f32, f32, f32)> = (0..3)
                .map(|_| {
                    (
                        rng.gen_range(0.0..w as f32),
                        rng.gen_range(0.0..h as f32),
                        rng.gen_range(4.0..0.25 * w.min(h) as f32),
                        rng.gen_range(-300.0..300.0),
                    )
                })
                .collect();
            (0..h * w)
                .map(|i| {
                    let (y, x) = ((i / w) as f32, (i % w) as f32);
                    let scene: f32 = discs
                        .iter()
                        .filter(|(cx, cy, r, _)| (x - cx).powi(2) + (y - cy).powi(2) < r * r)
                        .map(|d| d.3)
                        .sum();
                    1000.0 + scene + offsets[i % w]
                })
                .collect()
        })
        .collect();
    FrameSet::new(w, h, frames).unwrap()
}
