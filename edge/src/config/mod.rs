//! The daemon's configuration.
//!
//! - [`sections`]: the typed tree the daemon's code reads (`cfg.fit.frames`), with defaults,
//!   so a minimal file only says what differs; [`choices`]: its enums (methods, presets,
//!   devices, sources), each with its one spelling.
//! - [`keys`]: the table of keys: type, check, live or restart, link-changeable, device-local
//!   or secret. Everything below is derived from it.
//! - [`document`]: TOML in and out through the table (unknown keys are refused: a typo must
//!   not silently fall back to a default on a device that runs for months), dotted get/set,
//!   validation whose errors name the key; [`load`]: files with their board and camera
//!   profiles merged underneath.
//! - [`store`]: what the link may do (secrets redacted, device-local keys refused), with
//!   [`overrides`]: link changes saved in the state folder, layered over the admin's file,
//!   which is never written; [`live`]: the configuration in effect, with a generation.

mod checks;
pub mod choices;
pub mod document;
mod error;
pub mod keys;
pub mod live;
mod load;
pub mod overrides;
pub mod sections;
pub mod store;
mod value;

pub use choices::{FitDevice, GpioBoard, PixelFormat, Preset, SourceKind};
pub use document::{REDACTED, Secrets};
pub use error::ConfigError;
pub use keys::{Access, Apply, KEYS, KeySpec};
pub use live::LiveConfig;
pub use overrides::Overrides;
pub use sections::*;
pub use store::{ConfigChange, ConfigImport, ConfigStore};
pub use value::ConfigValue;

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/dipnuc/edge.toml";
