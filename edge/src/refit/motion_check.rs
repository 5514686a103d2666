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
//! The network's part is weighed in three components, each with its own weight (joint least
//! squares): its row profile (the per-row means: a sky-to-ground gradient every frame shares),
//! its column profile, and the rest. What the camera's motion never shifted is not served: a
//! camera that only pans sideways never changes a row profile, so that component gets no
//! weight ([`Unseen`]); each component is served only where its weight reaches
//! [`MIN_SUPPORT`] ([`supported`]).

use engine::nuc::{FrameSet, Pattern};

/// The least weight at which the loop keeps a network refinement: below it the registered
/// frames say the network's part is largely scene (see the module docs), and the first stage
/// is served alone.
pub const MIN_SUPPORT: f32 = 0.8;

/// A component whose registered shifts change it by less than this share of its energy is
/// unseen (a profile along the motion is not changed at all).
const MIN_SEEN: f64 = 0.01;

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
    /// Weight of the network's part as a whole, 0..=1: its components' weights averaged by
    /// their energy (unseen ones count as 0).
    pub alpha: f32,
    /// Weight of the part without its row and column profiles.
    pub rest: f32,
    /// Weight of its row profile (0 when unseen).
    pub rows: f32,
    /// Weight of its column profile (0 when unseen).
    pub columns: f32,
    /// Which profile the motion could not check.
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
    // The network's part in three components, each weighed on its own: its row profile (a
    // sky-to-ground gradient the network may have taken from the scene), its column profile,
    // and the rest. A component the registered shifts hardly move is unseen and gets no weight.
    let parts = components(&net, w, h);
    // Normal equations of min ‖a + Σ α_c b_c‖²: bb[c][d] = Σ b_c b_d, ab[c] = Σ a b_c, and
    // each component's own energy over the same pixels, for its observability.
    let mut bb = [[0.0f64; 3]; 3];
    let mut ab = [0.0f64; 3];
    let mut energy = [0.0f64; 3];
    let mut aa = 0.0f64;
    let mut pairs = 0;
    for &(i, dx, dy) in &shifts {
        let (ci, cj) = (&corrected[i], &corrected[i + 1]);
        let (x0, x1) = ((-dx).max(0) as usize, (w as isize - dx.max(0)) as usize);
        let (y0, y1) = ((-dy).max(0) as usize, (h as isize - dy.max(0)) as usize);
        let mut terms = Vec::with_capacity((x1 - x0) * (y1 - y0));
        for y in y0..y1 {
            let yj = (y as isize + dy) as usize;
            for x in x0..x1 {
                let (p, q) = (y * w + x, yj * w + (x as isize + dx) as usize);
                terms.push((ci[p] - cj[q], p, q));
            }
        }
        // Trim what no global shift explains (moving objects): |a| beyond 4× its median.
        let mut mags: Vec<f32> = terms.iter().map(|t| t.0.abs()).collect();
        let mid = mags.len() / 2;
        let median = *mags.select_nth_unstable_by(mid, f32::total_cmp).1;
        let cut = 4.0 * median.max(1.0);
        for &(a, p, q) in terms.iter().filter(|t| t.0.abs() <= cut) {
            let b = [0, 1, 2].map(|c| f64::from(parts[c][q] - parts[c][p]));
            let a = f64::from(a);
            aa += a * a;
            for c in 0..3 {
                ab[c] += a * b[c];
                energy[c] += f64::from(parts[c][p]).powi(2) + f64::from(parts[c][q]).powi(2);
                for d in 0..3 {
                    bb[c][d] += b[c] * b[d];
                }
            }
        }
        pairs += 1;
    }
    // A set that mostly stared was fitted mostly on one view, which the network can take for
    // pattern; the few pairs that moved cannot vouch for it.
    if pairs == 0 || 2 * pairs < corrected.len() - 1 || aa <= 0.0 {
        return None;
    }
    // A component is seen when the shifts change it by a fair share of its own size (a
    // profile along the motion is not changed at all) and it has energy to serve (a separable
    // pattern has no rest, whose weight would be noise).
    let total: f64 = energy.iter().sum();
    let seen = |c: usize| energy[c] > 1e-4 * total && bb[c][c] >= MIN_SEEN * energy[c];
    let active: Vec<usize> = (0..3).filter(|&c| seen(c)).collect();
    if active.is_empty() {
        return None;
    }
    let solved = solve(&active, &bb, &ab);
    let mut weights = [0.0f64; 3];
    for (k, &c) in active.iter().enumerate() {
        weights[c] = solved[k].clamp(0.0, 1.0);
    }
    let mut after = aa;
    for c in 0..3 {
        after += 2.0 * weights[c] * ab[c];
        for d in 0..3 {
            after += weights[c] * weights[d] * bb[c][d];
        }
    }
    let unseen = match (seen(0), seen(1)) {
        (false, true) => Unseen::RowProfile,
        (true, false) => Unseen::ColumnProfile,
        _ => Unseen::Nothing,
    };
    let overall = (0..3).map(|c| weights[c] * energy[c]).sum::<f64>() / total.max(1e-30);
    Some(RefineWeight {
        alpha: overall as f32,
        rest: weights[2] as f32,
        rows: weights[0] as f32,
        columns: weights[1] as f32,
        unseen,
        pairs,
        gain: (1.0 - after / aa) as f32,
    })
}

