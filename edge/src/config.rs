//! The daemon's configuration: the TOML schema, loading with board/camera profiles merged
//! underneath, validation whose errors name the offending key, and get/set by dotted key
//! (what the link's `ConfigGet`/`ConfigSet` use) plus TOML export/import.
//!
//! Every section has defaults, so a minimal file only says what differs. Unknown keys are
//! refused (a typo must not silently fall back to a default on a device that runs for months).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the daemon looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/dipnuc/edge.toml";

/// Keys whose value may be absent; `get` answers [`ConfigError::Unset`] for them instead of
/// [`ConfigError::UnknownKey`].
pub const OPTIONAL_KEYS: &[&str] = &[
    "profile",
    "camera.device",
    "camera.path",
    "camera.profile",
    "correction.clamp_max",
    "outputs.loopback",
    "outputs.snapshot_dir",
    "link.tcp.listen",
    "link.tcp.token",
    "link.serial.port",
    "gpio.shutter_pin",
    "gpio.led_pin",
    "firmware.public_key",
    "firmware.slots_dir",
];

/// A configuration problem. Every variant names the key (dotted path) it is about.
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
    /// The TOML did not parse or did not fit the schema (unknown key, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// File or key the text came from.
        origin: String,
        /// The TOML/serde message (it names the key and line).
        message: String,
    },
    /// A value is out of range or inconsistent.
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
}

impl ConfigError {
    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. }
            | ConfigError::UnknownKey { key }
            | ConfigError::Unset { key } => Some(key),
            _ => None,
        }
    }

    fn invalid(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// A board or camera profile (TOML file) merged underneath this file's own keys.
    pub profile: Option<PathBuf>,
    /// More profiles, merged in order (later ones win, this file wins over all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<PathBuf>,
    /// Identity of this device.
    pub device: DeviceConfig,
    /// The camera and how frames are read.
    pub camera: CameraConfig,
    /// Per-frame correction.
    pub correction: CorrectionConfig,
    /// Pattern estimation and its budget.
    pub fit: FitSection,
    /// Where the pattern is persisted.
    pub pattern: PatternConfig,
    /// Corrected-frame outputs.
    pub outputs: OutputsConfig,
    /// The host link (TCP, serial).
    pub link: LinkConfig,
    /// GPIO: shutter trigger and status LED.
    pub gpio: GpioConfig,
    /// Capture watchdog.
    pub watchdog: WatchdogConfig,
    /// Firmware update (A/B slots).
    pub firmware: FirmwareConfig,
}

/// Device identity, reported in `Hello` and `Info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Device id (at most 32 bytes).
    pub id: String,
    /// Board name (e.g. `jetson-orin-nano`, `raspberry-pi-5`, `sim`).
    pub board: String,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            id: "dipnuc-edge".into(),
            board: "generic".into(),
        }
    }
}

/// Which kind of frame source to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A V4L2 capture device.
    V4l2,
    /// The built-in simulated camera.
    Sim,
    /// A folder of PNG/TIFF frames, replayed in name order.
    Replay,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::V4l2 => "v4l2",
            SourceKind::Sim => "sim",
            SourceKind::Replay => "replay",
        })
    }
}

/// Pixel format of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// 16-bit little-endian grey (Lepton on PureThermal, Boson).
    Y16,
    /// 8-bit grey.
    Grey,
    /// 10-bit grey in 16-bit words.
    Y10,
    /// 12-bit grey in 16-bit words.
    Y12,
}

impl PixelFormat {
    /// Bytes per pixel in the V4L2 buffer.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Grey => 1,
            _ => 2,
        }
    }

    /// The V4L2 fourcc code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Y16 => *b"Y16 ",
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Y10 => *b"Y10 ",
            PixelFormat::Y12 => *b"Y12 ",
        }
    }
}

/// The camera section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    /// Camera profile merged under this section (see `boards/cameras/`).
    pub profile: Option<PathBuf>,
    /// Camera model name, stored with patterns.
    pub name: String,
    /// Source kind.
    pub source: SourceKind,
    /// V4L2 device: a path (`/dev/video0`) or a name substring matched against the card name.
    pub device: Option<String>,
    /// Replay folder.
    pub path: Option<PathBuf>,
    /// Replay: start again from the first frame after the last.
    pub replay_loop: bool,
    /// V4L2 pixel format.
    pub format: PixelFormat,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second (sim and replay pace themselves at this rate).
    #[serde(serialize_with = "short_f32")]
    pub fps: f32,
    /// Significant bits per pixel (14 for a Lepton/Boson raw stream).
    pub bit_depth: u8,
    /// Parameters of the simulated camera.
    pub sim: SimConfig,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            profile: None,
            name: "generic-y16".into(),
            source: SourceKind::V4l2,
            device: None,
            path: None,
            replay_loop: true,
            format: PixelFormat::Y16,
            width: 160,
            height: 120,
            fps: 9.0,
            bit_depth: 14,
            sim: SimConfig::default(),
        }
    }
}

