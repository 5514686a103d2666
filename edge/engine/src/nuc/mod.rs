//! The TV-DIP noise-pattern engine and its classical counterparts.
//!
//! ```text
//!  FrameSet ──► PatternEstimator::estimate(frames, budget, progress) ──► FitOutcome { Pattern, … }
//!                 ├─ TvDipEstimator   (fit.rs: SkipNet net.rs + TvLoss tv.rs + schedule.rs)
//!                 │    └─ pixel_offsets.rs (per-pixel refinement, `pixel_passes`)
//!                 ├─ CpTvEstimator    (cptv.rs, Chambolle–Pock multi-frame TV)
//!                 └─ ColMeanEstimator (colmean.rs, column-statistics destriper)
//!  corrected = raw − pattern        noise.rs: reference noise generator   metrics.rs: PSNR/SSIM/ρ
//! ```

mod budget;
pub mod colmean;
pub mod config;
pub mod cptv;
pub mod device;
mod error;
mod estimator;
mod factory;
pub mod fit;
mod frames;
pub mod layers;
pub mod memory;
mod method;
pub mod metrics;
pub mod net;
pub mod noise;
pub mod pixel_offsets;
pub mod schedule;
pub mod tv;

#[cfg(test)]
mod testutil;

pub use budget::{Budget, FitProgress};
pub use config::{FitConfig, PRESETS};
pub use error::NucError;
pub use estimator::{FitOutcome, PatternEstimator};
pub use factory::{ColMeanEstimator, CpTvEstimator, estimator};
pub use fit::TvDipEstimator;
pub use frames::{FrameSet, Pattern};
pub use method::Method;
pub use net::{SkipConfig, SkipNet};
