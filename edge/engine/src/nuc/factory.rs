//! `estimator()`: the estimator for each `Method` (TV-DIP from `fit.rs`, and the adapters of
//! the stateless classical methods, CP-TV and column means, to `PatternEstimator`).

use std::ops::ControlFlow;

use super::config::{CpTvConfig, FitConfig};
use super::estimator::{FitOutcome, PatternEstimator};
use super::fit::TvDipEstimator;
use super::{Budget, FitProgress, FrameSet, Method, NucError, colmean, cptv};

/// Builds the estimator for `method` with `cfg` (checked first).
pub fn estimator(method: Method, cfg: &FitConfig) -> Result<Box<dyn PatternEstimator>, NucError> {
    cfg.validate()?;
    Ok(match method {
        Method::TvDip => Box::new(TvDipEstimator::new(cfg.clone())?),
        Method::CpTv => Box::new(CpTvEstimator {
            cfg: cfg.cptv.clone(),
        }),
        Method::ColMean => Box::new(ColMeanEstimator {
            window: cfg.colmean.window,
        }),
    })
}

/// Multi-frame convex TV ([`cptv`]); stateless.
pub struct CpTvEstimator {
    cfg: CpTvConfig,
}

impl PatternEstimator for CpTvEstimator {
    fn method(&self) -> Method {
        Method::CpTv
    }

    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        cptv::estimate(frames, &self.cfg, budget, progress)
    }
}

/// Column-statistics destriper ([`colmean`]); stateless.
pub struct ColMeanEstimator {
    window: usize,
}

impl PatternEstimator for ColMeanEstimator {
    fn method(&self) -> Method {
        Method::ColMean
    }

    fn estimate(
        &mut self,
        frames: &FrameSet,
        budget: &Budget,
        progress: &mut dyn FnMut(&FitProgress) -> ControlFlow<()>,
    ) -> Result<FitOutcome, NucError> {
        colmean::estimate(frames, self.window, budget, progress)
    }
}
