//! Step-variable TV schedules of the reference notebooks (reference §2.3): which TV step sizes k
//! (and extra terms) the loss uses at each iteration, optionally compressed to a shorter run.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which reference schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// `denoise_video` / `4_video`: k ∈ [50,59] ≤ 1500, [40,49] ≤ 3000, [30,39] ≤ 4500,
    /// [20,29] ≤ 6000, [10,19] ≤ 7500, [3,9] ≤ 9000, then k = 1 (reference length 18,000).
    Video,
    /// `3_spn_denoise`: TV_k + TV_k1 with the video blocks up to 7500, then k ∈ [3,9] for
    /// good; k1 ∈ [1,3] every step (reference length 15,000).
    Spn,
    /// `2_lpn_denoise` method 8: TV_k + TV_k1 + mean(out²); k ∈ [20,29] ≤ 3000 else [10,19];
    /// k1 ∈ [1,3] (reference length 8,000).
    Lpn,
    /// `1_fpn_denoise`: 1e-2·TV_1 (reference length 20,000).
    Fpn,
    /// The per-frame refinement of `3_spn` cell 8: TV_1 + 0.1·TV_k, k ∈ [3,9] (50 steps).
    Refine,
}

/// Inclusive k range for iterations up to an inclusive bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KBlock {
    /// Last iteration (0-based, inclusive) of the block, in reference iterations.
    pub until: u32,
    /// Smallest k.
    pub lo: usize,
    /// Largest k (inclusive; the notebooks' `randint(a, b)` is a … b−1).
    pub hi: usize,
}

const fn kb(until: u32, lo: usize, hi: usize) -> KBlock {
    KBlock { until, lo, hi }
}

const VIDEO: &[KBlock] = &[
    kb(1500, 50, 59),
    kb(3000, 40, 49),
    kb(4500, 30, 39),
    kb(6000, 20, 29),
    kb(7500, 10, 19),
    kb(9000, 3, 9),
    kb(u32::MAX, 1, 1),
];
const SPN: &[KBlock] = &[
    kb(1500, 50, 59),
    kb(3000, 40, 49),
    kb(4500, 30, 39),
    kb(6000, 20, 29),
    kb(7500, 10, 19),
    kb(u32::MAX, 3, 9),
];
const LPN: &[KBlock] = &[kb(3000, 20, 29), kb(u32::MAX, 10, 19)];
const ONE: &[KBlock] = &[kb(u32::MAX, 1, 1)];
const REFINE: &[KBlock] = &[kb(u32::MAX, 3, 9)];

impl ScheduleKind {
    /// Iteration count the reference notebook runs this schedule for.
    pub fn reference_len(self) -> u32 {
        match self {
            ScheduleKind::Video => 18_000,
            ScheduleKind::Spn => 15_000,
            ScheduleKind::Lpn => 8_000,
            ScheduleKind::Fpn => 20_000,
            ScheduleKind::Refine => 50,
        }
    }

    fn blocks(self) -> &'static [KBlock] {
        match self {
            ScheduleKind::Video => VIDEO,
            ScheduleKind::Spn => SPN,
            ScheduleKind::Lpn => LPN,
            ScheduleKind::Fpn => ONE,
            ScheduleKind::Refine => REFINE,
        }
    }
}

/// The loss terms of one iteration: `Σ weight·TV_k(y − out)` plus `out_sq·mean(out²)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTerms {
    pub tv: Vec<(usize, f32)>,
    pub out_sq: f32,
}

/// A schedule laid over a run of `run_len` iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSchedule {
    kind: ScheduleKind,
    blocks: Vec<KBlock>,
    k_divisor: f64,
}

impl StepSchedule {
    /// The reference block boundaries unchanged (`compress = false`), or scaled by
    /// `run_len / reference_len` so that a shorter run goes through every block
    /// (`compress = true`). Every k is divided by `k_divisor` (rounded, at least 1): fitting at
    /// a resolution reduced by that factor keeps the same physical step.
    pub fn new(kind: ScheduleKind, run_len: u32, compress: bool, k_divisor: f64) -> Self {
        let scale = if compress {
            f64::from(run_len.max(1)) / f64::from(kind.reference_len())
        } else {
            1.0
        };
        let blocks = kind
            .blocks()
            .iter()
            .map(|b| KBlock {
                until: if b.until == u32::MAX {
                    u32::MAX
                } else {
                    (f64::from(b.until) * scale).round() as u32
                },
                ..*b
            })
            .collect();
        StepSchedule {
            kind,
            blocks,
            k_divisor: if k_divisor > 0.0 { k_divisor } else { 1.0 },
        }
    }

    pub fn kind(&self) -> ScheduleKind {
        self.kind
    }

    /// The block boundaries in use.
    pub fn blocks(&self) -> &[KBlock] {
        &self.blocks
    }

