//! The typed configuration tree: one struct per TOML section, with the defaults a minimal file
//! relies on. The daemon's code reads these fields; what each key may hold, when it takes
//! effect and who may change it is in the key table (`keys.rs`).

use std::path::{Path, PathBuf};

use engine::nuc::Method;

use super::choices::{FitDevice, GpioBoard, PixelFormat, Preset, SourceKind};

/// Name of the file, in the state folder, that holds the changes made over the link.
pub const OVERRIDES_FILE: &str = "config-overrides.toml";

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeConfig {
    /// A board or camera profile (TOML file) merged underneath this file's own keys.
    pub profile: Option<PathBuf>,
    /// More profiles, merged in order (later ones win, this file wins over all).
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
    /// GPIO: the status LED.
    pub gpio: GpioConfig,
    /// Capture watchdog.
    pub watchdog: WatchdogConfig,
    /// Firmware update (A/B slots).
    pub firmware: FirmwareConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// mDNS/DNS-SD announcement.
    pub discovery: DiscoveryConfig,
    /// Limits of the frame streams recordings use.
    pub recording: RecordingConfig,
}

/// Device identity, reported in `Hello` and `Info`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// Device id (at most 32 bytes).
    pub id: String,
    /// Board name (e.g. `jetson-orin-nano`, `raspberry-pi-5`, `sim`).
    pub board: String,
    /// Folder of the daemon's own state (the changes made over the link); None = the folder
    /// of `pattern.store`.
    pub state_dir: Option<PathBuf>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            id: "dipnuc-edge".into(),
            board: "generic".into(),
            state_dir: None,
        }
    }
}

/// The camera section.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random draw (scene texture, patterns, temporal noise).
    pub seed: u64,
    /// Mean scene level.
    pub scene_level: f32,
    /// Scene contrast (amplitude of the moving objects).
    pub scene_contrast: f32,
    /// Speed of the scene motion in pixels per second.
    pub motion_px_per_s: f32,
    /// Standard deviation of the per-column offsets at the reference temperature.
    pub column_fpn: f32,
    /// Standard deviation of the per-pixel offsets at the reference temperature.
    pub pixel_fpn: f32,
    /// Amplitude of the low-frequency pattern.
    pub lpn: f32,
    /// Relative change of the pattern per °C away from the reference temperature.
    pub drift_per_c: f32,
    /// Standard deviation of the temporal (per-frame) noise.
    pub temporal_noise: f32,
    /// Sensor temperature at the start, °C (also the reference temperature).
    pub temp_start_c: f32,
    /// Linear sensor temperature drift, °C per minute.
    pub temp_drift_c_per_min: f32,
    /// Amplitude of a slow temperature oscillation, °C.
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct FitSection {
    /// The estimator.
    pub method: Method,
    /// Method used when the configured device is not available (CPU-only boards).
    pub cpu_method: Method,
    /// Engine preset.
    pub preset: Preset,
    /// Where fits compute.
    pub device: FitDevice,
    /// Resolution the network is fitted at, as a reduction factor (1 = full, 8 = an eighth);
    /// 0 = the preset's. A GPU board affords a finer one than a CPU board.
    pub downscale: usize,
    /// Passes of the engine's per-pixel offset refinement (`pixel_passes`) in the refit loop.
    /// 0 by default: on the loop's few panned frames of a textured scene its per-pixel means
    /// still hold scene texture, and the motion check then refused the network's part (it
    /// weighed the rest at 0.3; drift bench, city, CPU budget: TV-DIP −0.01 dB against CP-TV
    /// with one pass, +4.24 without).
    pub pixel_passes: u32,
    /// Frames kept in the fit set.
    pub frames: usize,
    /// Minimum mean absolute difference (DN, on an 8×8-block thumbnail) between a new frame and
    /// every frame already in the set; closer frames are near-duplicates and skipped.
    pub min_motion_dn: f32,
    /// How often a frame is considered for the set, ms.
    pub collect_interval_ms: u64,
    /// Static-scene guard: a fit starts only when the frame set's scene moved over at least
    /// this fraction of the frame between most consecutive frames (8×8-block thumbnails whose
    /// change differs from the neighbouring block's by `min_motion_dn`, so a drifting pattern
    /// is no motion), so a scene stared at never burns into the pattern. 0 = no guard.
    pub min_moving_fraction: f32,
    /// Fit once at start when no stored pattern exists.
    pub fit_on_start: bool,
    /// Memory cap of a network fit, MiB (refused up front when the estimate exceeds it).
    pub max_memory_mb: Option<u64>,
    /// Compute budget.
    pub budget: BudgetConfig,
    /// Refit triggers.
    pub triggers: TriggerConfig,
}

