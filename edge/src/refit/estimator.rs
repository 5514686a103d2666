//! Building the fit estimator from the configuration: the configured method on the configured
//! device, or the CPU method when that device cannot be opened; and what decides that an
//! existing estimator (which warm-starts from its last fit) can be reused.

use std::path::{Path, PathBuf};

use engine::nuc::{self, Method, NucError, PatternEstimator};
use tracing::warn;

use crate::config::{FitDevice, FitSection, Preset};

/// Builds the estimator for the fit section; the returned string says which method and
/// device it will use (after any fallback).
pub type EstimatorFactory =
    fn(&FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError>;

/// The default factory: the configured method on the configured device, or the configured
/// CPU method on the CPU when that device cannot be opened (no GPU, or CUDA not built in).
pub fn build_estimator(fit: &FitSection) -> Result<(Box<dyn PatternEstimator>, String), NucError> {
    let mut cfg = fit.preset.fit_config();
    let mut method = fit.method;
    cfg.device = fit.device.to_string();
    cfg.max_memory_mb = fit.max_memory_mb.or(cfg.max_memory_mb);
    if fit.downscale > 0 {
        cfg.downscale = fit.downscale;
    }
    cfg.pixel_passes = fit.pixel_passes;
    if fit.device != FitDevice::Cpu
        && let Err(e) = nuc::device::open_device(&cfg.device)
    {
        warn!(device = %fit.device, error = %e, fallback = %fit.cpu_method,
              "fit device unavailable; using the CPU method");
        method = fit.cpu_method;
        cfg.device = FitDevice::Cpu.to_string();
    }
    let desc = format!("{method} on {}", cfg.device);
    Ok((nuc::estimator(method, &cfg)?, desc))
}

/// Everything the factory reads: an estimator built for an equal key is reused (and keeps its
/// warm start); any difference builds a new one. The worker keeps one estimator per key, so a
/// fit that fell back to the CPU method leaves the network's warm start in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EstimatorKey {
    method: Method,
    cpu_method: Method,
    preset: Preset,
    downscale: usize,
    pixel_passes: u32,
    device: FitDevice,
    max_memory_mb: Option<u64>,
}

impl EstimatorKey {
    /// The key of a fit section.
    pub fn of(fit: &FitSection) -> EstimatorKey {
        EstimatorKey {
            method: fit.method,
            cpu_method: fit.cpu_method,
            preset: fit.preset,
            downscale: fit.downscale,
            pixel_passes: fit.pixel_passes,
            device: fit.device,
            max_memory_mb: fit.max_memory_mb,
        }
    }
}

/// Where the estimator's warm-start state is kept: beside the pattern store.
pub fn state_path(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".state.safetensors");
    PathBuf::from(s)
}
