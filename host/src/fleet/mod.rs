//! Many devices at once: a fleet file ([`Fleet::load`]: a TOML list of devices, or the JSON
//! that `dipnuc discover --json` prints), commands run on every device a bounded number at a
//! time ([`parallel::run_all`]), and firmware rolled out in stages ([`rollout`]).
//!
//! ```toml
//! token = "fleet-wide token"          # for devices without their own (else --token)
//! [rollout]
//! canary = "north-1"                  # flashed first, alone (default: the first device)
//! batch_size = 4                      # then this many at a time
//! health_timeout_s = 60               # how long a new image may take to show frames
//!
//! [[device]]
//! name = "north-1"
//! tcp = "10.20.0.11:7700"
//! token = "its own token"
//! [[device]]
//! name = "gate"
//! port = "/dev/ttyUSB0"
//! baud = 921600
//! ```

pub mod parallel;
pub mod rollout;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::client::{ConnectOptions, DEFAULT_BAUD, Target};
use crate::discover::Discovered;

/// Why a fleet file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// It could not be read.
    #[error("cannot read fleet file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is neither a fleet TOML file nor `dipnuc discover --json` output.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the device or key).
        reason: String,
    },
}

/// One device of a fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDevice {
    /// Its name in tables and reports (unique in the fleet).
    pub name: String,
    /// How to reach it.
    pub target: Target,
    /// Its token, when the fleet file names one (else the command line's).
    pub token: Option<String>,
}

impl FleetDevice {
    /// Connection options for this device: `base`'s timeouts and retries, this device's
    /// target, and its token (falling back to `base`'s).
    pub fn options(&self, base: &ConnectOptions) -> ConnectOptions {
        let mut o = base.clone();
        o.target = self.target.clone();
        if self.token.is_some() {
            o.token = self.token.clone();
        }
        o
    }
}

/// How a staged rollout proceeds (`[rollout]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutSettings {
    /// Name of the canary (None = the first device).
    pub canary: Option<String>,
    /// Devices updated at once after the canary.
    pub batch_size: usize,
    /// Time a restarted device has to come back and show frames.
    pub health_timeout: Duration,
}

impl Default for RolloutSettings {
    fn default() -> Self {
        RolloutSettings {
            canary: None,
            batch_size: 1,
            health_timeout: Duration::from_secs(90),
        }
    }
}

