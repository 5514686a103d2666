//! The table of configuration keys: for every key its type (the field it reads and writes),
//! its check, when it takes effect ([`Apply`]) and who may change it ([`Access`]). Loading,
//! `get`, `set`, export, import, the link overrides and validation all walk this one table, so
//! adding a key is one entry here plus the field and the code that uses it.
//!
//! A key is `Live` only when the running daemon reads it again after a change: the frame loop
//! (correction, outputs, watchdog), the refit worker (which follows the config generation),
//! the link's `Hello`/`Info`, and `FrameSubscribe` (the `recording` limits). Trust anchors
//! (the firmware key, the token), state paths, every other path and what the device exposes
//! (the metrics address, the mDNS announcement) are device-local: they are changed in the file
//! on the device only.

use std::net::SocketAddr;

use super::checks::{
    Check, above_up_to, at_least, bytes_between, finite_above, finite_at_least, path_given,
    refuse_if, within,
};
use super::choices::{GpioBoard, SourceKind};
use super::sections::EdgeConfig;
use super::value::ConfigValue;

/// When a changed key takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// At once: the running daemon reads it again.
    Live,
    /// When the daemon next starts.
    Restart,
    /// Only while a file is loaded: a profile merged underneath (not exported; an export has
    /// the profiles merged in).
    Load,
}

/// Who may see and change a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and changed over the link (`config get/set/import`).
    Link,
    /// Read over the link, changed only in the file on the device: trust anchors, paths,
    /// profiles, the listen address.
    DeviceLocal,
    /// Device-local and never sent over the link: `get` and export redact it.
    Secret,
}

impl Access {
    /// Whether the link may change the key.
    pub fn link_may_change(self) -> bool {
        self == Access::Link
    }

    /// Whether the value must never leave the device.
    pub fn is_secret(self) -> bool {
        self == Access::Secret
    }
}

/// One configuration key.
pub struct KeySpec {
    /// Dotted path, e.g. `fit.budget.max_steps`.
    pub key: &'static str,
    /// When a change takes effect.
    pub apply: Apply,
    /// Who may see and change it.
    pub access: Access,
    kind: fn() -> String,
    get: fn(&EdgeConfig) -> Option<toml::Value>,
    set: fn(&mut EdgeConfig, &toml::Value) -> Result<(), String>,
    copy: fn(&mut EdgeConfig, &EdgeConfig),
    check: fn(&EdgeConfig) -> Check,
}

impl KeySpec {
    /// What a value looks like (`integer`, `one of: tv-dip, cp-tv, colmean`).
    pub fn kind(&self) -> String {
        (self.kind)()
    }

    /// The key's value in `cfg` (`None`: an optional key that is unset).
    pub fn get(&self, cfg: &EdgeConfig) -> Option<toml::Value> {
        (self.get)(cfg)
    }

    /// Sets the key in `cfg`; the error says what was expected (type and range of the field;
    /// the checks against other keys run in [`KeySpec::check`]).
    pub fn set(&self, cfg: &mut EdgeConfig, v: &toml::Value) -> Result<(), String> {
        (self.set)(cfg, v)
    }

    /// Copies the key's value (set or unset) from `src` into `dst`.
    pub fn copy(&self, dst: &mut EdgeConfig, src: &EdgeConfig) {
        (self.copy)(dst, src)
    }

    /// Checks the key's value in `cfg` (range, and consistency with the keys it depends on).
    pub fn check(&self, cfg: &EdgeConfig) -> Check {
        (self.check)(cfg)
    }
}

/// One table entry: `key!(a.b.c: Type, Apply, Access [, |value, config| check])`.
macro_rules! key {
    ($first:ident $(. $rest:ident)* : $ty:ty, $apply:ident, $access:ident $(, $check:expr)?) => {
        KeySpec {
            key: concat!(stringify!($first) $(, ".", stringify!($rest))*),
            apply: Apply::$apply,
            access: Access::$access,
            kind: <$ty as ConfigValue>::kind,
            get: |c| <$ty as ConfigValue>::to_toml(&c.$first $(.$rest)*),
            set: |c, v| {
                c.$first $(.$rest)* = <$ty as ConfigValue>::from_toml(v)?;
                Ok(())
            },
            copy: |dst, src| dst.$first $(.$rest)* = src.$first $(.$rest)*.clone(),
            check: key!(@check $ty, $first $(. $rest)*, $($check)?),
        }
    };
    (@check $ty:ty, $first:ident $(. $rest:ident)*, ) => {
        |_| Ok(())
    };
    (@check $ty:ty, $first:ident $(. $rest:ident)*, $check:expr) => {
        |c| {
            let check: fn(&$ty, &EdgeConfig) -> Check = $check;
            check(&c.$first $(.$rest)*, c)
        }
    };
}

