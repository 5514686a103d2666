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
//! weight ([`Unseen`]); each component is served at its weight ([`supported`]).
//!
//! The pairs' estimates are only as good as the scene is still between frames. Where it
//! changes on its own (people walking, a replayed sequence) they scatter widely (±0.5 and more
//! on the drift bench's human scene, against ±0.05 on the city's), and a point estimate would
//! drop a good refinement at random. Each weight is therefore shrunk towards the network's own
//! answer (1) by its standard error, measured by the jackknife over the pairs: precise
//! evidence against a component (the city's sky gradient, 0.0–0.5 ± 0.1) still scales it
//! down to what the pairs measured, scattered evidence defers to the fit, unless the served part would make the pairs
//! disagree more than the first stage alone. A set with no motion at all carries the shading
//! of the pattern being served onto its new first stage ([`carry_shading`]).
//!
//! No camera motion sees a tilt. A linear ramp shifted by d is the same ramp plus a constant,
//! and a constant per frame is no pattern at all, so the frames cannot tell a ramp in the
//! pattern from one in the scene: whatever tilt the network adds comes from the TV prior, not
//! from evidence. On the drift bench's human scene (a warm person filling half the view) the
//! network added 150–360 DN of ramp across the frame to a true pattern with 10–30 DN of it, the
//! largest part of its error. The network's part is therefore served without its plane
//! ([`without_tilt`]): the first stage's tilt stands.

use engine::nuc::{FrameSet, Pattern};

use crate::box_blur::box_blur;

/// Spread of the prior a component's weight is shrunk towards when the registered pairs
/// disagree (see [`shrunk`]): the network's part is trusted up to about this much.
const PRIOR_SD: f64 = 0.25;

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
    /// The pairs' own estimate of each component's weight (rows, columns, rest) before it is
    /// shrunk and clamped.
    pub measured: [f32; 3],
    /// Standard error of each estimate (jackknife over the pairs; 0 when too few).
    pub uncertainty: [f32; 3],
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
    // Normal equations of min ‖a + Σ α_c b_c‖² over all pairs and per pair, and each
    // component's own energy over the same pixels, for its observability.
    let mut total = PairEquations::default();
    let mut energy = [0.0f64; 3];
    let mut aa = 0.0f64;
    let mut pairs = 0;
    let mut per_pair = Vec::with_capacity(shifts.len());
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
        let mut eq = PairEquations::default();
        for &(a, p, q) in terms.iter().filter(|t| t.0.abs() <= cut) {
            let b = [0, 1, 2].map(|c| f64::from(parts[c][q] - parts[c][p]));
            let a = f64::from(a);
            aa += a * a;
            for c in 0..3 {
                eq.ab[c] += a * b[c];
                energy[c] += f64::from(parts[c][p]).powi(2) + f64::from(parts[c][q]).powi(2);
                for d in 0..3 {
                    eq.bb[c][d] += b[c] * b[d];
                }
            }
        }
        total.add(&eq, 1.0);
        per_pair.push(eq);
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
    let all_energy: f64 = energy.iter().sum();
    let seen = |c: usize| energy[c] > 1e-4 * all_energy && total.bb[c][c] >= MIN_SEEN * energy[c];
    let active: Vec<usize> = (0..3).filter(|&c| seen(c)).collect();
    if active.is_empty() {
        return None;
    }
    let solved = total.solve(&active);
    let spread = jackknife_spread(&active, &per_pair, &total);
    let mut weights = [0.0f64; 3];
    let mut measured = [0.0f64; 3];
    let mut uncertainty = [0.0f64; 3];
    for (k, &c) in active.iter().enumerate() {
        measured[c] = solved[k];
        uncertainty[c] = spread[k];
        weights[c] = shrunk(solved[k], spread[k]).clamp(0.0, 1.0);
    }
    // Shrinking must never serve a part that makes the registered frames agree less than the
    // first stage alone: then the pairs' own (clamped) estimate stands.
    if makes_pairs_worse(&per_pair, &weights) {
        for &c in &active {
            weights[c] = measured[c].clamp(0.0, 1.0);
        }
    }
    let after = aa + total.mismatch_change(&weights);
    let unseen = match (seen(0), seen(1)) {
        (false, true) => Unseen::RowProfile,
        (true, false) => Unseen::ColumnProfile,
        _ => Unseen::Nothing,
    };
    let overall = (0..3).map(|c| weights[c] * energy[c]).sum::<f64>() / all_energy.max(1e-30);
    Some(RefineWeight {
        alpha: overall as f32,
        rest: weights[2] as f32,
        rows: weights[0] as f32,
        columns: weights[1] as f32,
        measured: measured.map(|v| v as f32),
        uncertainty: uncertainty.map(|v| v as f32),
        unseen,
        pairs,
        gain: (1.0 - after / aa) as f32,
    })
}

