//! [`ConfigError`]: every configuration problem, naming the dotted key it is about.

use std::path::PathBuf;

/// A configuration problem. Every variant but `Read` and `Parse` names the key (dotted path).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{origin}: {message}")]
    Parse {
        /// File or text the TOML came from.
        origin: String,
        /// The TOML message (it names the line).
        message: String,
    },
    /// A value has the wrong type, is out of range or inconsistent with another key.
    #[error("{key}: {reason}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The dotted key does not exist.
    #[error("{key}: unknown configuration key")]
    UnknownKey {
        /// The key asked for.
        key: String,
    },
    /// The key exists but has no value.
    #[error("{key}: not set")]
    Unset {
        /// The key asked for.
        key: String,
    },
    /// The key is device-local (a trust anchor, a secret, a path, a profile): it is changed
    /// in the configuration file on the device, never over the link.
    #[error("{key}: device-local; change it in the config file on the device, not over the link")]
    DeviceLocal {
        /// The key.
        key: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. }
            | ConfigError::UnknownKey { key }
            | ConfigError::Unset { key }
            | ConfigError::DeviceLocal { key } => Some(key),
            ConfigError::Read { .. } | ConfigError::Parse { .. } => None,
        }
    }

    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}
