//! Roughness ρ of a 16-bit frame (reference §10: `(‖h∗I‖₁ + ‖hᵀ∗I‖₁) / ‖I‖₁`, h = [1, −1],
//! entry-wise L1, valid differences), computed straight on the raw words so the capture loop
//! can track it without converting frames to float. It matches `nuc::metrics`' definition.

/// Roughness of a row-major `width × height` frame; 0 for an all-zero frame.
pub fn roughness_u16(data: &[u16], width: usize, height: usize) -> f32 {
    if width < 2 || height < 2 || data.len() != width * height {
        return 0.0;
    }
    let mut diff: u64 = 0;
    let mut total: u64 = 0;
    for y in 0..height {
        let row = &data[y * width..(y + 1) * width];
        total += row.iter().map(|&v| u64::from(v)).sum::<u64>();
        diff += row
            .windows(2)
            .map(|p| u64::from(p[0].abs_diff(p[1])))
            .sum::<u64>();
        if y + 1 < height {
            let next = &data[(y + 1) * width..(y + 2) * width];
            diff += row
                .iter()
                .zip(next)
                .map(|(&a, &b)| u64::from(a.abs_diff(b)))
                .sum::<u64>();
        }
    }
    if total == 0 {
        0.0
    } else {
        (diff as f64 / total as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_is_zero_and_stripes_are_rough() {
        assert_eq!(roughness_u16(&[5; 12], 4, 3), 0.0);
        // Columns 0,10,0,10: horizontal diffs 3 per row × 3 rows × 10 = 90; sum = 60.
        let d = [0u16, 10, 0, 10, 0, 10, 0, 10, 0, 10, 0, 10];
        assert!((roughness_u16(&d, 4, 3) - 1.5).abs() < 1e-6);
    }
}