/// Parameters of the simulated camera (all in raw digital numbers, DN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every random draw (scene texture, patterns, temporal noise).
    pub seed: u64,
    /// Mean scene level.
    #[serde(serialize_with = "short_f32")]
    pub scene_level: f32,
    /// Scene contrast (amplitude of the moving objects).
    #[serde(serialize_with = "short_f32")]
    pub scene_contrast: f32,
    /// Speed of the scene motion in pixels per second.
    #[serde(serialize_with = "short_f32")]
    pub motion_px_per_s: f32,
    /// Standard deviation of the per-column offsets at the reference temperature.
    #[serde(serialize_with = "short_f32")]
    pub column_fpn: f32,
    /// Standard deviation of the per-pixel offsets at the reference temperature.
    #[serde(serialize_with = "short_f32")]
    pub pixel_fpn: f32,
    /// Amplitude of the low-frequency pattern.
    #[serde(serialize_with = "short_f32")]
    pub lpn: f32,
    /// Relative change of the pattern per °C away from the reference temperature.
    #[serde(serialize_with = "short_f32")]
    pub drift_per_c: f32,
    /// Standard deviation of the temporal (per-frame) noise.
    #[serde(serialize_with = "short_f32")]
    pub temporal_noise: f32,
    /// Sensor temperature at the start, °C (also the reference temperature).
    #[serde(serialize_with = "short_f32")]
    pub temp_start_c: f32,
    /// Linear sensor temperature drift, °C per minute.
    #[serde(serialize_with = "short_f32")]
    pub temp_drift_c_per_min: f32,
    /// Amplitude of a slow temperature oscillation, °C.
    #[serde(serialize_with = "short_f32")]
    pub temp_wobble_c: f32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 7,
            scene_level: 7000.0,
            scene_contrast: 2500.0,
            motion_px_per_s: 40.0,
            column_fpn: 120.0,
            pixel_fpn: 25.0,
            lpn: 150.0,
            drift_per_c: 0.04,
            temporal_noise: 6.0,
            temp_start_c: 32.0,
            temp_drift_c_per_min: 0.5,
            temp_wobble_c: 0.5,
        }
    }
}

/// Per-frame correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrectionConfig {
    /// Whether the pattern is subtracted at all (raw frames pass through when false).
    pub enabled: bool,
    /// Constant added after subtracting the pattern, DN (-16384..=16384).
    pub offset: i32,
    /// Lowest output value.
    pub clamp_min: u16,
    /// Highest output value; default `2^bit_depth - 1`.
    pub clamp_max: Option<u16>,
    /// Dead/stuck pixels `[x, y]`, replaced by the mean of their good 4-neighbours.
    pub bad_pixels: Vec<[u32; 2]>,
    /// A new pattern is blended in linearly over this many frames (0 or 1 = at once).
    pub blend_frames: u32,
}

impl Default for CorrectionConfig {
    fn default() -> Self {
        CorrectionConfig {
            enabled: true,
            offset: 0,
            clamp_min: 0,
            clamp_max: None,
            bad_pixels: Vec::new(),
            blend_frames: 15,
        }
    }
}

/// Fit (pattern estimation) section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FitSection {
    /// `tv-dip`, `cp-tv` or `colmean`.
    pub method: String,
    /// Method used when the configured device is not available (CPU-only boards).
    pub cpu_method: String,
    /// Engine preset (`fast`, `paper`, `refine`).
    pub preset: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Resolution the network is fitted at, as a reduction factor (1 = full, 8 = an eighth);
    /// 0 = the preset's. A GPU board affords a finer one than a CPU board.
    pub downscale: usize,
    /// Frames kept in the fit set.
    pub frames: usize,
    /// Minimum mean absolute difference (DN, on an 8×8-block thumbnail) between a new frame and
    /// every frame already in the set; closer frames are near-duplicates and skipped.
    #[serde(serialize_with = "short_f32")]
    pub min_motion_dn: f32,
    /// How often a frame is considered for the set, ms.
    pub collect_interval_ms: u64,
    /// Static-scene guard: a fit starts only when the frame set's scene moved over at least
    /// this fraction of the frame (8×8-block thumbnails that changed by `min_motion_dn`), so a
    /// scene stared at never burns into the pattern. 0 = no guard.
    #[serde(serialize_with = "short_f32")]
    pub min_moving_fraction: f32,
    /// Fit once at start when no stored pattern exists.
    pub fit_on_start: bool,
    /// Memory cap of a network fit, MiB (refused up front when the estimate exceeds it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_mb: Option<u64>,
    /// Compute budget.
    pub budget: BudgetConfig,
    /// Refit triggers.
    pub triggers: TriggerConfig,
}

