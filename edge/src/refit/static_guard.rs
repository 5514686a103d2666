//! The static-scene guard. A multi-frame fit can only tell scene from pattern where the scene
//! moved across the sensor between the frames it is given; where it did not, the scene is
//! indistinguishable from a fixed pattern and burns into it (a ghost of the building the
//! camera stared at, left in every later frame). So a fit starts only when the frame set's
//! scene moved over most of the frame: [`moving_fraction`] is the share of thumbnail blocks
//! whose value ranges over more than `min_dn` across the set.

/// Share (0..=1) of thumbnail blocks whose range over `thumbs` exceeds `min_dn`; 0 for fewer
/// than two thumbnails.
pub fn moving_fraction<'a>(thumbs: impl IntoIterator<Item = &'a [f32]>, min_dn: f32) -> f32 {
    let mut lo: Vec<f32> = Vec::new();
    let mut hi: Vec<f32> = Vec::new();
    let mut count = 0usize;
    for t in thumbs {
        if count == 0 {
            lo = t.to_vec();
            hi = t.to_vec();
        } else if t.len() == lo.len() {
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(t) {
                *l = l.min(v);
                *h = h.max(v);
            }
        } else {
            return 0.0;
        }
        count += 1;
    }
    if count < 2 || lo.is_empty() {
        return 0.0;
    }
    let moved = lo.iter().zip(&hi).filter(|(l, h)| *h - *l > min_dn).count();
    moved as f32 / lo.len() as f32
}

/// Whether a fit may start on a set whose scene moved over `moving` of the frame.
pub fn may_fit(moving: f32, min_moving_fraction: f32) -> bool {
    min_moving_fraction <= 0.0 || moving >= min_moving_fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_moving_object_is_not_enough_but_a_pan_is() {
        // 10×10 blocks of a static scene; an object moves over 6 of them.
        let still = vec![100.0f32; 100];
        let mut walker = still.clone();
        for v in &mut walker[40..46] {
            *v = 400.0;
        }
        let m = moving_fraction([still.as_slice(), walker.as_slice()], 8.0);
        assert!((m - 0.06).abs() < 1e-6, "{m}");
        assert!(!may_fit(m, 0.5));
        // A pan shifts the whole (textured) scene.
        let scene: Vec<f32> = (0..100).map(|i| ((i * 37) % 17) as f32 * 20.0).collect();
        let panned: Vec<f32> = (0..100).map(|i| scene[(i + 1) % 100]).collect();
        let m = moving_fraction([scene.as_slice(), panned.as_slice()], 8.0);
        assert!(m > 0.8, "{m}");
        assert!(may_fit(m, 0.5));
        assert!(may_fit(0.0, 0.0), "0 = no guard");
        assert_eq!(moving_fraction([scene.as_slice()], 8.0), 0.0);
    }
}