impl Default for FitSection {
    fn default() -> Self {
        FitSection {
            method: Method::CpTv,
            cpu_method: Method::CpTv,
            preset: Preset::Fast,
            device: FitDevice::Cpu,
            downscale: 0,
            pixel_passes: 0,
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
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Compute (GPU, or CPU without one) seconds that fits may use in any sliding hour.
    pub gpu_seconds_per_hour: f32,
    /// Maximum optimisation steps of one fit.
    pub max_steps: u32,
    /// Maximum wall-clock seconds of one fit.
    pub max_seconds: f32,
    /// Fraction of wall time the fit may compute (0 < d ≤ 1); it sleeps the rest.
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
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerConfig {
    /// Refit when the pattern is older than this, seconds (0 = never by age).
    pub max_age_s: u64,
    /// Refit when the sensor temperature moved this far from the pattern's, °C (0 = off).
    pub temp_drift_c: f32,
    /// Refit when the roughness of corrected frames rose by this fraction over its value right
    /// after the last fit (0.25 = +25 %; 0 = off).
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkConfig {
    /// TCP server.
    pub tcp: TcpConfig,
    /// Serial server.
    pub serial: SerialConfig,
}

/// TCP link.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpConfig {
    /// Listen address, e.g. `0.0.0.0:7700`; port 0 picks a free port. None = no TCP server.
    pub listen: Option<String>,
    /// Pre-shared token a client must present (`Auth`) before anything but `Hello`.
    pub token: Option<String>,
    /// Listen on a non-loopback address without a token (anyone on the network may then
    /// control the device); refused unless set.
    pub allow_unauthenticated: bool,
    /// Most simultaneous clients.
    pub max_clients: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            listen: None,
            token: None,
            allow_unauthenticated: false,
            max_clients: 8,
        }
    }
}

/// Serial link.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialConfig {
    /// Serial device (UART or USB gadget, e.g. `/dev/ttyGS0`). None = no serial server.
    pub port: Option<String>,
    /// Baud rate.
    pub baud: u32,
    /// Ask serial peers for `link.tcp.token` too (by default the port is a trusted, physical
    /// link).
    pub require_token: bool,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            port: None,
            baud: 921_600,
            require_token: false,
        }
    }
}

/// GPIO section: the status LED.
#[derive(Debug, Clone, PartialEq)]
pub struct GpioConfig {
    /// Driver.
    pub board: GpioBoard,
    /// Character device for `cdev` (e.g. `/dev/gpiochip0`).
    pub chip: PathBuf,
    /// Status LED line (BCM number on a Pi, line offset on cdev).
    pub led_pin: Option<u32>,
}

impl Default for GpioConfig {
    fn default() -> Self {
        GpioConfig {
            board: GpioBoard::None,
            chip: PathBuf::from("/dev/gpiochip0"),
            led_pin: None,
        }
    }
}

/// Capture watchdog.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogConfig {
    /// Seconds without a frame before the capture is restarted.
    pub capture_timeout_s: f32,
    /// Seconds between reconnection attempts of a lost source.
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
#[derive(Debug, Clone, PartialEq)]
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

/// The Prometheus metrics endpoint (OpenMetrics text at `http://<listen>/metrics`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsConfig {
    /// Listen address, e.g. `127.0.0.1:7701` (loopback: scraped by a Prometheus on the board)
    /// or `0.0.0.0:7701`; port 0 picks a free port. None = no endpoint (the default).
    pub listen: Option<String>,
}

/// Announcing the device on the local network over mDNS/DNS-SD as `_dipnuc._tcp`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiscoveryConfig {
    /// Announce the TCP link (needs `link.tcp.listen`). Off unless configured; the packaged
    /// `/etc/dipnuc/edge.toml` turns it on.
    pub enabled: bool,
    /// DNS-SD instance name (at most 63 bytes); default the device id.
    pub instance: Option<String>,
}

/// Limits of the frame streams (`dipnuc record`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingConfig {
    /// Highest rate one stream may ask for, frames per second.
    pub max_fps: f32,
    /// Most frame streams open at once (over all links).
    pub max_streams: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            max_fps: 30.0,
            max_streams: 2,
        }
    }
}

impl EdgeConfig {
    /// Highest output value of the correction.
    pub fn clamp_max(&self) -> u16 {
        self.correction
            .clamp_max
            .unwrap_or(((1u32 << self.camera.bit_depth.min(16)) - 1) as u16)
    }

    /// The folder of the daemon's own state: `device.state_dir`, or the folder of
    /// `pattern.store`.
    pub fn state_dir(&self) -> PathBuf {
        match &self.device.state_dir {
            Some(d) => d.clone(),
            None => self
                .pattern
                .store
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
        }
    }

    /// Where the changes made over the link are kept (layered over the admin's file).
    pub fn overrides_path(&self) -> PathBuf {
        self.state_dir().join(OVERRIDES_FILE)
    }
}
