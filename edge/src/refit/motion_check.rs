//! The motion-consistency check of a network refinement. TV-DIP's large-step TV also flattens
//! large-scale scene structure that every frame shares (cold sky above, warm ground below),
//! and so can put scene into the pattern; no single frame tells the two apart. Camera motion
//! does: registered on the scene, two frames agree once the true pattern is removed from both,
//! while scene structure wrongly taken for pattern, subtracted at fixed sensor positions, makes
//! them disagree.
//!
//! [`refine_weight`] registers pairs of frames of the set (global translation, found on
//! block-mean thumbnails of the base-corrected frames, then refined at full resolution) and
//! finds the weight α ∈ [0, 1] of the network's part N = full − base that makes the registered
//! frames agree best in least squares: with a(x) = c_i(x) − c_j(x+d) for the base-corrected
//! frames c and b(x) = N(x+d) − N(x), the mismatch is ‖a + αb‖², minimal at α = −⟨a,b⟩/⟨b,b⟩.
//! Pixels where the frames disagree far beyond the rest (moving people, occlusions) are left
//! out.
//!
//! What the motion cannot see is not served either: a camera that only pans sideways never
//! shifts a profile that is constant along each row (a sky-to-ground gradient every frame
//! shares), so the network's row profile is then left out before the weight is found
//! ([`Unseen`], [`observable`]); likewise the column profile for a camera that only tilts.

use engine::nuc::{FrameSet, Pattern};

/// The least weight at which the loop keeps a network refinement: below it the registered
/// frames say the network's part is largely scene (see the module docs), and the first stage
/// is served alone.
pub const MIN_SUPPORT: f32 = 0.8;

/// A part of a pattern that the frames' motion never shifted, so no registered pair can tell
/// it from scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unseen {
    /// The camera moved along both axes: everything is observable.
    Nothing,
    /// Only sideways motion: the per-row means (a profile constant along rows).
    RowProfile,
    /// Only vertical motion: the per-column means.
    ColumnProfile,
}

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineWeight {
    /// Weight of the network's observable part, 0..=1.
    pub alpha: f32,
    /// What the motion could not check, left out of the weighed part.
    pub unseen: Unseen,
    /// Frame pairs that moved enough to be used.
    pub pairs: usize,
    /// Share of the registered mismatch the weighted part removes (0 = none).
    pub gain: f32,
}

fn area_down(img: &[f32], w: usize, h: usize, f: usize) -> (Vec<f32>, usize, usize) {
    let (tw, th) = (w / f, h / f);
    let mut out = vec![0.0f32; tw * th];
    for ty in 0..th {
        for y in ty * f..(ty + 1) * f {
            for tx in 0..tw {
                out[ty * tw + tx] += img[y * w + tx * f..y * w + tx * f + f].iter().sum::<f32>();
            }
        }
    }
    let n = (f * f) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    (out, tw, th)
}

/// Mean absolute difference of `a(x)` and `b(x + (dx, dy))` over their overlap, with the
/// overlap's share of the frame; `None` when the overlap is below `min_overlap`.
fn mad_at(
    a: &[f32],
    b: &[f32],
    (w, h): (usize, usize),
    (dx, dy): (isize, isize),
    min_overlap: f32,
    step: usize,
) -> Option<f32> {
    let (x0, x1) = ((-dx).max(0) as usize, (w as isize - dx.max(0)) as usize);
    let (y0, y1) = ((-dy).max(0) as usize, (h as isize - dy.max(0)) as usize);
    if x1 <= x0 || y1 <= y0 || ((x1 - x0) * (y1 - y0)) as f32 <= min_overlap * (w * h) as f32 {
        return None;
    }
    let (mut s, mut n) = (0.0f32, 0usize);
    for y in (y0..y1).step_by(step) {
        let (ra, rb) = (&a[y * w..], &b[((y as isize + dy) as usize) * w..]);
        for x in (x0..x1).step_by(step) {
            s += (ra[x] - rb[(x as isize + dx) as usize]).abs();
            n += 1;
        }
    }
    Some(s / n.max(1) as f32)
}

