//! A box blur for smooth parts of patterns: the motion check's carried shading and the drift
//! bench's low-frequency error.

/// Separable mean of a `w`×`h` image over a (2r + 1)² window, cut at the edges (running
/// sums: the cost does not grow with `r`).
pub fn box_blur(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let pass = |src: &[f32], len: usize, lines: usize, at: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![0.0f32; src.len()];
        let mut prefix = vec![0.0f64; len + 1];
        for line in 0..lines {
            for k in 0..len {
                prefix[k + 1] = prefix[k] + f64::from(src[at(line, k)]);
            }
            for k in 0..len {
                let (lo, hi) = (k.saturating_sub(r), (k + r + 1).min(len));
                out[at(line, k)] = ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32;
            }
        }
        out
    };
    let rows = pass(v, w, h, &|line, k| line * w + k);
    pass(&rows, h, w, &|line, k| k * w + line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_level_and_spreads_a_spike_evenly() {
        let (w, h) = (13, 11);
        let flat = vec![3.0f32; w * h];
        assert!(
            box_blur(&flat, w, h, 2)
                .iter()
                .all(|v| (v - 3.0).abs() < 1e-6)
        );
        let mut spike = vec![0.0f32; w * h];
        spike[5 * w + 6] = 25.0;
        let out = box_blur(&spike, w, h, 2);
        for y in 0..h {
            for x in 0..w {
                let inside = x.abs_diff(6) <= 2 && y.abs_diff(5) <= 2;
                let want = if inside { 1.0 } else { 0.0 };
                assert!(
                    (out[y * w + x] - want).abs() < 1e-6,
                    "({x}, {y}): {}",
                    out[y * w + x]
                );
            }
        }
        // At an edge the window is cut: the mean of what is there.
        let ramp: Vec<f32> = (0..w).map(|x| x as f32).collect();
        let out = box_blur(&ramp, w, 1, 1);
        assert!((out[0] - 0.5).abs() < 1e-6 && (out[4] - 4.0).abs() < 1e-6);
    }
}
