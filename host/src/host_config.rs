//! The user's host configuration file (`~/.config/dipnuc/host.toml`, or `$DIPNUC_HOST_CONFIG`):
//! defaults for the connection so that the token need not be typed on every command.
//!
//! ```toml
//! token = "the pre-shared token"   # used for TCP links
//! tcp = "192.168.1.20:7700"         # default device when neither --tcp nor --port is given
//! # port = "/dev/ttyUSB0"
//! # baud = 115200
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variable naming the host config file (overrides the default location).
pub const CONFIG_ENV: &str = "DIPNUC_HOST_CONFIG";

/// Contents of `host.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Pre-shared token for TCP devices.
    pub token: Option<String>,
    /// Default TCP device, `HOST:PORT`.
    pub tcp: Option<String>,
    /// Default serial port.
    pub port: Option<String>,
    /// Default baud rate.
    pub baud: Option<u32>,
}

/// Why the host config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HostConfigError {
    /// Unreadable file.
    #[error("cannot read host config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML or an unknown key.
    #[error("host config {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        reason: String,
    },
}

/// Where the host config lives: `$DIPNUC_HOST_CONFIG`, else `$XDG_CONFIG_HOME/dipnuc/host.toml`,
/// else `~/.config/dipnuc/host.toml`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("dipnuc").join("host.toml"))
}

impl HostConfig {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<HostConfig, HostConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostConfig::default()),
            Err(source) => {
                return Err(HostConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| HostConfigError::Parse {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_empty_and_unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("host.toml");
        assert_eq!(HostConfig::load(&p).unwrap(), HostConfig::default());
        std::fs::write(&p, "token = \"abc\"\ntcp = \"h:1\"\n").unwrap();
        let c = HostConfig::load(&p).unwrap();
        assert_eq!(c.token.as_deref(), Some("abc"));
        std::fs::write(&p, "tokn = \"abc\"\n").unwrap();
        let e = HostConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("tokn"), "{e}");
    }
}