impl Default for FitSection {
    fn default() -> Self {
        FitSection {
            method: "cp-tv".into(),
            cpu_method: "cp-tv".into(),
            preset: "fast".into(),
            device: "cpu".into(),
            downscale: 0,
            frames: 12,
            min_motion_dn: 8.0,
            collect_interval_ms: 250,
            min_moving_fraction: 0.5,
            fit_on_start: true,
            max_memory_mb: None,
            budget: BudgetConfig::default(),
            triggers: TriggerConfig::default(),
        }
    }
}

/// How much compute refits may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Compute (GPU, or CPU without one) seconds that fits may use in any sliding hour.
    #[serde(serialize_with = "short_f32")]
    pub gpu_seconds_per_hour: f32,
    /// Maximum optimisation steps of one fit.
    pub max_steps: u32,
    /// Maximum wall-clock seconds of one fit.
    #[serde(serialize_with = "short_f32")]
    pub max_seconds: f32,
    /// Fraction of wall time the fit may compute (0 < d ≤ 1); it sleeps the rest.
    #[serde(serialize_with = "short_f32")]
    pub duty_cycle: f32,
    /// Niceness of the fit thread (0..=19).
    pub nice: i32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            gpu_seconds_per_hour: 300.0,
            max_steps: 2000,
            max_seconds: 120.0,
            duty_cycle: 1.0,
            nice: 10,
        }
    }
}

/// When to refit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriggerConfig {
    /// Refit when the pattern is older than this, seconds (0 = never by age).
    pub max_age_s: u64,
    /// Refit when the sensor temperature moved this far from the pattern's, °C (0 = off).
    #[serde(serialize_with = "short_f32")]
    pub temp_drift_c: f32,
    /// Refit when the roughness of corrected frames rose by this fraction over its value right
    /// after the last fit (0.25 = +25 %; 0 = off).
    #[serde(serialize_with = "short_f32")]
    pub roughness_rise: f32,
    /// Minimum seconds between two automatic refits.
    pub min_interval_s: u64,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        TriggerConfig {
            max_age_s: 3600,
            temp_drift_c: 2.0,
            roughness_rise: 0.25,
            min_interval_s: 60,
        }
    }
}

/// Pattern persistence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatternConfig {
    /// The pattern file (written atomically; a `.tmp` sibling is used during saves).
    pub store: PathBuf,
}

impl Default for PatternConfig {
    fn default() -> Self {
        PatternConfig {
            store: PathBuf::from("/var/lib/dipnuc/pattern.dnp"),
        }
    }
}

/// Outputs of corrected frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsConfig {
    /// V4L2 loopback device that receives corrected frames (Y16).
    pub loopback: Option<PathBuf>,
    /// Folder for periodic 16-bit PNG snapshots.
    pub snapshot_dir: Option<PathBuf>,
    /// Seconds between snapshots (0 = off).
    pub snapshot_interval_s: u64,
    /// Snapshots kept in the folder (oldest removed first).
    pub snapshot_keep: usize,
}

impl Default for OutputsConfig {
    fn default() -> Self {
        OutputsConfig {
            loopback: None,
            snapshot_dir: None,
            snapshot_interval_s: 0,
            snapshot_keep: 100,
        }
    }
}

/// The host link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LinkConfig {
    /// TCP server.
    pub tcp: TcpConfig,
    /// Serial server.
    pub serial: SerialConfig,
}

/// TCP link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpConfig {
    /// Listen address, e.g. `0.0.0.0:7700`; port 0 picks a free port. None = no TCP server.
    pub listen: Option<String>,
    /// Pre-shared token a client must present (`Auth`) before anything but `Hello`.
    pub token: Option<String>,
    /// Most simultaneous clients.
    pub max_clients: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            listen: None,
            token: None,
            max_clients: 8,
        }
    }
}

/// Serial link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SerialConfig {
    /// Serial device (UART or USB gadget, e.g. `/dev/ttyGS0`). None = no serial server.
    pub port: Option<String>,
    /// Baud rate.
    pub baud: u32,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            port: None,
            baud: 921_600,
        }
    }
}

/// Which GPIO driver to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpioBoard {
    /// No GPIO.
    None,
    /// Raspberry Pi (rppal).
    RaspberryPi,
    /// Linux GPIO character device (Jetson and others).
    Cdev,
}