/// A loaded fleet file.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The devices, in file order.
    pub devices: Vec<FleetDevice>,
    /// Rollout settings.
    pub rollout: RolloutSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    token: Option<String>,
    #[serde(default)]
    rollout: Option<RolloutToml>,
    #[serde(default)]
    device: Vec<DeviceToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutToml {
    canary: Option<String>,
    batch_size: Option<usize>,
    health_timeout_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceToml {
    name: String,
    tcp: Option<String>,
    port: Option<String>,
    baud: Option<u32>,
    token: Option<String>,
}

impl Fleet {
    /// Loads `path`: JSON from `dipnuc discover --json` (a list of devices) or fleet TOML.
    pub fn load(path: &Path) -> Result<Fleet, FleetError> {
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Fleet::parse(&text).map_err(|reason| FleetError::Parse {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses fleet text (see [`Fleet::load`]).
    pub fn parse(text: &str) -> Result<Fleet, String> {
        // A TOML file may start with `[rollout]` too: JSON is whatever parses as JSON.
        let fleet = if serde_json::from_str::<serde_json::Value>(text).is_ok() {
            Fleet::from_discovered(text)?
        } else {
            Fleet::from_toml(text)?
        };
        fleet.check()?;
        Ok(fleet)
    }

    fn from_discovered(text: &str) -> Result<Fleet, String> {
        let found: Vec<Discovered> = serde_json::from_str(text)
            .map_err(|e| format!("not `dipnuc discover --json` output: {e}"))?;
        Ok(Fleet {
            devices: found
                .into_iter()
                .map(|d| FleetDevice {
                    name: d.name,
                    target: Target::Tcp(d.tcp),
                    token: None,
                })
                .collect(),
            rollout: RolloutSettings::default(),
        })
    }

    fn from_toml(text: &str) -> Result<Fleet, String> {
        let file: FileToml = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        let mut devices = Vec::new();
        for d in file.device {
            let target = match (d.tcp, d.port) {
                (Some(addr), None) => Target::Tcp(addr),
                (None, Some(port)) => Target::Serial {
                    port,
                    baud: d.baud.unwrap_or(DEFAULT_BAUD),
                },
                _ => {
                    return Err(format!(
                        "device {:?}: give exactly one of tcp or port",
                        d.name
                    ));
                }
            };
            devices.push(FleetDevice {
                name: d.name,
                target,
                token: d
                    .token
                    .or_else(|| file.token.clone())
                    .filter(|t| !t.is_empty()),
            });
        }
        let mut rollout = RolloutSettings::default();
        if let Some(r) = file.rollout {
            rollout.canary = r.canary;
            if let Some(n) = r.batch_size {
                rollout.batch_size = n;
            }
            if let Some(s) = r.health_timeout_s {
                rollout.health_timeout = Duration::from_secs(s);
            }
        }
        Ok(Fleet { devices, rollout })
    }

    fn check(&self) -> Result<(), String> {
        if self.devices.is_empty() {
            return Err("no devices (add [[device]] entries)".into());
        }
        for (i, d) in self.devices.iter().enumerate() {
            if d.name.is_empty() {
                return Err(format!("device {}: empty name", i + 1));
            }
            if self.devices[..i].iter().any(|o| o.name == d.name) {
                return Err(format!("device {:?} is listed twice", d.name));
            }
        }
        if self.rollout.batch_size == 0 {
            return Err("rollout.batch_size must be >= 1".into());
        }
        if let Some(c) = &self.rollout.canary
            && !self.devices.iter().any(|d| &d.name == c)
        {
            return Err(format!(
                "rollout.canary {c:?} is not a device of this fleet"
            ));
        }
        Ok(())
    }

    /// Index of the device called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_discover_json_load() {
        let f = Fleet::parse(
            "token = \"t\"\n[rollout]\nbatch_size = 2\ncanary = \"b\"\n\
             [[device]]\nname = \"a\"\ntcp = \"127.0.0.1:1\"\n\
             [[device]]\nname = \"b\"\nport = \"/dev/ttyUSB0\"\ntoken = \"own\"\n",
        )
        .unwrap();
        assert_eq!(f.devices.len(), 2);
        assert_eq!(f.devices[0].token.as_deref(), Some("t"));
        assert_eq!(f.devices[1].token.as_deref(), Some("own"));
        assert_eq!(f.rollout.batch_size, 2);
        let json = r#"[{"name":"cam","device_id":"cam","firmware_version":"0.1.0","board":"sim",
            "camera":"sim","host":"cam.local.","addresses":["127.0.0.1"],"port":7700,
            "tcp":"127.0.0.1:7700","auth":true,"metrics_port":null}]"#;
        let f = Fleet::parse(json).unwrap();
        assert_eq!(f.devices[0].target, Target::Tcp("127.0.0.1:7700".into()));
    }

    #[test]
    fn bad_fleets_name_the_problem() {
        let e = Fleet::parse("[[device]]\nname = \"a\"\n").unwrap_err();
        assert!(e.contains("\"a\""), "{e}");
        let e = Fleet::parse(
            "[[device]]\nname = \"a\"\ntcp = \"x:1\"\n[[device]]\nname = \"a\"\ntcp = \"y:1\"\n",
        )
        .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e =
            Fleet::parse("[rollout]\ncanary = \"z\"\n[[device]]\nname = \"a\"\ntcp = \"x:1\"\n")
                .unwrap_err();
        assert!(e.contains("canary"), "{e}");
        assert!(Fleet::parse("").unwrap_err().contains("no devices"));
    }
}
