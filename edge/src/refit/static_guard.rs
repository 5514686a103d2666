//! The static-scene guard. A multi-frame fit can only tell scene from pattern where the scene
//! moved across the sensor between the frames it is given; where it did not, the scene is
//! indistinguishable from a fixed pattern and burns into it (a ghost of the building the
//! camera stared at, left in every later frame). So a fit starts only when the frame set's
//! scene kept moving over most of the frame: [`moving_fraction`] is, for the typical pair of
//! consecutive frames (the median pair), the share of thumbnail blocks whose change differs
//! by more than `min_dn` from the change of the block to their left.
//! - The median, not the range over the whole set: a set that stared but for one panned frame
//!   has every block's range high, yet most of its frames show one view.
//! - The change's difference between neighbours, not the change: an uncooled core's drifting
//!   pattern and a gain step change every block of a stare by a smooth amount, which is no
//!   motion; a shifted textured scene changes neighbouring blocks differently.

/// The median over consecutive pairs of `thumbs` (row-major, `width` blocks a row) of the
/// share (0..=1) of blocks whose change differs from their left neighbour's by more than
/// `min_dn`; 0 for fewer than two thumbnails, unequal sizes or rows of one block.
pub fn moving_fraction<'a>(
    thumbs: impl IntoIterator<Item = &'a [f32]>,
    width: usize,
    min_dn: f32,
) -> f32 {
    if width < 2 {
        return 0.0;
    }
    let mut shares: Vec<f32> = Vec::new();
    let mut prev: Option<&[f32]> = None;
    for t in thumbs {
        if let Some(p) = prev {
            if p.len() != t.len() || t.is_empty() || !t.len().is_multiple_of(width) {
                return 0.0;
            }
            let change: Vec<f32> = p.iter().zip(t).map(|(a, b)| b - a).collect();
            let (mut moved, mut blocks) = (0usize, 0usize);
            for row in change.chunks(width) {
                for pair in row.windows(2) {
                    blocks += 1;
                    if (pair[1] - pair[0]).abs() > min_dn {
                        moved += 1;
                    }
                }
            }
            shares.push(moved as f32 / blocks.max(1) as f32);
        }
        prev = Some(t);
    }
    if shares.is_empty() {
        return 0.0;
    }
    shares.sort_by(f32::total_cmp);
    // The lower median: half of the pairs moved at least this much.
    shares[(shares.len() - 1) / 2]
}

/// Whether a fit may start on a set whose scene moved over `moving` of the frame.
pub fn may_fit(moving: f32, min_moving_fraction: f32) -> bool {
    min_moving_fraction <= 0.0 || moving >= min_moving_fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10×10 blocks of an irregular texture.
    fn textured() -> Vec<f32> {
        (0..100)
            .map(|i| ((i * i * 31 + 7 * i) % 29) as f32 * 15.0)
            .collect()
    }

    #[test]
    fn a_small_moving_object_is_not_enough_but_a_pan_is() {
        // 10×10 blocks of a static scene; an object moves over 6 of them.
        let still = vec![100.0f32; 100];
        let mut walker = still.clone();
        for v in &mut walker[40..46] {
            *v = 400.0;
        }
        let m = moving_fraction([still.as_slice(), walker.as_slice()], 10, 8.0);
        // Only its right edge changes differently from its neighbour (its left edge is the
        // row's first block): 1 of 90 neighbour pairs.
        assert!((m - 1.0 / 90.0).abs() < 1e-6, "{m}");
        assert!(!may_fit(m, 0.5));
        // The pattern drifting under a stare: every block changes, smoothly (40 DN plus a
        // ramp of 3 DN a block): no motion.
        let drifted: Vec<f32> = (0..100)
            .map(|i| 100.0 + 40.0 + 3.0 * (i % 10) as f32)
            .collect();
        assert_eq!(
            moving_fraction([still.as_slice(), drifted.as_slice()], 10, 8.0),
            0.0
        );
        // A pan shifts the whole (textured) scene.
        let scene = textured();
        let panned: Vec<f32> = (0..100).map(|i| scene[(i + 1) % 100]).collect();
        let m = moving_fraction([scene.as_slice(), panned.as_slice()], 10, 8.0);
        assert!(m > 0.8, "{m}");
        assert!(may_fit(m, 0.5));
        assert!(may_fit(0.0, 0.0), "0 = no guard");
        assert_eq!(moving_fraction([scene.as_slice()], 10, 8.0), 0.0);
    }

    #[test]
    fn a_stare_with_one_panned_frame_is_static() {
        let scene = textured();
        let panned: Vec<f32> = (0..100).map(|i| scene[(i + 3) % 100]).collect();
        // Six frames of one view, then one of another: every block's range is large.
        let mut set = vec![scene.as_slice(); 6];
        set.push(panned.as_slice());
        let m = moving_fraction(set.iter().copied(), 10, 8.0);
        assert_eq!(m, 0.0);
        assert!(!may_fit(m, 0.5));
        // A pan: every consecutive pair moved.
        let views: Vec<Vec<f32>> = (0..6)
            .map(|k| (0..100).map(|i| scene[(i + 3 * k) % 100]).collect())
            .collect();
        let m = moving_fraction(views.iter().map(Vec::as_slice), 10, 8.0);
        assert!(m > 0.8, "{m}");
    }
}
