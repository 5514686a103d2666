//! The real HIL rig: `DIPNUC_RIG` names its daemon configuration (`boards/hil-rig.toml`), and
//! the harness side (host serial port, relay and shutter pins, timings) is read from the
//! folder of the same name (`boards/hil-rig/rig.toml`). [`RigGpio`] drives the camera power
//! relay and the shutter flag through rppal (feature `rig`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use edge::config::{EdgeConfig, SourceKind};
use serde::Deserialize;

/// Harness settings (`rig.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigHarness {
    /// Serial port the host side opens (wired to the device's `link.serial.port`).
    pub host_port: String,
    /// Its baud rate.
    pub baud: u32,
    /// BCM pin of the camera power relay (high = powered).
    pub power_pin: u8,
    /// Unpowered time of a power cycle, ms.
    pub power_off_ms: u64,
    /// BCM pin of the shutter flag (high = closed).
    pub shutter_pin: u8,
    /// Settling time after moving the shutter, ms.
    pub shutter_settle_ms: u64,
    /// Seconds allowed for the camera to come back after power returns.
    pub camera_return_s: u64,
}

/// A loaded rig description.
#[derive(Debug, Clone)]
pub struct Rig {
    /// The daemon configuration (`boards/hil-rig.toml`).
    pub edge_config: PathBuf,
    /// It, loaded and validated.
    pub config: EdgeConfig,
    /// The harness side.
    pub harness: RigHarness,
}

impl Rig {
    /// The harness file that goes with a rig config: `<dir>/<stem>/rig.toml`.
    pub fn harness_path(edge_config: &Path) -> PathBuf {
        let stem = edge_config.file_stem().unwrap_or_default();
        edge_config
            .parent()
            .unwrap_or(Path::new("."))
            .join(stem)
            .join("rig.toml")
    }

    /// Loads and checks both files. A relative path is taken from the workspace root, where the
    /// README's command runs.
    pub fn load(path: &Path) -> anyhow::Result<Rig> {
        let edge_config = if path.is_relative() && !path.exists() {
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
        } else {
            path.to_path_buf()
        };
        let config = EdgeConfig::load(&edge_config)
            .with_context(|| format!("loading {}", edge_config.display()))?;
        if config.camera.source != SourceKind::V4l2 {
            bail!(
                "camera.source must be v4l2 on the rig (got {})",
                config.camera.source
            );
        }
        if config.link.serial.port.is_none() {
            bail!("link.serial.port: the rig's serial link must be configured");
        }
        let hp = Rig::harness_path(&edge_config);
        let text =
            std::fs::read_to_string(&hp).with_context(|| format!("reading {}", hp.display()))?;
        let harness: RigHarness =
            toml::from_str(&text).with_context(|| format!("parsing {}", hp.display()))?;
        if harness.power_pin == harness.shutter_pin {
            bail!(
                "{}: power_pin and shutter_pin are the same pin",
                hp.display()
            );
        }
        Ok(Rig {
            edge_config,
            config,
            harness,
        })
    }
}

/// The rig's GPIO outputs.
pub struct RigGpio {
    #[cfg(all(feature = "rig", target_os = "linux"))]
    power: rppal::gpio::OutputPin,
    #[cfg(all(feature = "rig", target_os = "linux"))]
    shutter: rppal::gpio::OutputPin,
    harness: RigHarness,
}

impl RigGpio {
    /// Claims the power and shutter pins (camera powered, shutter open).
    #[cfg(all(feature = "rig", target_os = "linux"))]
    pub fn open(harness: &RigHarness) -> anyhow::Result<RigGpio> {
        let gpio = rppal::gpio::Gpio::new().context("opening the GPIO controller (rppal)")?;
        let mut power = gpio
            .get(harness.power_pin)
            .with_context(|| format!("GPIO{} (power_pin)", harness.power_pin))?
            .into_output_high();
        let mut shutter = gpio
            .get(harness.shutter_pin)
            .with_context(|| format!("GPIO{} (shutter_pin)", harness.shutter_pin))?
            .into_output_low();
        power.set_reset_on_drop(false);
        shutter.set_reset_on_drop(false);
        Ok(RigGpio {
            power,
            shutter,
            harness: harness.clone(),
        })
    }

    /// Without the `rig` feature there is no GPIO driver: a clear error.
    #[cfg(not(all(feature = "rig", target_os = "linux")))]
    pub fn open(_harness: &RigHarness) -> anyhow::Result<RigGpio> {
        bail!(
            "hil-tests was built without the `rig` feature: no GPIO (cargo test -p hil-tests --features rig)"
        )
    }

    /// Cuts the camera's power for `power_off_ms`, then restores it.
    pub fn power_cycle(&mut self) {
        #[cfg(all(feature = "rig", target_os = "linux"))]
        self.power.set_low();
        std::thread::sleep(Duration::from_millis(self.harness.power_off_ms));
        #[cfg(all(feature = "rig", target_os = "linux"))]
        self.power.set_high();
    }

    /// Closes (true) or opens the shutter flag and waits for it to settle.
    pub fn shutter(&mut self, closed: bool) {
        #[cfg(all(feature = "rig", target_os = "linux"))]
        if closed {
            self.shutter.set_high();
        } else {
            self.shutter.set_low();
        }
        let _ = closed;
        std::thread::sleep(Duration::from_millis(self.harness.shutter_settle_ms));
    }
}