/// The scene shift from frame `a` to frame `b` (b(x + d) ≈ a(x)), searched on thumbnails
/// reduced by `f` over ±half the frame, then at full resolution around it.
fn register(a: &[f32], b: &[f32], w: usize, h: usize, f: usize) -> Option<(isize, isize)> {
    let (ta, tw, th) = area_down(a, w, h, f);
    let (tb, _, _) = area_down(b, w, h, f);
    let mut best: Option<(f32, isize, isize)> = None;
    let (rx, ry) = (tw as isize / 2, th as isize / 2);
    for dy in -ry..=ry {
        for dx in -rx..=rx {
            if let Some(m) = mad_at(&ta, &tb, (tw, th), (dx, dy), 0.35, 1)
                && best.is_none_or(|b| m < b.0)
            {
                best = Some((m, dx, dy));
            }
        }
    }
    let (_, cx, cy) = best?;
    let (cx, cy) = (cx * f as isize, cy * f as isize);
    let r = f as isize;
    let mut fine: Option<(f32, isize, isize)> = None;
    for dy in cy - r..=cy + r {
        for dx in cx - r..=cx + r {
            if let Some(m) = mad_at(a, b, (w, h), (dx, dy), 0.3, 2)
                && fine.is_none_or(|b| m < b.0)
            {
                fine = Some((m, dx, dy));
            }
        }
    }
    fine.map(|(_, dx, dy)| (dx, dy))
}

/// The weight of the network's part `full − base` that registered frames support (see the
/// module docs); `None` when fewer than half of the consecutive pairs of frames moved enough
/// to tell.
pub fn refine_weight(set: &FrameSet, base: &Pattern, full: &Pattern) -> Option<RefineWeight> {
    let (w, h) = (set.width(), set.height());
    if base.data().len() != w * h || full.data().len() != w * h || set.len() < 2 {
        return None;
    }
    let net = network_part(base, full);
    let corrected: Vec<Vec<f32>> = set
        .frames()
        .iter()
        .map(|fr| fr.iter().zip(base.data()).map(|(v, p)| v - p).collect())
        .collect();
    let f = (w / 80).max(1);
    // A shift of a few pixels hardly moves a smooth pattern: no evidence either way.
    let min_shift = (w.min(h) / 16) as isize;
    let shifts: Vec<(usize, isize, isize)> = (0..corrected.len() - 1)
        .filter_map(|i| {
            let (dx, dy) = register(&corrected[i], &corrected[i + 1], w, h, f)?;
            (dx.abs().max(dy.abs()) >= min_shift).then_some((i, dx, dy))
        })
        .collect();
    let moved_x = shifts.iter().any(|s| s.1.abs() >= min_shift);
    let moved_y = shifts.iter().any(|s| s.2.abs() >= min_shift);
    let unseen = match (moved_x, moved_y) {
        (true, false) => Unseen::RowProfile,
        (false, true) => Unseen::ColumnProfile,
        _ => Unseen::Nothing,
    };
    let net = observable(&net, w, h, unseen);
    let (mut ab, mut bb, mut aa) = (0.0f64, 0.0f64, 0.0f64);
    let mut pairs = 0;
    for &(i, dx, dy) in &shifts {
        let (ci, cj) = (&corrected[i], &corrected[i + 1]);
        let (x0, x1) = ((-dx).max(0) as usize, (w as isize - dx.max(0)) as usize);
        let (y0, y1) = ((-dy).max(0) as usize, (h as isize - dy.max(0)) as usize);
        let mut terms = Vec::with_capacity((x1 - x0) * (y1 - y0));
        for y in y0..y1 {
            let yj = (y as isize + dy) as usize;
            for x in x0..x1 {
                let xj = (x as isize + dx) as usize;
                let a = ci[y * w + x] - cj[yj * w + xj];
                let b = net[yj * w + xj] - net[y * w + x];
                terms.push((a, b));
            }
        }
        // Trim what no global shift explains (moving objects): |a| beyond 4× its median.
        let mut mags: Vec<f32> = terms.iter().map(|t| t.0.abs()).collect();
        let mid = mags.len() / 2;
        let median = *mags.select_nth_unstable_by(mid, f32::total_cmp).1;
        let cut = 4.0 * median.max(1.0);
        for &(a, b) in terms.iter().filter(|t| t.0.abs() <= cut) {
            ab += f64::from(a) * f64::from(b);
            bb += f64::from(b) * f64::from(b);
            aa += f64::from(a) * f64::from(a);
        }
        pairs += 1;
    }
    // A set that mostly stared was fitted mostly on one view, which the network can take for
    // pattern; the few pairs that moved cannot vouch for it.
    if pairs == 0 || 2 * pairs < corrected.len() - 1 || bb <= 1e-9 || aa <= 0.0 {
        return None;
    }
    let alpha = (-ab / bb).clamp(0.0, 1.0);
    let after = aa + 2.0 * alpha * ab + alpha * alpha * bb;
    Some(RefineWeight {
        alpha: alpha as f32,
        unseen,
        pairs,
        gain: (1.0 - after / aa) as f32,
    })
}