    /// Inclusive range of the main step k at iteration `step` (0-based), after the divisor.
    pub fn k_range(&self, step: u32) -> (usize, usize) {
        let b = self
            .blocks
            .iter()
            .find(|b| step <= b.until)
            .unwrap_or(&self.blocks[self.blocks.len() - 1]);
        (self.div(b.lo), self.div(b.hi))
    }

    fn div(&self, k: usize) -> usize {
        ((k as f64 / self.k_divisor).round() as usize).max(1)
    }

    /// Draws the loss terms of iteration `step`.
    pub fn terms(&self, step: u32, rng: &mut impl Rng) -> StepTerms {
        let (lo, hi) = self.k_range(step);
        let k = rng.gen_range(lo..=hi);
        let k1 = || self.div(1).max(1);
        match self.kind {
            ScheduleKind::Video => StepTerms {
                tv: vec![(k, 1.0)],
                out_sq: 0.0,
            },
            ScheduleKind::Spn => {
                let k1 = rng.gen_range(1..=3usize).max(k1());
                StepTerms {
                    tv: vec![(k, 1.0), (k1, 1.0)],
                    out_sq: 0.0,
                }
            }
            ScheduleKind::Lpn => {
                let k1 = rng.gen_range(1..=3usize).max(k1());
                StepTerms {
                    tv: vec![(k, 1.0), (k1, 1.0)],
                    out_sq: 1.0,
                }
            }
            ScheduleKind::Fpn => StepTerms {
                tv: vec![(1, 1e-2)],
                out_sq: 0.0,
            },
            ScheduleKind::Refine => StepTerms {
                tv: vec![(1, 1.0), (k, 0.1)],
                out_sq: 0.0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn video_blocks_match_the_notebook() {
        let s = StepSchedule::new(ScheduleKind::Video, 18_000, false, 1.0);
        assert_eq!(s.k_range(0), (50, 59));
        assert_eq!(s.k_range(1500), (50, 59));
        assert_eq!(s.k_range(1501), (40, 49));
        assert_eq!(s.k_range(3000), (40, 49));
        assert_eq!(s.k_range(4501), (20, 29));
        assert_eq!(s.k_range(7500), (10, 19));
        assert_eq!(s.k_range(7501), (3, 9));
        assert_eq!(s.k_range(9000), (3, 9));
        assert_eq!(s.k_range(9001), (1, 1));
        assert_eq!(s.k_range(17_999), (1, 1));
    }

    #[test]
    fn spn_ends_on_3_to_9_and_adds_k1() {
        let s = StepSchedule::new(ScheduleKind::Spn, 15_000, false, 1.0);
        assert_eq!(s.k_range(7500), (10, 19));
        assert_eq!(s.k_range(7501), (3, 9));
        assert_eq!(s.k_range(14_999), (3, 9));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for step in [0, 5000, 9000] {
            let t = s.terms(step, &mut rng);
            assert_eq!(t.tv.len(), 2);
            assert!((1..=3).contains(&t.tv[1].0));
            assert_eq!(t.out_sq, 0.0);
        }
    }

    #[test]
    fn lpn_and_refine_terms() {
        let s = StepSchedule::new(ScheduleKind::Lpn, 8000, false, 1.0);
        assert_eq!(s.k_range(3000), (20, 29));
        assert_eq!(s.k_range(3001), (10, 19));
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        assert_eq!(s.terms(0, &mut rng).out_sq, 1.0);
        let r = StepSchedule::new(ScheduleKind::Refine, 50, false, 1.0);
        let t = r.terms(10, &mut rng);
        assert_eq!(t.tv[0], (1, 1.0));
        assert!((3..=9).contains(&t.tv[1].0) && t.tv[1].1 == 0.1);
    }

    #[test]
    fn compression_keeps_every_block_in_proportion() {
        // 1,800 steps = a tenth of the reference: boundaries at 150, 300, …, 900.
        let s = StepSchedule::new(ScheduleKind::Video, 1800, true, 1.0);
        assert_eq!(s.k_range(150), (50, 59));
        assert_eq!(s.k_range(151), (40, 49));
        assert_eq!(s.k_range(900), (3, 9));
        assert_eq!(s.k_range(901), (1, 1));
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for step in 0..1800 {
            let (lo, hi) = s.k_range(step);
            let k = s.terms(step, &mut rng).tv[0].0;
            assert!(lo <= k && k <= hi);
        }
    }

    #[test]
    fn k_divisor_scales_steps_for_downscaled_fits() {
        let s = StepSchedule::new(ScheduleKind::Video, 18_000, false, 4.0);
        assert_eq!(s.k_range(0), (13, 15)); // 50/4 = 12.5 → 13, 59/4 = 14.75 → 15
        assert_eq!(s.k_range(9001), (1, 1));
    }
}
