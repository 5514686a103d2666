//! False-colour rendering for previews: the perceptually uniform *inferno* colormap (black →
//! purple → orange → pale yellow, as thermal viewers use), with robust percentile scaling.

/// Inferno sampled at t = 0, 0.1, …, 1 (matplotlib's values, rounded); linear in between.
const INFERNO: [[u8; 3]; 11] = [
    [0, 0, 4],
    [22, 11, 57],
    [66, 10, 104],
    [106, 23, 110],
    [147, 38, 103],
    [188, 55, 84],
    [221, 81, 58],
    [243, 120, 25],
    [252, 165, 10],
    [246, 215, 70],
    [252, 255, 164],
];

/// The colour of `t` in [0, 1] (clamped; NaN is black).
pub fn inferno(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (INFERNO.len() - 1) as f32;
    let i = (x.floor() as usize).min(INFERNO.len() - 2);
    let f = x - i as f32;
    let (a, b) = (INFERNO[i], INFERNO[i + 1]);
    [0, 1, 2].map(|k| (f32::from(a[k]) + f * (f32::from(b[k]) - f32::from(a[k]))).round() as u8)
}

/// The `lo` and `hi` percentiles (0–100) of `values`, ignoring NaN.
pub fn percentiles(values: &[f32], lo: f32, hi: f32) -> (f32, f32) {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_unstable_by(f32::total_cmp);
    let at = |p: f32| v[((p / 100.0) * (v.len() - 1) as f32).round() as usize];
    (at(lo), at(hi))
}

/// Renders `values` (row-major) as RGB8 with inferno, scaled between the 0.5th and 99.5th
/// percentiles so a few hot or dead pixels do not wash out the picture.
pub fn render(values: &[f32]) -> Vec<u8> {
    let (lo, hi) = percentiles(values, 0.5, 99.5);
    render_range(values, lo, hi)
}

/// Renders `values` with inferno between `lo` (black) and `hi` (pale yellow).
pub fn render_range(values: &[f32], lo: f32, hi: f32) -> Vec<u8> {
    let span = if hi > lo { hi - lo } else { 1.0 };
    values
        .iter()
        .flat_map(|&v| inferno((v - lo) / span))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_monotone_brightness() {
        assert_eq!(inferno(0.0), [0, 0, 4]);
        assert_eq!(inferno(1.0), [252, 255, 164]);
        assert_eq!(inferno(f32::NAN), [0, 0, 4]);
        let lum =
            |c: [u8; 3]| 0.3 * f32::from(c[0]) + 0.59 * f32::from(c[1]) + 0.11 * f32::from(c[2]);
        let mut last = -1.0;
        for i in 0..=100 {
            let l = lum(inferno(i as f32 / 100.0));
            assert!(l >= last - 0.5, "brightness falls at {i}");
            last = l;
        }
    }

    #[test]
    fn percentile_scaling_ignores_outliers() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        v[0] = -1e9;
        v[999] = 1e9;
        let (lo, hi) = percentiles(&v, 0.5, 99.5);
        assert!(lo > 0.0 && hi < 1000.0, "{lo} {hi}");
    }
}