/// The network's part of a staged fit, `full − base`.
fn network_part(base: &Pattern, full: &Pattern) -> Vec<f32> {
    full.data()
        .iter()
        .zip(base.data())
        .map(|(f, b)| f - b)
        .collect()
}

/// `part` without what `unseen` names (row-major `w`×`h`).
pub fn observable(part: &[f32], w: usize, h: usize, unseen: Unseen) -> Vec<f32> {
    let mut out = part.to_vec();
    match unseen {
        Unseen::Nothing => {}
        Unseen::RowProfile => {
            for row in out.chunks_mut(w) {
                let m = row.iter().sum::<f32>() / w as f32;
                row.iter_mut().for_each(|v| *v -= m);
            }
        }
        Unseen::ColumnProfile => {
            for x in 0..w {
                let m = (0..h).map(|y| part[y * w + x]).sum::<f32>() / h as f32;
                (0..h).for_each(|y| out[y * w + x] -= m);
            }
        }
    }
    out
}

/// `base + observable(full − base)`: the pattern the check weighs.
pub fn observable_pattern(base: &Pattern, full: &Pattern, unseen: Unseen) -> Pattern {
    let (w, h) = (base.width(), base.height());
    let data = observable(&network_part(base, full), w, h, unseen)
        .iter()
        .zip(base.data())
        .map(|(p, b)| b + p)
        .collect();
    Pattern::new(w, h, data).unwrap_or_else(|_| base.clone())
}