/// Every configuration key, in the order of an export.
pub static KEYS: &[KeySpec] = &[
    key!(profile: Option<std::path::PathBuf>, Load, DeviceLocal),
    key!(profiles: Vec<std::path::PathBuf>, Load, DeviceLocal),
    // device
    key!(device.id: String, Live, Link, |v, _| bytes_between(v, 1, 32)),
    key!(device.board: String, Live, Link),
    key!(device.state_dir: Option<std::path::PathBuf>, Restart, DeviceLocal, |v, _| {
        v.as_deref().map_or(Ok(()), path_given)
    }),
    // camera
    key!(camera.profile: Option<std::path::PathBuf>, Load, DeviceLocal),
    key!(camera.name: String, Live, Link),
    key!(camera.source: SourceKind, Restart, Link),
    key!(camera.device: Option<String>, Restart, DeviceLocal, |v, c| refuse_if(
        c.camera.source == SourceKind::V4l2 && v.as_deref().is_none_or(str::is_empty),
        "required when camera.source = \"v4l2\" (a path like /dev/video0 or a card name)",
    )),
    key!(camera.path: Option<std::path::PathBuf>, Restart, DeviceLocal, |v, c| refuse_if(
        c.camera.source == SourceKind::Replay && v.is_none(),
        "required when camera.source = \"replay\"",
    )),
    key!(camera.replay_loop: bool, Restart, Link),
    key!(camera.format: super::choices::PixelFormat, Restart, Link),
    key!(camera.width: u32, Restart, Link, |v, _| within(*v, 8, 4096)),
    key!(camera.height: u32, Restart, Link, |v, _| within(*v, 8, 4096)),
    key!(camera.fps: f32, Restart, Link, |v, _| above_up_to(*v, 0.0, 1000.0)),
    key!(camera.bit_depth: u8, Restart, Link, |v, _| within(*v, 8, 16)),
    // camera.sim: read when the simulated camera starts
    key!(camera.sim.seed: u64, Restart, Link),
    key!(camera.sim.scene_level: f32, Restart, Link, |v, c| {
        let full = ((1u32 << c.camera.bit_depth.clamp(8, 16)) - 1) as f32;
        refuse_if(
            !(*v > 0.0 && *v < full),
            &format!("must be inside the sensor range 0..{full}"),
        )
    }),
    key!(camera.sim.scene_contrast: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(camera.sim.motion_px_per_s: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(camera.sim.column_fpn: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(camera.sim.pixel_fpn: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(camera.sim.lpn: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(camera.sim.drift_per_c: f32, Restart, Link, |v, _| refuse_if(
        !v.is_finite(),
        "must be a finite number"
    )),
    key!(camera.sim.temporal_noise: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(camera.sim.temp_start_c: f32, Restart, Link, |v, _| refuse_if(
        !v.is_finite(),
        "must be a finite number"
    )),
    key!(camera.sim.temp_drift_c_per_min: f32, Restart, Link, |v, _| refuse_if(
        !v.is_finite(),
        "must be a finite number"
    )),
    key!(camera.sim.temp_wobble_c: f32, Restart, Link, |v, _| finite_at_least(*v, 0.0)),
    // correction: read for every frame
    key!(correction.enabled: bool, Live, Link),
    key!(correction.offset: i32, Live, Link, |v, _| within(*v, -16384, 16384)),
    key!(correction.clamp_min: u16, Live, Link, |v, c| refuse_if(
        *v >= c.clamp_max(),
        "must be below correction.clamp_max",
    )),
    key!(correction.clamp_max: Option<u16>, Live, Link),
    key!(correction.bad_pixels: Vec<[u32; 2]>, Live, Link, |v, c| {
        let (w, h) = (c.camera.width, c.camera.height);
        match v.iter().find(|[x, y]| *x >= w || *y >= h) {
            Some([x, y]) => Err(format!("[{x}, {y}] is outside the {w}x{h} frame")),
            None => Ok(()),
        }
    }),
    // read when a new pattern lands: a blend under way keeps the length it started with
    key!(correction.blend_frames: u32, Live, Link, |v, _| within(*v, 0, 10_000)),
    // fit: the refit worker follows every change
    key!(fit.method: engine::nuc::Method, Live, Link),
    key!(fit.cpu_method: engine::nuc::Method, Live, Link),
    key!(fit.preset: super::choices::Preset, Live, Link),
    key!(fit.device: super::choices::FitDevice, Live, Link),
    // part of the estimator's key: the next fit builds an estimator at the new resolution
    key!(fit.downscale: usize, Live, Link, |v, _| within(*v, 0, 16)),
    key!(fit.pixel_passes: u32, Live, Link, |v, _| within(*v, 0, 8)),
    key!(fit.frames: usize, Live, Link, |v, _| within(*v, 2, 256)),
    key!(fit.min_motion_dn: f32, Live, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(fit.collect_interval_ms: u64, Live, Link),
    key!(fit.min_moving_fraction: f32, Live, Link, |v, _| within(*v, 0.0, 1.0)),
    key!(fit.fit_on_start: bool, Live, Link),
    key!(fit.max_memory_mb: Option<u64>, Live, Link),
    key!(fit.budget.gpu_seconds_per_hour: f32, Live, Link, |v, _| above_up_to(
        *v, 0.0, 3600.0
    )),
    key!(fit.budget.max_steps: u32, Live, Link, |v, _| at_least(*v, 1)),
    key!(fit.budget.max_seconds: f32, Live, Link, |v, _| finite_above(*v, 0.0)),
    key!(fit.budget.duty_cycle: f32, Live, Link, |v, _| above_up_to(*v, 0.0, 1.0)),
    key!(fit.budget.nice: i32, Live, Link, |v, _| within(*v, 0, 19)),
    key!(fit.triggers.max_age_s: u64, Live, Link),
    key!(fit.triggers.temp_drift_c: f32, Live, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(fit.triggers.roughness_rise: f32, Live, Link, |v, _| finite_at_least(*v, 0.0)),
    key!(fit.triggers.min_interval_s: u64, Live, Link),
    // pattern
    key!(pattern.store: std::path::PathBuf, Restart, DeviceLocal, |v, _| path_given(v)),
    // outputs: the frame loop reopens them when they change
    key!(outputs.loopback: Option<std::path::PathBuf>, Live, DeviceLocal),
    key!(outputs.snapshot_dir: Option<std::path::PathBuf>, Live, DeviceLocal, |v, c| refuse_if(
        c.outputs.snapshot_interval_s > 0 && v.is_none(),
        "required when outputs.snapshot_interval_s > 0",
    )),
    key!(outputs.snapshot_interval_s: u64, Live, Link),
    key!(outputs.snapshot_keep: usize, Restart, Link, |v, _| at_least(*v, 1)),
    // link: read when the servers start
    key!(link.tcp.listen: Option<String>, Restart, DeviceLocal, |v, c| check_listen(v, c)),
    key!(link.tcp.token: Option<String>, Restart, Secret, |v, _| v
        .as_deref()
        .map_or(Ok(()), |t| bytes_between(t, 1, protocol::TOKEN_LEN))),
    key!(link.tcp.allow_unauthenticated: bool, Restart, DeviceLocal),
    key!(link.tcp.max_clients: usize, Restart, Link, |v, _| at_least(*v, 1)),
    key!(link.serial.port: Option<String>, Restart, DeviceLocal),
    key!(link.serial.baud: u32, Restart, Link, |v, _| at_least(*v, 1)),
    key!(link.serial.require_token: bool, Restart, DeviceLocal, |v, c| refuse_if(
        *v && c.link.tcp.token.is_none(),
        "needs link.tcp.token, the token serial peers must present",
    )),
    // gpio: the hardware lines, opened at start
    key!(gpio.board: GpioBoard, Restart, DeviceLocal, |v, c| refuse_if(
        *v != GpioBoard::None && c.gpio.led_pin.is_none(),
        "set gpio.led_pin, or gpio.board = \"none\"",
    )),
    key!(gpio.chip: std::path::PathBuf, Restart, DeviceLocal),
    key!(gpio.led_pin: Option<u32>, Restart, DeviceLocal),
    // watchdog: read on every pass of the capture and watchdog loops
    key!(watchdog.capture_timeout_s: f32, Live, Link, |v, _| refuse_if(
        !(*v >= 0.1 && v.is_finite()),
        "must be >= 0.1"
    )),
    key!(watchdog.reconnect_interval_s: f32, Live, Link, |v, _| refuse_if(
        !(*v >= 0.01 && v.is_finite()),
        "must be >= 0.01"
    )),
    // firmware: the trust anchor and the slots
    key!(firmware.public_key: Option<String>, Restart, DeviceLocal, |v, _| match v {
        Some(k) if formats::firmware::parse_public_key(k).is_err() => {
            Err("must be 64 hex digits (an Ed25519 public key)".into())
        }
        _ => Ok(()),
    }),
    key!(firmware.slots_dir: Option<std::path::PathBuf>, Restart, DeviceLocal),
    key!(firmware.confirm_timeout_s: u64, Restart, Link),
    // metrics: the endpoint is bound at start; where it listens decides who can read it
    key!(metrics.listen: Option<String>, Restart, DeviceLocal, |v, _| v
        .as_deref()
        .map_or(Ok(()), |l| l
            .parse::<SocketAddr>()
            .map(drop)
            .map_err(|_| format!("{l:?} is not an address like 127.0.0.1:7701")))),
    // discovery: announced at start; whether the device announces itself is the admin's
    key!(discovery.enabled: bool, Restart, DeviceLocal, |v, c| refuse_if(
        *v && c.link.tcp.listen.is_none(),
        "announces the TCP link: set link.tcp.listen too",
    )),
    key!(discovery.instance: Option<String>, Restart, Link, |v, _| match v {
        Some(n) if n.is_empty() || n.len() > 63 || n.contains('.') => {
            Err("must be 1 to 63 bytes without dots".into())
        }
        _ => Ok(()),
    }),
    // recording: read at every FrameSubscribe (streams already open keep what they were granted)
    key!(recording.max_fps: f32, Live, Link, |v, _| above_up_to(*v, 0.0, 1000.0)),
    key!(recording.max_streams: usize, Live, Link, |v, _| within(*v, 1, 16)),
];

/// Keys that earlier versions knew and this one ignores (with a warning when a file still
/// sets them), so an admin's file from an older release keeps loading.
pub static RETIRED: &[(&str, &str)] = &[
    (
        "gpio.shutter_pin",
        "the daemon no longer drives a shutter line",
    ),
    (
        "gpio.shutter_pulse_ms",
        "the daemon no longer drives a shutter line",
    ),
];

/// The spec of `key`.
pub fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.key == key)
}

/// Why `key` is ignored, when it is a retired key.
pub fn retired(key: &str) -> Option<&'static str> {
    RETIRED.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

/// Whether `path` names a section (a prefix of keys), not a key.
pub fn is_section(path: &str) -> bool {
    KEYS.iter().any(|s| {
        s.key.len() > path.len() && s.key.starts_with(path) && s.key.as_bytes()[path.len()] == b'.'
    })
}

/// `link.tcp.listen`: an address; a non-loopback one only with a token or an explicit
/// `link.tcp.allow_unauthenticated`.
fn check_listen(listen: &Option<String>, c: &EdgeConfig) -> Check {
    let Some(listen) = listen else {
        return Ok(());
    };
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| format!("{listen:?} is not an address like 127.0.0.1:7700"))?;
    refuse_if(
        !addr.ip().is_loopback() && c.link.tcp.token.is_none() && !c.link.tcp.allow_unauthenticated,
        "not loopback: set link.tcp.token, or link.tcp.allow_unauthenticated = true",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_sections_are_not_keys() {
        for (i, a) in KEYS.iter().enumerate() {
            assert!(
                KEYS[i + 1..].iter().all(|b| b.key != a.key),
                "{} twice",
                a.key
            );
            assert!(!is_section(a.key), "{} is both a key and a section", a.key);
        }
        assert!(is_section("fit.budget") && is_section("camera"));
        assert!(!is_section("fit.budg"));
        assert_eq!(spec("fit.frames").map(|s| s.apply), Some(Apply::Live));
        assert!(spec("link.tcp.token").unwrap().access.is_secret());
        assert!(retired("gpio.shutter_pin").is_some());
    }

    #[test]
    fn every_key_reads_back_what_it_was_set_to() {
        let cfg = EdgeConfig::default();
        for s in KEYS {
            if let Some(v) = s.get(&cfg) {
                let mut c = EdgeConfig::default();
                s.set(&mut c, &v)
                    .unwrap_or_else(|e| panic!("{}: {e}", s.key));
                assert_eq!(s.get(&c), Some(v), "{}", s.key);
            }
        }
    }
}