/// GPIO section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpioConfig {
    /// Driver.
    pub board: GpioBoard,
    /// Character device for `cdev` (e.g. `/dev/gpiochip0`).
    pub chip: PathBuf,
    /// Shutter/FFC trigger output line (BCM number on a Pi, line offset on cdev).
    pub shutter_pin: Option<u32>,
    /// Status LED line.
    pub led_pin: Option<u32>,
    /// Length of a shutter pulse, ms.
    pub shutter_pulse_ms: u64,
}

impl Default for GpioConfig {
    fn default() -> Self {
        GpioConfig {
            board: GpioBoard::None,
            chip: PathBuf::from("/dev/gpiochip0"),
            shutter_pin: None,
            led_pin: None,
            shutter_pulse_ms: 50,
        }
    }
}

/// Capture watchdog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchdogConfig {
    /// Seconds without a frame before the capture is restarted.
    #[serde(serialize_with = "short_f32")]
    pub capture_timeout_s: f32,
    /// Seconds between reconnection attempts of a lost source.
    #[serde(serialize_with = "short_f32")]
    pub reconnect_interval_s: f32,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            capture_timeout_s: 5.0,
            reconnect_interval_s: 1.0,
        }
    }
}

/// Firmware update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmwareConfig {
    /// Ed25519 public key (64 hex digits) that firmware images must be signed with.
    pub public_key: Option<String>,
    /// Folder holding the A/B slots and the slot state.
    pub slots_dir: Option<PathBuf>,
    /// Seconds a new image has to be confirmed healthy before it is rolled back.
    pub confirm_timeout_s: u64,
}

impl Default for FirmwareConfig {
    fn default() -> Self {
        FirmwareConfig {
            public_key: None,
            slots_dir: None,
            confirm_timeout_s: 120,
        }
    }
}