/// `base + alpha·(full − base)`.
pub fn weighted(base: &Pattern, full: &Pattern, alpha: f32) -> Pattern {
    let data = base
        .data()
        .iter()
        .zip(full.data())
        .map(|(b, f)| b + alpha * (f - b))
        .collect();
    Pattern::new(base.width(), base.height(), data).unwrap_or_else(|_| base.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured world.
    fn world(x: usize, y: usize) -> f32 {
        let (x, y) = (x as f32, y as f32);
        1000.0
            + 300.0 * ((x * 0.21).sin() * (y * 0.17).cos())
            + 2.0 * y
            + 150.0 * ((x * 0.05 + y * 0.03).sin())
    }

    /// A smooth true pattern, frames cut from the world at shifts.
    fn setup(w: usize, h: usize) -> (FrameSet, Vec<f32>, Vec<f32>) {
        let lpn: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (
                    (i % w) as f32 / w as f32 - 0.5,
                    (i / w) as f32 / h as f32 - 0.5,
                );
                -200.0 * (x * x + y * y)
            })
            .collect();
        // Scene structure every frame shares in sensor coordinates would be a vertical
        // profile; here it is the world's 2·y ramp.
        let scene_like: Vec<f32> = (0..w * h).map(|i| 2.0 * (i / w) as f32).collect();
        let frames = [(0, 0), (23, 5), (47, 11), (70, 3), (95, 9)]
            .iter()
            .map(|&(ox, oy)| {
                (0..w * h)
                    .map(|i| world(i % w + ox, i / w + oy) + lpn[i])
                    .collect()
            })
            .collect();
        (FrameSet::new(w, h, frames).unwrap(), lpn, scene_like)
    }

    #[test]
    fn keeps_a_true_pattern_and_rejects_scene_structure() {
        let (w, h) = (160, 96);
        let (set, lpn, scene_like) = setup(w, h);
        let base = Pattern::zeros(w, h);
        let good = Pattern::new(w, h, lpn.clone()).unwrap();
        let r = refine_weight(&set, &base, &good).unwrap();
        assert!(r.alpha > 0.9 && r.pairs >= 3 && r.gain > 0.3, "{r:?}");
        let bad = Pattern::new(w, h, scene_like.iter().map(|v| 3.0 * v).collect()).unwrap();
        let r = refine_weight(&set, &base, &bad).unwrap();
        assert!(r.alpha < 0.1, "{r:?}");
        // Half of each: the weight lands between.
        let mixed = Pattern::new(
            w,
            h,
            lpn.iter().zip(&scene_like).map(|(l, s)| l + s).collect(),
        )
        .unwrap();
        let r = refine_weight(&set, &base, &mixed).unwrap();
        assert!(r.alpha > 0.2 && r.alpha < 0.95, "{r:?}");
        let p = weighted(&base, &good, 0.5);
        assert!((p.data()[0] - 0.5 * good.data()[0]).abs() < 1e-3);
        // No motion: no evidence.
        let still = FrameSet::new(w, h, vec![set.frame(0).to_vec(); 3]).unwrap();
        assert!(refine_weight(&still, &base, &good).is_none());
        // Mostly a stare (one pair of four moved): no evidence either.
        let mut stare = vec![set.frame(0).to_vec(); 4];
        stare.push(set.frame(2).to_vec());
        let stare = FrameSet::new(w, h, stare).unwrap();
        assert!(refine_weight(&stare, &base, &good).is_none());
    }

    /// A camera that only pans sideways: a row profile in the network's part (the scene's
    /// sky-to-ground gradient taken for pattern) is invisible to every registered pair, so it
    /// is left out, and the rest of a true pattern is weighed as a true pattern.
    #[test]
    fn a_sideways_pan_leaves_the_row_profile_out() {
        let (w, h) = (160, 96);
        let (set, lpn, scene_like) = setup(w, h);
        // The same world at sideways shifts only.
        let pan: Vec<Vec<f32>> = [0usize, 23, 47, 70, 95]
            .iter()
            .map(|&ox| {
                (0..w * h)
                    .map(|i| world(i % w + ox, i / w) + lpn[i])
                    .collect()
            })
            .collect();
        let pan = FrameSet::new(w, h, pan).unwrap();
        let base = Pattern::zeros(w, h);
        let mixed = Pattern::new(
            w,
            h,
            lpn.iter()
                .zip(&scene_like)
                .map(|(l, s)| l + 3.0 * s)
                .collect(),
        )
        .unwrap();
        let r = refine_weight(&pan, &base, &mixed).unwrap();
        assert_eq!(r.unseen, Unseen::RowProfile, "{r:?}");
        assert!(r.alpha > 0.9 && r.gain > 0.3, "{r:?}");
        let seen = observable_pattern(&base, &mixed, r.unseen);
        let want = observable(&lpn, w, h, Unseen::RowProfile);
        let err = seen
            .data()
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err < 1e-2,
            "the row profile is left, the rest kept: max error {err}"
        );
        // Moving along both axes (the setup's frames), nothing is left out.
        assert_eq!(
            refine_weight(&set, &base, &mixed).unwrap().unseen,
            Unseen::Nothing
        );
    }
}
