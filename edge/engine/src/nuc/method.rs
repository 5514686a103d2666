//! `Method`: which estimator produces a pattern (TV-DIP network, convex CP-TV, column means).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::NucError;

/// A pattern estimation method; written `tv-dip`, `cp-tv` or `colmean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Deep-image-prior network fitted with step-variable TV (reference §2).
    TvDip,
    /// Multi-frame convex TV solved by Chambolle–Pock (reference §11).
    CpTv,
    /// Column-statistics destriper.
    #[serde(rename = "colmean")]
    ColMean,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::TvDip, Method::CpTv, Method::ColMean];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::TvDip => "tv-dip",
            Method::CpTv => "cp-tv",
            Method::ColMean => "colmean",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = NucError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| NucError::UnknownMethod(s.to_string()))
    }
}