/// Relative change of the fine column structure (column means less their smooth trend)
/// between a served pattern and a new first stage above which the two come from different
/// offset tables (a gain switch), so the served pattern's shading is not carried over.
/// Temperature drift moves it by 0.05–0.3 between fits, a gain switch by more than 1.
const MAX_CARRY_COLUMN_CHANGE: f64 = 0.5;

/// The new first stage `base` with the low-frequency shading of the pattern being served:
/// base + smooth(served − base). For a fit whose frames did not move enough to weigh a
/// network refinement, so that the shading the last checked fit served is kept while the
/// first stage updates the columns and pixels that drifted. `None` when the two patterns do
/// not match in size or come from different offset tables.
pub fn carry_shading(base: &Pattern, served: &Pattern) -> Option<Pattern> {
    let (w, h) = (base.width(), base.height());
    if !same_tables(base, served) {
        return None;
    }
    let r = shading_radius(w, h);
    let diff: Vec<f32> = served
        .data()
        .iter()
        .zip(base.data())
        .map(|(s, b)| s - b)
        .collect();
    // Two box passes: a smooth (triangular) window that drops the first stages' column
    // and pixel differences.
    let shading = box_blur(&box_blur(&diff, w, h, r), w, h, r);
    let data = base
        .data()
        .iter()
        .zip(shading)
        .map(|(b, s)| b + s)
        .collect();
    Pattern::new(w, h, data).ok()
}

/// Box radius of the smooth window that tells shading from column and pixel structure.
fn shading_radius(w: usize, h: usize) -> usize {
    (w.max(h) / 32).max(1)
}

/// Whether a new first stage `base` and the `served` pattern come from the same offset tables:
/// the same size, and fine column structure (column means less their smooth trend) that moved
/// by at most [`MAX_CARRY_COLUMN_CHANGE`] of its size. After a gain switch they do not, and the
/// served pattern is stale as a whole.
pub fn same_tables(base: &Pattern, served: &Pattern) -> bool {
    let (w, h) = (base.width(), base.height());
    if served.width() != w || served.height() != h {
        return false;
    }
    let r = shading_radius(w, h);
    let fine_columns = |p: &Pattern| {
        let m = p.column_means();
        let trend = box_blur(&m, m.len(), 1, r);
        m.iter()
            .zip(trend)
            .map(|(a, b)| f64::from(a - b))
            .collect::<Vec<f64>>()
    };
    let (old, new) = (fine_columns(served), fine_columns(base));
    let moved: f64 = old.iter().zip(&new).map(|(a, b)| (a - b).powi(2)).sum();
    let size: f64 = old.iter().map(|a| a * a).sum();
    moved.is_finite() && size.is_finite() && moved <= MAX_CARRY_COLUMN_CHANGE.powi(2) * size
}

/// Normal equations of min ‖a + Σ α_c b_c‖² (see [`refine_weight`]), of one registered pair
/// or summed over pairs: bb[c][d] = Σ b_c b_d, ab[c] = Σ a b_c.
#[derive(Debug, Clone, Copy, Default)]
struct PairEquations {
    bb: [[f64; 3]; 3],
    ab: [f64; 3],
}