impl EdgeConfig {
    /// Loads a config file, merges its profiles underneath, and validates it.
    pub fn load(path: &Path) -> Result<EdgeConfig, ConfigError> {
        let table = load_table_with_profiles(path)?;
        let cfg = EdgeConfig::from_table(table, &path.display().to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates TOML text (no profile resolution beyond paths already absolute or
    /// relative to the working directory).
    pub fn from_toml_str(text: &str) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::from_toml_str_in(text, Path::new("."))
    }

    /// Parses and validates TOML text whose relative profile paths are relative to `dir` (the
    /// folder of the config file it will replace).
    pub fn from_toml_str_in(text: &str, dir: &Path) -> Result<EdgeConfig, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: "config text".into(),
                message: e.to_string(),
            })?;
        let table = merge_profiles(table, dir)?;
        let cfg = EdgeConfig::from_table(table, "config text")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim().to_string(),
        })
    }

    /// The configuration as TOML text (what `ConfigExport` sends). The profiles are already
    /// merged in, so their references are left out: the text stands on its own wherever it is
    /// imported or saved.
    pub fn to_toml_string(&self) -> String {
        let mut flat = self.clone();
        flat.profile = None;
        flat.profiles.clear();
        flat.camera.profile = None;
        toml::to_string_pretty(&flat).expect("config always serialises to TOML")
    }

    /// Highest output value of the correction.
    pub fn clamp_max(&self) -> u16 {
        self.correction
            .clamp_max
            .unwrap_or(((1u32 << self.camera.bit_depth.min(16)) - 1) as u16)
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.camera;
        if self.device.id.is_empty() || self.device.id.len() > 32 {
            return Err(ConfigError::invalid("device.id", "must be 1 to 32 bytes"));
        }
        if !(8..=4096).contains(&c.width) {
            return Err(ConfigError::invalid("camera.width", "must be 8..=4096"));
        }
        if !(8..=4096).contains(&c.height) {
            return Err(ConfigError::invalid("camera.height", "must be 8..=4096"));
        }
        if !(c.fps > 0.0 && c.fps <= 1000.0) {
            return Err(ConfigError::invalid(
                "camera.fps",
                "must be > 0 and <= 1000",
            ));
        }
        if !(8..=16).contains(&c.bit_depth) {
            return Err(ConfigError::invalid("camera.bit_depth", "must be 8..=16"));
        }
        match c.source {
            SourceKind::Replay if c.path.is_none() => {
                return Err(ConfigError::invalid(
                    "camera.path",
                    "required when camera.source = \"replay\"",
                ));
            }
            SourceKind::V4l2 if c.device.as_deref().is_none_or(str::is_empty) => {
                return Err(ConfigError::invalid(
                    "camera.device",
                    "required when camera.source = \"v4l2\" (a path like /dev/video0 or a card name)",
                ));
            }
            _ => {}
        }
        let s = &c.sim;
        for (key, v) in [
            ("camera.sim.column_fpn", s.column_fpn),
            ("camera.sim.pixel_fpn", s.pixel_fpn),
            ("camera.sim.lpn", s.lpn),
            ("camera.sim.temporal_noise", s.temporal_noise),
            ("camera.sim.scene_contrast", s.scene_contrast),
            ("camera.sim.motion_px_per_s", s.motion_px_per_s),
            ("camera.sim.temp_wobble_c", s.temp_wobble_c),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError::invalid(key, "must be a finite number >= 0"));
            }
        }
        let full = ((1u32 << c.bit_depth) - 1) as f32;
        if !(s.scene_level > 0.0 && s.scene_level < full) {
            return Err(ConfigError::invalid(
                "camera.sim.scene_level",
                format!("must be inside the sensor range 0..{full}"),
            ));
        }
        let corr = &self.correction;
        if !(-16384..=16384).contains(&corr.offset) {
            return Err(ConfigError::invalid(
                "correction.offset",
                "must be -16384..=16384",
            ));
        }
        if corr.clamp_min >= self.clamp_max() {
            return Err(ConfigError::invalid(
                "correction.clamp_min",
                "must be below correction.clamp_max",
            ));
        }
        if let Some([x, y]) = corr
            .bad_pixels
            .iter()
            .find(|[x, y]| *x >= c.width || *y >= c.height)
        {
            return Err(ConfigError::invalid(
                "correction.bad_pixels",
                format!("[{x}, {y}] is outside the {}x{} frame", c.width, c.height),
            ));
        }
        let f = &self.fit;
        for (key, m) in [("fit.method", &f.method), ("fit.cpu_method", &f.cpu_method)] {
            if !["tv-dip", "cp-tv", "colmean"].contains(&m.as_str()) {
                return Err(ConfigError::invalid(
                    key,
                    format!("unknown method {m:?}; expected tv-dip, cp-tv or colmean"),
                ));
            }
        }
        if f.device != "cpu" && !is_cuda_device(&f.device) {
            return Err(ConfigError::invalid(
                "fit.device",
                format!("unknown device {:?}; expected cpu or cuda:N", f.device),
            ));
        }
        if f.downscale > 16 {
            return Err(ConfigError::invalid(
                "fit.downscale",
                "must be 0 (the preset's) or 1..=16",
            ));
        }
        if !(2..=256).contains(&f.frames) {
            return Err(ConfigError::invalid("fit.frames", "must be 2..=256"));
        }
        if !(f.min_motion_dn.is_finite() && f.min_motion_dn >= 0.0) {
            return Err(ConfigError::invalid("fit.min_motion_dn", "must be >= 0"));
        }
        if !(0.0..=1.0).contains(&f.min_moving_fraction) {
            return Err(ConfigError::invalid(
                "fit.min_moving_fraction",
                "must be 0..=1",
            ));
        }
        if corr.blend_frames > 10_000 {
            return Err(ConfigError::invalid(
                "correction.blend_frames",
                "must be 0..=10000",
            ));
        }
        let b = &f.budget;
        if !(b.gpu_seconds_per_hour > 0.0 && b.gpu_seconds_per_hour <= 3600.0) {
            return Err(ConfigError::invalid(
                "fit.budget.gpu_seconds_per_hour",
                "must be > 0 and <= 3600",
            ));
        }
        if b.max_steps == 0 {
            return Err(ConfigError::invalid("fit.budget.max_steps", "must be >= 1"));
        }
        if !(b.max_seconds > 0.0 && b.max_seconds.is_finite()) {
            return Err(ConfigError::invalid(
                "fit.budget.max_seconds",
                "must be > 0",
            ));
        }
        if !(b.duty_cycle > 0.0 && b.duty_cycle <= 1.0) {
            return Err(ConfigError::invalid(
                "fit.budget.duty_cycle",
                "must be > 0 and <= 1",
            ));
        }
        if !(0..=19).contains(&b.nice) {
            return Err(ConfigError::invalid("fit.budget.nice", "must be 0..=19"));
        }
        let t = &f.triggers;
        if !(t.temp_drift_c.is_finite() && t.temp_drift_c >= 0.0) {
            return Err(ConfigError::invalid(
                "fit.triggers.temp_drift_c",
                "must be >= 0",
            ));
        }
        if !(t.roughness_rise.is_finite() && t.roughness_rise >= 0.0) {
            return Err(ConfigError::invalid(
                "fit.triggers.roughness_rise",
                "must be >= 0",
            ));
        }
        if self.pattern.store.as_os_str().is_empty() {
            return Err(ConfigError::invalid("pattern.store", "must be a file path"));
        }
        if self.outputs.snapshot_interval_s > 0 && self.outputs.snapshot_dir.is_none() {
            return Err(ConfigError::invalid(
                "outputs.snapshot_dir",
                "required when outputs.snapshot_interval_s > 0",
            ));
        }
        if let Some(listen) = &self.link.tcp.listen
            && listen.parse::<SocketAddr>().is_err()
        {
            return Err(ConfigError::invalid(
                "link.tcp.listen",
                format!("{listen:?} is not an address like 127.0.0.1:7700"),
            ));
        }
        if let Some(token) = &self.link.tcp.token
            && (token.is_empty() || token.len() > 64)
        {
            return Err(ConfigError::invalid(
                "link.tcp.token",
                "must be 1 to 64 bytes",
            ));
        }
        if self.link.tcp.max_clients == 0 {
            return Err(ConfigError::invalid("link.tcp.max_clients", "must be >= 1"));
        }
        if self.link.serial.baud == 0 {
            return Err(ConfigError::invalid("link.serial.baud", "must be > 0"));
        }
        if self.gpio.board != GpioBoard::None
            && self.gpio.shutter_pin.is_none()
            && self.gpio.led_pin.is_none()
        {
            return Err(ConfigError::invalid(
                "gpio.board",
                "set gpio.shutter_pin and/or gpio.led_pin, or gpio.board = \"none\"",
            ));
        }
        if self.watchdog.capture_timeout_s.is_nan() || self.watchdog.capture_timeout_s < 0.1 {
            return Err(ConfigError::invalid(
                "watchdog.capture_timeout_s",
                "must be >= 0.1",
            ));
        }
        if self.watchdog.reconnect_interval_s.is_nan() || self.watchdog.reconnect_interval_s < 0.01
        {
            return Err(ConfigError::invalid(
                "watchdog.reconnect_interval_s",
                "must be >= 0.01",
            ));
        }
        if let Some(key) = &self.firmware.public_key
            && formats::firmware::parse_public_key(key).is_err()
        {
            return Err(ConfigError::invalid(
                "firmware.public_key",
                "must be 64 hex digits (an Ed25519 public key)",
            ));
        }
        Ok(())
    }

    /// The value at a dotted key as TOML literal text (`8192`, `"cp-tv"`, `[[1, 2]]`).
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        let root = toml::Value::try_from(self).expect("config always serialises to TOML");
        let mut cur = &root;
        for part in key.split('.') {
            match cur.get(part) {
                Some(v) => cur = v,
                None if OPTIONAL_KEYS.contains(&key) => {
                    return Err(ConfigError::Unset { key: key.into() });
                }
                None => return Err(ConfigError::UnknownKey { key: key.into() }),
            }
        }
        Ok(match cur {
            toml::Value::Table(t) => toml::to_string(t).unwrap_or_default(),
            v => v.to_string(),
        })
    }

    /// A copy with the dotted key set to `value` (TOML literal text; bare words are taken as
    /// strings), validated as a whole. `self` is unchanged on error.
    pub fn with_value(&self, key: &str, value: &str) -> Result<EdgeConfig, ConfigError> {
        let parts: Vec<&str> = key.split('.').collect();
        if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::UnknownKey { key: key.into() });
        }
        let parsed = parse_literal(value).map_err(|reason| ConfigError::Invalid {
            key: key.into(),
            reason,
        })?;
        let mut root = toml::Value::try_from(self).expect("config always serialises to TOML");
        let mut cur = &mut root;
        for (i, part) in parts.iter().enumerate() {
            let table = cur
                .as_table_mut()
                .ok_or_else(|| ConfigError::UnknownKey { key: key.into() })?;
            if i + 1 == parts.len() {
                let known = table.contains_key(*part) || OPTIONAL_KEYS.contains(&key);
                if !known {
                    return Err(ConfigError::UnknownKey { key: key.into() });
                }
                if matches!(table.get(*part), Some(toml::Value::Table(_))) {
                    return Err(ConfigError::Invalid {
                        key: key.into(),
                        reason: "is a section; set its keys one by one".into(),
                    });
                }
                table.insert(part.to_string(), parsed.clone());
                break;
            }
            cur = table
                .get_mut(*part)
                .ok_or_else(|| ConfigError::UnknownKey { key: key.into() })?;
        }
        let new = EdgeConfig::deserialize(root).map_err(|e| ConfigError::Invalid {
            key: key.into(),
            reason: e.to_string().trim().to_string(),
        })?;
        new.validate()?;
        Ok(new)
    }
}

