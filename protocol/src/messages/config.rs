//! Configuration access over the link: dotted keys into the daemon's TOML config, values as
//! TOML literal text. The device validates every value and refuses with a `Nack` naming the key;
//! a set is answered with what it did ([`ConfigChange`]).

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Capacity of a configuration key (`"fit.budget.gpu_seconds_per_hour"`).
pub const CONFIG_KEY_LEN: usize = 48;
/// Capacity of a configuration value as TOML literal text (`"0.5"`, `"\"cp-tv\""`).
pub const CONFIG_VALUE_LEN: usize = 96;

/// A dotted path into the daemon's TOML configuration, e.g. `correction.offset`, `fit.method`.
pub type ConfigKey = String<CONFIG_KEY_LEN>;
/// A TOML literal as text, e.g. `42`, `0.25`, `"cp-tv"`, `true`.
pub type ConfigText = String<CONFIG_VALUE_LEN>;

/// When a changed key takes effect.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigApply {
    /// At once: the running daemon uses the new value.
    Live,
    /// After the daemon restarts (`Reboot`); until then the old value stays in use.
    Restart,
}

/// What a `ConfigSet` did (answer to `ConfigSet`).
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct ConfigChange {
    /// The key.
    pub key: ConfigKey,
    /// The value now configured, as TOML literal text.
    pub value: ConfigText,
    /// Whether it is in use already or after a restart.
    pub apply: ConfigApply,
    /// Whether it was saved on the device (survives a restart); false when the daemon runs
    /// without a state folder or the save failed (the device logs why).
    pub persisted: bool,
}