/// The least-squares weights of the `active` components (normal equations `bb`, `ab`), by
/// Gaussian elimination with a tiny ridge so nearly dependent components stay finite.
fn solve(active: &[usize], bb: &[[f64; 3]; 3], ab: &[f64; 3]) -> Vec<f64> {
    let n = active.len();
    let mut m: Vec<Vec<f64>> = active
        .iter()
        .map(|&c| {
            let mut row: Vec<f64> = active.iter().map(|&d| bb[c][d]).collect();
            row.push(-ab[c]);
            row
        })
        .collect();
    for (k, row) in m.iter_mut().enumerate() {
        row[k] *= 1.0 + 1e-9;
        row[k] += 1e-12;
    }
    for k in 0..n {
        let piv = m[k][k];
        for r in k + 1..n {
            let f = m[r][k] / piv;
            let (top, below) = m.split_at_mut(r);
            for (x, y) in below[0][k..].iter_mut().zip(&top[k][k..]) {
                *x -= f * y;
            }
        }
    }
    let mut x = vec![0.0f64; n];
    for k in (0..n).rev() {
        let s: f64 = (k + 1..n).map(|c| m[k][c] * x[c]).sum();
        x[k] = (m[k][n] - s) / m[k][k];
    }
    x
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

/// The profile `observable` removes: `part − observable(part)`.
fn profile(part: &[f32], w: usize, h: usize, which: Unseen) -> Vec<f32> {
    part.iter()
        .zip(observable(part, w, h, which))
        .map(|(p, o)| p - o)
        .collect()
}

/// The network's part as its row profile (per-row means once the column profile is out),
/// column profile (per-column means) and the rest; they sum to `net`.
fn components(net: &[f32], w: usize, h: usize) -> [Vec<f32>; 3] {
    let cols = profile(net, w, h, Unseen::ColumnProfile);
    let rows = profile(
        &observable(net, w, h, Unseen::ColumnProfile),
        w,
        h,
        Unseen::RowProfile,
    );
    let rest = (0..net.len()).map(|i| net[i] - rows[i] - cols[i]).collect();
    [rows, cols, rest]
}

/// `base` plus each component of the network's part (row profile, column profile, rest) at
/// its weight, where that weight reaches [`MIN_SUPPORT`]: the pattern the frames support.
pub fn supported(base: &Pattern, full: &Pattern, check: &RefineWeight) -> Pattern {
    let (w, h) = (base.width(), base.height());
    let [rows, cols, rest] = components(&network_part(base, full), w, h);
    let gate = |a: f32| if a >= MIN_SUPPORT { a } else { 0.0 };
    let (ar, ac, ao) = (gate(check.rows), gate(check.columns), gate(check.rest));
    let data = (0..w * h)
        .map(|i| base.data()[i] + ar * rows[i] + ac * cols[i] + ao * rest[i])
        .collect();
    Pattern::new(w, h, data).unwrap_or_else(|_| base.clone())
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
        // Served: the good pattern whole, none of the scene structure.
        let served = supported(&base, &good, &refine_weight(&set, &base, &good).unwrap());
        let err = served
            .data()
            .iter()
            .zip(good.data())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err < 0.1 * good.data().iter().fold(0.0f32, |m, v| m.max(v.abs())),
            "{err}"
        );
        let served = supported(&base, &bad, &refine_weight(&set, &base, &bad).unwrap());
        assert!(
            served.data().iter().all(|v| v.abs() < 1e-3),
            "scene structure served"
        );
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
        assert!(r.rows == 0.0 && r.columns > 0.9 && r.gain > 0.3, "{r:?}");
        let served = supported(&base, &mixed, &r);
        // The true pattern without its row profile, zero-mean as a served pattern is.
        let want = observable(&lpn, w, h, Unseen::RowProfile);
        let mean = want.iter().sum::<f32>() / want.len() as f32;
        let peak = want.iter().fold(0.0f32, |m, v| m.max((v - mean).abs()));
        let err = served
            .data()
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - (b - mean)).abs())
            .fold(0.0f32, f32::max);
        assert!(
            err < 0.1 * peak,
            "the row profile is left, the rest kept: max error {err} of {peak}"
        );
        // Moving along both axes (the setup's frames), nothing is left out.
        assert_eq!(
            refine_weight(&set, &base, &mixed).unwrap().unseen,
            Unseen::Nothing
        );
    }

    #[test]
    fn solves_the_normal_equations_of_the_active_components() {
        let bb = [[2.0, 1.0, 9.0], [1.0, 3.0, 9.0], [9.0, 9.0, 9.0]];
        let ab = [-3.0, -5.0, 7.0];
        let x = solve(&[0, 1], &bb, &ab);
        assert!(
            (x[0] - 0.8).abs() < 1e-6 && (x[1] - 1.4).abs() < 1e-6,
            "{x:?}"
        );
        let x = solve(&[2], &bb, &ab);
        assert!((x[0] + 7.0 / 9.0).abs() < 1e-6, "{x:?}");
    }
}