impl PairEquations {
    /// Adds `sign` × `other`.
    fn add(&mut self, other: &PairEquations, sign: f64) {
        for c in 0..3 {
            self.ab[c] += sign * other.ab[c];
            for d in 0..3 {
                self.bb[c][d] += sign * other.bb[c][d];
            }
        }
    }

    /// The least-squares weights of the `active` components.
    fn solve(&self, active: &[usize]) -> Vec<f64> {
        solve(active, &self.bb, &self.ab)
    }

    /// How much serving `weights` changes the mismatch ‖a + Σ w_c b_c‖² − ‖a‖².
    fn mismatch_change(&self, weights: &[f64; 3]) -> f64 {
        (0..3)
            .map(|c| {
                2.0 * weights[c] * self.ab[c]
                    + (0..3)
                        .map(|d| weights[c] * weights[d] * self.bb[c][d])
                        .sum::<f64>()
            })
            .sum()
    }
}

/// Standard error of each active component's weight: the jackknife over the pairs (each
/// left out in turn from the summed equations). Pairs disagree when the scene itself changed
/// between frames (people moving, a camera's AGC) in ways that resemble the network's part;
/// with fewer than three pairs there is no spread to measure and 0 is returned.
fn jackknife_spread(active: &[usize], pairs: &[PairEquations], total: &PairEquations) -> Vec<f64> {
    let n = pairs.len();
    if n < 3 {
        return vec![0.0; active.len()];
    }
    let leave_out: Vec<Vec<f64>> = pairs
        .iter()
        .map(|p| {
            let mut rest = *total;
            rest.add(p, -1.0);
            rest.solve(active)
        })
        .collect();
    (0..active.len())
        .map(|k| {
            let mean = leave_out.iter().map(|x| x[k]).sum::<f64>() / n as f64;
            let ss = leave_out.iter().map(|x| (x[k] - mean).powi(2)).sum::<f64>();
            (ss * (n - 1) as f64 / n as f64).sqrt()
        })
        .collect()
}

/// Whether serving `weights` makes the registered pairs disagree more than the first stage
/// alone, beyond the scatter of the pairs' own changes (two standard errors of their sum;
/// with fewer than three pairs, any rise counts).
fn makes_pairs_worse(pairs: &[PairEquations], weights: &[f64; 3]) -> bool {
    let change: Vec<f64> = pairs.iter().map(|p| p.mismatch_change(weights)).collect();
    let n = change.len() as f64;
    let sum: f64 = change.iter().sum();
    if change.len() < 3 {
        return sum > 0.0;
    }
    let mean = sum / n;
    let var = change.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0);
    sum > 2.0 * (var * n).sqrt()
}

