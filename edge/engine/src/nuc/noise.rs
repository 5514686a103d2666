//! The reference noise generator (`create_noisy_data.py`, reference §4): FPN = per-column
//! U[0, σ_strip) + per-pixel U[0, σ_white), fixed for all frames; LPN = a smooth template
//! resized with OpenCV INTER_AREA semantics, `/256·s`; noisy = (0.7·clean + n) / max, quantised
//! by truncation to 8 bits (as the reference) or to 14/16 bits for radiometric tests.

use rand::Rng;

/// Per-pixel + per-column uniform FPN (both terms non-negative, as the reference).
pub fn fpn_pattern(
    rng: &mut impl Rng,
    w: usize,
    h: usize,
    sigma_white: f32,
    sigma_strip: f32,
) -> Vec<f32> {
    let white: Vec<f32> = (0..w * h)
        .map(|_| rng.r#gen::<f32>() * sigma_white)
        .collect();
    let strip: Vec<f32> = (0..w).map(|_| rng.r#gen::<f32>() * sigma_strip).collect();
    white
        .iter()
        .enumerate()
        .map(|(i, v)| v + strip[i % w])
        .collect()
}

/// LPN from an 8-bit template: resized to `w`×`h` (INTER_AREA, rounded to u8 as OpenCV
/// returns), then `/256·strength`.
pub fn lpn_pattern(
    template: &[u8],
    tw: usize,
    th: usize,
    w: usize,
    h: usize,
    strength: f32,
) -> Vec<f32> {
    resize_area_u8(template, tw, th, w, h)
        .iter()
        .map(|&v| f32::from(v) / 256.0 * strength)
        .collect()
}

/// OpenCV `resize(..., INTER_AREA)` for 8-bit grey when shrinking (each output pixel is the
/// coverage-weighted mean of the source pixels it overlaps, rounded); identity at equal size;
/// bilinear (`align_corners = false`, rounded) when enlarging.
pub fn resize_area_u8(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if sw == dw && sh == dh {
        return src.to_vec();
    }
    if dw > sw || dh > sh {
        return resize_bilinear_u8(src, sw, sh, dw, dh);
    }
    let (sx, sy) = (sw as f64 / dw as f64, sh as f64 / dh as f64);
    let weights = |n_dst: usize, scale: f64, n_src: usize| -> Vec<Vec<(usize, f64)>> {
        (0..n_dst)
            .map(|d| {
                let (a, b) = (d as f64 * scale, (d as f64 + 1.0) * scale);
                let mut v = Vec::new();
                let mut s = a.floor() as usize;
                while (s as f64) < b && s < n_src {
                    let cov = (b.min(s as f64 + 1.0) - a.max(s as f64)).max(0.0);
                    if cov > 1e-12 {
                        v.push((s, cov / scale));
                    }
                    s += 1;
                }
                v
            })
            .collect()
    };
    let (wx, wy) = (weights(dw, sx, sw), weights(dh, sy, sh));
    let mut out = vec![0u8; dw * dh];
    for (oy, ry) in wy.iter().enumerate() {
        for (ox, rx) in wx.iter().enumerate() {
            let mut acc = 0.0f64;
            for &(y, wyv) in ry {
                for &(x, wxv) in rx {
                    acc += f64::from(src[y * sw + x]) * wxv * wyv;
                }
            }
            out[oy * dw + ox] = acc.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn resize_bilinear_u8(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let coord = |d: usize, scale: f64, n: usize| {
        let s = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, s - i0 as f64)
    };
    let (sx, sy) = (sw as f64 / dw as f64, sh as f64 / dh as f64);
    let mut out = vec![0u8; dw * dh];
    for oy in 0..dh {
        let (y0, y1, fy) = coord(oy, sy, sh);
        for ox in 0..dw {
            let (x0, x1, fx) = coord(ox, sx, sw);
            let p = |y: usize, x: usize| f64::from(src[y * sw + x]);
            let v = (1.0 - fy) * ((1.0 - fx) * p(y0, x0) + fx * p(y0, x1))
                + fy * ((1.0 - fx) * p(y1, x0) + fx * p(y1, x1));
            out[oy * dw + ox] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// `(clean/255·0.7 + noise) / max(…)` in f32, in the reference's operation order.
pub fn noisy_unit(clean: &[u8], noise: &[f32]) -> Vec<f32> {
    let v: Vec<f32> = clean
        .iter()
        .zip(noise)
        .map(|(&c, &n)| f32::from(c) / 255.0 * 0.7 + n)
        .collect();
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    v.iter().map(|x| x / max).collect()
}

/// The reference's 8-bit output: `(unit · 255)` truncated.
pub fn noisy_u8(clean: &[u8], noise: &[f32]) -> Vec<u8> {
    noisy_unit(clean, noise)
        .iter()
        .map(|x| (x * 255.0) as u8)
        .collect()
}

/// The same at `bits` (e.g. 14 or 16) per sample: `(unit · (2^bits − 1))` truncated.
pub fn noisy_bits(clean: &[u8], noise: &[f32], bits: u32) -> Vec<u16> {
    let full = ((1u32 << bits.clamp(1, 16)) - 1) as f32;
    noisy_unit(clean, noise)
        .iter()
        .map(|x| (x * full) as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fpn_ranges_and_column_structure() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (w, h) = (64, 48);
        let p = fpn_pattern(&mut rng, w, h, 0.1, 0.15);
        assert!(p.iter().all(|v| (0.0..0.25).contains(v)));
        // Column means differ far more than the per-pixel noise averages out to.
        let col: Vec<f32> = (0..w)
            .map(|x| (0..h).map(|y| p[y * w + x]).sum::<f32>() / h as f32)
            .collect();
        let spread =
            col.iter().copied().fold(0.0, f32::max) - col.iter().copied().fold(1.0, f32::min);
        assert!(spread > 0.1, "{spread}");
    }

    #[test]
    fn area_resize_of_blocks_is_the_block_mean() {
        let src: Vec<u8> = (0..16).map(|i| (i * 10) as u8).collect(); // 4×4
        let out = resize_area_u8(&src, 4, 4, 2, 2);
        // Top-left block 0,10,40,50 → 25.
        assert_eq!(out, vec![25, 45, 105, 125]);
        // Non-integer 3→2: output 0 covers src 0 (1.0) and src 1 (0.5), /1.5.
        let row = resize_area_u8(&[0, 30, 90], 3, 1, 2, 1);
        assert_eq!(row, vec![10, 70]);
    }

    #[test]
    fn quantisation_follows_the_reference() {
        let clean = [0u8, 255, 128];
        let noise = [0.0f32, 0.3, 0.1];
        // Max is 0.7 + 0.3 = 1.0.
        assert_eq!(
            noisy_u8(&clean, &noise),
            vec![0, 255, ((128.0f32 / 255.0 * 0.7 + 0.1) * 255.0) as u8]
        );
        assert_eq!(noisy_bits(&clean, &noise, 14)[1], 16383);
    }
}
