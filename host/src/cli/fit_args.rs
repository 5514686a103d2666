//! Options shared by every command that fits a pattern: method, preset or config file, and
//! the budget.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use engine::nuc::{Budget, FitConfig, Method};

#[derive(Debug, Clone, Args)]
pub struct FitArgs {
    /// Estimation method: tv-dip, cp-tv or colmean.
    #[arg(long, default_value = "tv-dip")]
    pub method: Method,
    /// Named configuration: paper (the reference TV-DIP), fast, refine.
    #[arg(long, default_value = "fast", conflicts_with = "config")]
    pub preset: String,
    /// TOML fit configuration (`preset = "…"` plus overrides).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// At most this many iterations.
    #[arg(long, value_name = "N")]
    pub iters: Option<u32>,
    /// Stop the fit after this many seconds (the pattern so far is used).
    #[arg(long, value_name = "S")]
    pub max_seconds: Option<f64>,
    /// Compute device: cpu or cuda:N (overrides the configuration).
    #[arg(long)]
    pub device: Option<String>,
    /// Random seed (overrides the configuration).
    #[arg(long)]
    pub seed: Option<u64>,
}

impl FitArgs {
    pub fn config(&self) -> anyhow::Result<FitConfig> {
        let mut cfg = match &self.config {
            Some(p) => FitConfig::from_file(p)?,
            None => FitConfig::preset(&self.preset)?,
        };
        if let Some(d) = &self.device {
            cfg.device = d.clone();
        }
        if self.seed.is_some() {
            cfg.seed = self.seed;
        }
        cfg.validate().context("invalid fit configuration")?;
        Ok(cfg)
    }

    pub fn budget(&self) -> anyhow::Result<Budget> {
        let max_wall = match self.max_seconds {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => anyhow::bail!("--max-seconds must be a positive number, got {s}"),
        };
        if self.iters == Some(0) {
            anyhow::bail!("--iters must be at least 1");
        }
        Ok(Budget {
            max_steps: self.iters,
            max_wall,
            // Ctrl-C ends the fit early and the frames are corrected with the pattern so far;
            // a second Ctrl-C exits at once.
            abort: Some(super::interrupt::flag()),
            ..Budget::default()
        })
    }
}