/// Writes an `f32` as the shortest decimal that reads back to it (`0.04`, not the `f64`
/// widening `0.03999999910593033`), so exports and `ConfigGet` show what the user wrote.
fn short_f32<S: serde::Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    let shortest: f64 = v.to_string().parse().unwrap_or(f64::from(*v));
    s.serialize_f64(shortest)
}

fn is_cuda_device(s: &str) -> bool {
    s.strip_prefix("cuda:")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Parses a TOML literal; a bare word that is not valid TOML is taken as a string, so
/// `fit.method = cp-tv` works as well as `"cp-tv"`.
fn parse_literal(text: &str) -> Result<toml::Value, String> {
    let doc = format!("v = {text}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => Ok(t.remove("v").expect("key v was just written")),
        Err(e) => {
            let bare = text.trim();
            if !bare.is_empty()
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:/.".contains(c))
            {
                Ok(toml::Value::String(bare.to_string()))
            } else {
                Err(format!("{text:?} is not a TOML value: {}", e.message()))
            }
        }
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
        origin: path.display().to_string(),
        message: e.to_string().trim().to_string(),
    })
}

fn load_table_with_profiles(path: &Path) -> Result<toml::Table, ConfigError> {
    let table = read_table(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    merge_profiles(table, dir)
}

/// Resolves a profile path: absolute, relative to the referencing file's folder, or relative to
/// the working directory (so `boards/cameras/lepton35.toml` works from the repository root).
fn resolve_profile(key: &str, raw: &Path, dir: &Path) -> Result<PathBuf, ConfigError> {
    if raw.is_absolute() {
        return Ok(raw.to_path_buf());
    }
    let candidates = [dir.join(raw), raw.to_path_buf()];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            ConfigError::invalid(
                key,
                format!(
                    "profile {} not found (looked in {} and the working directory)",
                    raw.display(),
                    dir.display()
                ),
            )
        })
}

