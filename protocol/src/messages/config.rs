//! Configuration access over the link: dotted keys into the daemon's TOML config, values as
//! TOML literal text. The device validates every value and refuses with a `Nack` naming the key.

use heapless::String;

/// Capacity of a configuration key (`"fit.budget_gpu_s_per_h"`).
pub const CONFIG_KEY_LEN: usize = 48;
/// Capacity of a configuration value as TOML literal text (`"0.5"`, `"\"cp-tv\""`).
pub const CONFIG_VALUE_LEN: usize = 96;

/// A dotted path into the daemon's TOML configuration, e.g. `correction.offset`, `fit.method`.
pub type ConfigKey = String<CONFIG_KEY_LEN>;
/// A TOML literal as text, e.g. `42`, `0.25`, `"cp-tv"`, `true`.
pub type ConfigText = String<CONFIG_VALUE_LEN>;