/// A component's weight from the pairs' estimate and its standard error, shrunk towards the
/// network's own answer (1) by how uncertain the estimate is: a precise estimate stands (the
/// sky gradient a pan shows to be scene), a scattered one defers to the fit. Precision
/// weighting of the estimate against a prior N(1, [`PRIOR_SD`]²).
fn shrunk(estimate: f64, spread: f64) -> f64 {
    if !estimate.is_finite() {
        return 0.0;
    }
    let (pe, pp) = (1.0 / spread.max(1e-9).powi(2), 1.0 / PRIOR_SD.powi(2));
    (estimate * pe + pp) / (pe + pp)
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

/// The network's part of a staged fit, `full − base`, without its tilt (see the module docs).
fn network_part(base: &Pattern, full: &Pattern) -> Vec<f32> {
    let part: Vec<f32> = full
        .data()
        .iter()
        .zip(base.data())
        .map(|(f, b)| f - b)
        .collect();
    without_tilt(&part, base.width(), base.height())
}

/// `v` (row-major `w`×`h`) less its least-squares plane a + b·x + c·y. About the grid's centre
/// the three are orthogonal, so each coefficient is its own projection.
pub fn without_tilt(v: &[f32], w: usize, h: usize) -> Vec<f32> {
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let at = |i: usize| ((i % w) as f64 - cx, (i / w) as f64 - cy);
    let [mut s, mut sx, mut sy, mut xx, mut yy] = [0.0f64; 5];
    for (i, &p) in v.iter().enumerate() {
        let ((x, y), p) = (at(i), f64::from(p));
        s += p;
        sx += x * p;
        sy += y * p;
        xx += x * x;
        yy += y * y;
    }
    let a = s / v.len().max(1) as f64;
    let b = if xx > 0.0 { sx / xx } else { 0.0 };
    let c = if yy > 0.0 { sy / yy } else { 0.0 };
    v.iter()
        .enumerate()
        .map(|(i, &p)| {
            let (x, y) = at(i);
            (f64::from(p) - a - b * x - c * y) as f32
        })
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
/// its weight: the pattern the frames support. The weight is the estimate of how much of the
/// component is pattern, so serving it scaled is what errs least in the mean; a cut-off that
/// dropped components below 0.8 lost 0.7–2 dB on the drift bench (human and city scenes, both
/// budgets) once the tilt was out, by dropping well-founded shading at 0.5–0.8.
pub fn supported(base: &Pattern, full: &Pattern, check: &RefineWeight) -> Pattern {
    let (w, h) = (base.width(), base.height());
    let [rows, cols, rest] = components(&network_part(base, full), w, h);
    let (ar, ac, ao) = (check.rows, check.columns, check.rest);
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
            + 40.0 * (0.06 * y).sin()
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
        // profile; here it is the world's wave (a plain ramp no motion sees at all).
        let scene_like: Vec<f32> = (0..w * h)
            .map(|i| 40.0 * (0.06 * (i / w) as f32).sin())
            .collect();
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
        assert!(r.alpha < 0.5, "{r:?}");
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
        // At most half of the scene structure is served (its weight, shrunk towards the fit
        // by the pairs' scatter).
        let served = supported(&base, &bad, &refine_weight(&set, &base, &bad).unwrap());
        let peak = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(
            peak(served.data()) < 0.5 * peak(bad.data()),
            "scene structure served: {} of {}",
            peak(served.data()),
            peak(bad.data())
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

    /// A plane goes, a centred bowl stays (less its mean), on an odd and an even grid.
    #[test]
    fn without_tilt_removes_the_plane_only() {
        for (w, h) in [(7, 5), (16, 12)] {
            let at = |i: usize| ((i % w) as f32, (i / w) as f32);
            let plane: Vec<f32> = (0..w * h)
                .map(|i| {
                    let (x, y) = at(i);
                    40.0 + 3.0 * x - 5.0 * y
                })
                .collect();
            assert!(without_tilt(&plane, w, h).iter().all(|v| v.abs() < 1e-3));
            let (cx, cy) = ((w - 1) as f32 / 2.0, (h - 1) as f32 / 2.0);
            let bowl: Vec<f32> = (0..w * h)
                .map(|i| {
                    let (x, y) = at(i);
                    (x - cx).powi(2) + (y - cy).powi(2)
                })
                .collect();
            let mean = bowl.iter().sum::<f32>() / bowl.len() as f32;
            let both: Vec<f32> = plane.iter().zip(&bowl).map(|(p, b)| p + b).collect();
            for (got, b) in without_tilt(&both, w, h).iter().zip(&bowl) {
                assert!((got - (b - mean)).abs() < 1e-3, "{got} vs {}", b - mean);
            }
        }
    }

    /// A ramp the network adds to a true pattern is not served, even where the pairs support
    /// every component fully: no motion could have told it from the scene.
    #[test]
    fn a_tilt_in_the_network_part_is_not_served() {
        let (w, h) = (160, 96);
        let (set, lpn, _) = setup(w, h);
        let base = Pattern::zeros(w, h);
        let tilted = Pattern::new(
            w,
            h,
            lpn.iter()
                .enumerate()
                .map(|(i, l)| l + 1.5 * (i % w) as f32 - 0.8 * (i / w) as f32)
                .collect(),
        )
        .unwrap();
        let r = refine_weight(&set, &base, &tilted).unwrap();
        assert!(r.rows > 0.9 && r.columns > 0.9, "{r:?}");
        let served = supported(&base, &tilted, &r);
        let want = without_tilt(&lpn, w, h);
        let peak = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = served
            .data()
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.05 * peak, "max error {err} of {peak}");
    }

    /// A component the pairs support at 0.6 is served at 0.6, not dropped.
    #[test]
    fn a_partly_supported_component_is_served_at_its_weight() {
        let (w, h) = (40, 30);
        let cy = (h - 1) as f32 / 2.0;
        let rows: Vec<f32> = (0..w * h).map(|i| ((i / w) as f32 - cy).powi(2)).collect();
        let rest: Vec<f32> = (0..w * h)
            .map(|i| 30.0 * ((i % w) as f32 * 0.7).sin() * ((i / w) as f32 * 0.9).cos())
            .collect();
        let base = Pattern::zeros(w, h);
        let full =
            Pattern::new(w, h, rows.iter().zip(&rest).map(|(r, o)| r + o).collect()).unwrap();
        let check = RefineWeight {
            alpha: 0.8,
            rest: 1.0,
            rows: 0.6,
            columns: 1.0,
            measured: [0.6, 1.0, 1.0],
            uncertainty: [0.05; 3],
            unseen: Unseen::Nothing,
            pairs: 5,
            gain: 0.5,
        };
        let [want_rows, want_cols, want_rest] = components(&network_part(&base, &full), w, h);
        let served = supported(&base, &full, &check);
        for i in 0..w * h {
            let want = 0.6 * want_rows[i] + want_cols[i] + want_rest[i];
            assert!((served.data()[i] - want).abs() < 1e-2, "pixel {i}");
        }
        // The row profile is there at 0.6 of its size.
        let peak = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let served_rows = components(served.data(), w, h)[0].clone();
        assert!((peak(&served_rows) / peak(&want_rows) - 0.6).abs() < 0.02);
    }

    /// Pairs that agree give a small spread and their estimate stands; pairs that scatter
    /// give a large one and the weight defers to the network (1).
    #[test]
    fn scattered_pairs_defer_to_the_network_and_consistent_ones_do_not() {
        let pair = |alpha: f64| PairEquations {
            bb: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            ab: [-alpha; 3],
        };
        let sum = |pairs: &[PairEquations]| {
            let mut total = PairEquations::default();
            pairs.iter().for_each(|p| total.add(p, 1.0));
            total
        };
        let active = [0, 1, 2];
        let consistent: Vec<_> = [0.30, 0.31, 0.29, 0.30, 0.30].map(pair).to_vec();
        let total = sum(&consistent);
        let est = total.solve(&active);
        let se = jackknife_spread(&active, &consistent, &total);
        assert!(
            (est[2] - 0.30).abs() < 1e-6 && se[2] < 0.01,
            "{est:?} {se:?}"
        );
        assert!(shrunk(est[2], se[2]) < 0.31, "a precise 0.3 stands");
        let scattered: Vec<_> = [-0.5, 1.6, 0.2, 1.1, 0.1].map(pair).to_vec();
        let total = sum(&scattered);
        let est = total.solve(&active);
        let se = jackknife_spread(&active, &scattered, &total);
        assert!((est[2] - 0.5).abs() < 1e-6 && se[2] > 0.3, "{est:?} {se:?}");
        let w = shrunk(est[2], se[2]);
        assert!(w > 0.8 && w < 1.0, "scattered 0.5 defers: {w}");
        // Too few pairs to measure a spread: the estimate stands.
        assert_eq!(
            jackknife_spread(&active, &scattered[..2], &total),
            vec![0.0; 3]
        );
        assert!((shrunk(0.4, 0.0) - 0.4).abs() < 1e-9 && shrunk(f64::NAN, 1.0) == 0.0);
        // Pairs that all say the part is the opposite of pattern (-0.5): serving it whole
        // makes every pair worse, far beyond their scatter; serving nothing changes nothing.
        let against: Vec<_> = [-0.5, -0.45, -0.55, -0.5].map(pair).to_vec();
        assert!(makes_pairs_worse(&against, &[1.0; 3]));
        assert!(!makes_pairs_worse(&against, &[0.0; 3]));
        // Scattered pairs around 0.5: serving 0.9 is within their scatter.
        assert!(!makes_pairs_worse(&scattered, &[0.9; 3]));
    }

    /// Frames whose scene also changes between them (a warm person walking) scatter the
    /// pairs' estimates of a true pattern's weight; the check then serves the network's part
    /// instead of dropping it.
    #[test]
    fn a_true_pattern_is_served_when_the_scene_changes_between_frames() {
        let (w, h) = (160, 96);
        let (set, lpn, _) = setup(w, h);
        let frames: Vec<Vec<f32>> = (0..set.len())
            .map(|k| {
                // A warm blob that moves on its own.
                let (bx, by) = (20.0 + 29.0 * k as f32, 30.0 + 11.0 * ((k * 7) % 5) as f32);
                set.frame(k)
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let (x, y) = ((i % w) as f32, (i / w) as f32);
                        let r2 = ((x - bx).powi(2) + (y - by).powi(2)) / 1600.0;
                        v + 400.0 * (-r2).exp()
                    })
                    .collect()
            })
            .collect();
        let moving = FrameSet::new(w, h, frames).unwrap();
        let base = Pattern::zeros(w, h);
        let good = Pattern::new(w, h, lpn.clone()).unwrap();
        let r = refine_weight(&moving, &base, &good).unwrap();
        assert!(
            r.measured.iter().any(|&m| m < 0.8),
            "the pairs scatter: {r:?}"
        );
        assert!(r.rows >= 0.8 && r.columns >= 0.8, "{r:?}");
    }

    /// Without motion evidence the served shading is carried onto a new first stage that
    /// drifted a little, and not onto one from other offset tables.
    #[test]
    fn carries_the_served_shading_onto_the_same_tables_only() {
        let (w, h) = (128, 96);
        let stripes = |seed: u32, scale: f32| -> Vec<f32> {
            (0..w)
                .map(|x| {
                    let v = (x as u32 ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(2_654_435_761)
                        >> 16;
                    scale * ((v % 1000) as f32 / 500.0 - 1.0)
                })
                .collect()
        };
        let field = |cols: &[f32], shading: f32| -> Vec<f32> {
            (0..w * h)
                .map(|i| {
                    let (x, y) = (
                        (i % w) as f32 / w as f32 - 0.5,
                        (i / w) as f32 / h as f32 - 0.5,
                    );
                    cols[i % w] - shading * (x * x + y * y)
                })
                .collect()
        };
        let cols = stripes(1, 40.0);
        let drifted: Vec<f32> = cols
            .iter()
            .zip(stripes(2, 4.0))
            .map(|(a, b)| a + b)
            .collect();
        let served = Pattern::new(w, h, field(&cols, 300.0)).unwrap();
        let base = Pattern::new(w, h, field(&drifted, 0.0)).unwrap();
        let carried = carry_shading(&base, &served).expect("same tables");
        let want = field(&drifted, 300.0);
        let err = |p: &Pattern| {
            let d: Vec<f32> = p.data().iter().zip(&want).map(|(a, b)| a - b).collect();
            let m = d.iter().sum::<f32>() / d.len() as f32;
            (d.iter().map(|v| (v - m).powi(2)).sum::<f32>() / d.len() as f32).sqrt()
        };
        assert!(
            err(&carried) < 0.25 * err(&base),
            "shading kept, columns new: {} vs the first stage's {}",
            err(&carried),
            err(&base)
        );
        let other = Pattern::new(w, h, field(&stripes(9, 40.0), 0.0)).unwrap();
        assert!(carry_shading(&other, &served).is_none(), "a gain switch");
        assert!(carry_shading(&Pattern::zeros(64, 48), &served).is_none());
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