/// Merges the profiles named by `table` underneath it: the file's own keys win.
fn merge_profiles(table: toml::Table, dir: &Path) -> Result<toml::Table, ConfigError> {
    let mut refs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(p) = table.get("profile") {
        let s = p
            .as_str()
            .ok_or_else(|| ConfigError::invalid("profile", "must be a path string"))?;
        refs.push(("profile".into(), PathBuf::from(s)));
    }
    if let Some(list) = table.get("profiles") {
        let arr = list
            .as_array()
            .ok_or_else(|| ConfigError::invalid("profiles", "must be a list of paths"))?;
        for v in arr {
            let s = v
                .as_str()
                .ok_or_else(|| ConfigError::invalid("profiles", "must be a list of paths"))?;
            refs.push(("profiles".into(), PathBuf::from(s)));
        }
    }
    if let Some(p) = table.get("camera").and_then(|c| c.get("profile")) {
        let s = p
            .as_str()
            .ok_or_else(|| ConfigError::invalid("camera.profile", "must be a path string"))?;
        refs.push(("camera.profile".into(), PathBuf::from(s)));
    }
    let mut base = toml::Table::new();
    for (key, raw) in refs {
        let path = resolve_profile(&key, &raw, dir)?;
        let mut profile = read_table(&path)?;
        // A profile may not pull in further profiles: keeps resolution obvious and cycle-free.
        profile.remove("profile");
        profile.remove("profiles");
        if key == "camera.profile" {
            // A camera profile is written either with a [camera] section or bare camera keys.
            let camera = match profile.remove("camera") {
                Some(toml::Value::Table(t)) => t,
                _ => profile,
            };
            let mut wrapped = toml::Table::new();
            wrapped.insert("camera".into(), toml::Value::Table(camera));
            deep_merge(&mut base, wrapped);
        } else {
            deep_merge(&mut base, profile);
        }
    }
    deep_merge(&mut base, table);
    Ok(base)
}

/// Merges `top` over `base`: tables merge key by key, anything else is replaced.
fn deep_merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => deep_merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> EdgeConfig {
        EdgeConfig::from_toml_str(
            "[camera]\nsource = \"sim\"\nwidth = 64\nheight = 48\n[pattern]\nstore = \"/tmp/x.dnp\"\n",
        )
        .unwrap()
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            EdgeConfig::from_toml_str("[correction]\noffset = 99999\n[camera]\nsource = \"sim\"")
                .unwrap_err();
        assert_eq!(e.key(), Some("correction.offset"), "{e}");
        assert!(
            e.to_string().starts_with("correction.offset: must be"),
            "{e}"
        );

        let e = EdgeConfig::from_toml_str("[camera]\nsource = \"v4l2\"").unwrap_err();
        assert_eq!(e.key(), Some("camera.device"));

        let e = EdgeConfig::from_toml_str("[camera]\nsource = \"sim\"\nwidht = 3").unwrap_err();
        assert!(e.to_string().contains("widht"), "{e}");

        let e = EdgeConfig::from_toml_str("[camera]\nsource = \"sim\"\n[fit]\nmethod = \"magic\"")
            .unwrap_err();
        assert_eq!(e.key(), Some("fit.method"));
    }

    #[test]
    fn dotted_get_and_set() {
        let cfg = sim();
        assert_eq!(cfg.get("camera.width").unwrap(), "64");
        assert_eq!(cfg.get("fit.method").unwrap(), "\"cp-tv\"");
        let c2 = cfg.with_value("fit.method", "colmean").unwrap();
        assert_eq!(c2.fit.method, "colmean");
        let c3 = c2.with_value("correction.offset", "100").unwrap();
        assert_eq!(c3.correction.offset, 100);
        let e = cfg.with_value("correction.offset", "1e9").unwrap_err();
        assert_eq!(e.key(), Some("correction.offset"));
        let e = cfg.with_value("correction.offset", "\"abc\"").unwrap_err();
        assert_eq!(e.key(), Some("correction.offset"), "{e}");
        assert!(matches!(
            cfg.with_value("camera.nope", "1"),
            Err(ConfigError::UnknownKey { .. })
        ));
        assert!(matches!(
            cfg.get("outputs.loopback"),
            Err(ConfigError::Unset { .. })
        ));
        let c4 = cfg
            .with_value("outputs.loopback", "\"/dev/video9\"")
            .unwrap();
        assert_eq!(c4.get("outputs.loopback").unwrap(), "\"/dev/video9\"");
        let c5 = cfg
            .with_value("link.tcp.listen", "\"127.0.0.1:0\"")
            .unwrap();
        assert_eq!(c5.link.tcp.listen.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn floats_read_back_as_written() {
        let cfg = sim()
            .with_value("fit.triggers.roughness_rise", "0.3")
            .unwrap();
        assert_eq!(cfg.get("fit.triggers.roughness_rise").unwrap(), "0.3");
        assert!(cfg.to_toml_string().contains("drift_per_c = 0.04\n"));
    }

    #[test]
    fn export_import_round_trip() {
        let cfg = sim()
            .with_value("correction.bad_pixels", "[[1, 2]]")
            .unwrap();
        let text = cfg.to_toml_string();
        assert_eq!(EdgeConfig::from_toml_str(&text).unwrap(), cfg);
    }

    #[test]
    fn profiles_merge_under_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cameras")).unwrap();
        std::fs::write(
            dir.path().join("cameras/cam.toml"),
            "name = \"cam\"\nwidth = 320\nheight = 256\nfps = 60.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("board.toml"),
            "[device]\nboard = \"b\"\n[fit]\nmethod = \"colmean\"\n",
        )
        .unwrap();
        let main = dir.path().join("edge.toml");
        std::fs::write(
            &main,
            "profile = \"board.toml\"\n[camera]\nprofile = \"cameras/cam.toml\"\nsource = \"sim\"\nfps = 30.0\n",
        )
        .unwrap();
        let cfg = EdgeConfig::load(&main).unwrap();
        assert_eq!(cfg.camera.width, 320);
        assert_eq!(cfg.camera.name, "cam");
        assert_eq!(cfg.camera.fps, 30.0);
        assert_eq!(cfg.device.board, "b");
        assert_eq!(cfg.fit.method, "colmean");

        // An export is self-contained: it imports from anywhere, profiles already merged.
        let exported = cfg.to_toml_string();
        assert!(!exported.contains("profile"), "{exported}");
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            EdgeConfig::from_toml_str_in(&exported, elsewhere.path()).unwrap(),
            EdgeConfig {
                profile: None,
                profiles: Vec::new(),
                camera: CameraConfig {
                    profile: None,
                    ..cfg.camera.clone()
                },
                ..cfg.clone()
            }
        );
        // Relative profile paths in imported text resolve against the config's folder.
        let text = "profile = \"board.toml\"\n[camera]\nsource = \"sim\"\n";
        assert_eq!(
            EdgeConfig::from_toml_str_in(text, dir.path())
                .unwrap()
                .device
                .board,
            "b"
        );

        std::fs::write(&main, "profile = \"missing.toml\"\n").unwrap();
        let e = EdgeConfig::load(&main).unwrap_err();
        assert_eq!(e.key(), Some("profile"), "{e}");
    }
}
