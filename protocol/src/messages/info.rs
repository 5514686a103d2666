//! Device identity: what the device is (`DeviceInfo`) and what it can do (`Capabilities`).

use core::fmt;

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Capacity of identity strings (device id, firmware version, board, camera).
pub const IDENT_LEN: usize = 32;

/// A short identity string (`"jetson-orin-nano"`, `"0.1.0+a1b2c3"`).
pub type Ident = String<IDENT_LEN>;

/// Feature bits a device advertises in `Hello` and `DeviceInfo`.
///
/// A `u32` newtype rather than an enum set so that a newer device can add bits an older host
/// simply ignores without changing the schema hash.
#[derive(
    Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default,
)]
pub struct Capabilities(pub u32);

impl Capabilities {
    /// No capabilities.
    pub const NONE: Capabilities = Capabilities(0);
    /// Fits run on a CUDA GPU.
    pub const CUDA: Capabilities = Capabilities(1 << 0);
    /// GPIO outputs (shutter/FFC trigger, status LED) are available.
    pub const GPIO: Capabilities = Capabilities(1 << 1);
    /// The camera is a V4L2 device.
    pub const V4L2: Capabilities = Capabilities(1 << 2);
    /// Corrected frames are written to a V4L2 loopback device.
    pub const LOOPBACK: Capabilities = Capabilities(1 << 3);
    /// Firmware can be updated over the link (A/B slots).
    pub const FIRMWARE_UPDATE: Capabilities = Capabilities(1 << 4);
    /// The camera is simulated (no hardware).
    pub const SIMULATED_CAMERA: Capabilities = Capabilities(1 << 5);
    /// Frames can be pulled over the link (snapshots).
    pub const SNAPSHOTS: Capabilities = Capabilities(1 << 6);
    /// Noise patterns can be pulled and pushed over the link.
    pub const PATTERN_TRANSFER: Capabilities = Capabilities(1 << 7);
    /// The link requires `Auth` before anything but `Hello`.
    pub const AUTH_REQUIRED: Capabilities = Capabilities(1 << 8);

    /// Every named capability with its display name, in bit order.
    pub const NAMED: [(Capabilities, &'static str); 9] = [
        (Self::CUDA, "cuda"),
        (Self::GPIO, "gpio"),
        (Self::V4L2, "v4l2"),
        (Self::LOOPBACK, "loopback"),
        (Self::FIRMWARE_UPDATE, "firmware-update"),
        (Self::SIMULATED_CAMERA, "simulated-camera"),
        (Self::SNAPSHOTS, "snapshots"),
        (Self::PATTERN_TRANSFER, "pattern-transfer"),
        (Self::AUTH_REQUIRED, "auth-required"),
    ];

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` added.
    pub const fn with(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// Names of the set bits that have names (unknown bits are skipped).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(cap, _)| self.contains(*cap))
            .map(|(_, name)| name)
    }
}

impl core::ops::BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        self.with(rhs)
    }
}

impl core::ops::BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        *self = self.with(rhs);
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in self.names() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            first = false;
        }
        let unknown = self.0 & !Self::NAMED.iter().fold(0, |acc, (c, _)| acc | c.0);
        if unknown != 0 {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "{unknown:#x}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Answer to `GetInfo`: who the device is and what its camera delivers.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// Unique id of the device (serial number or configured name).
    pub device_id: Ident,
    /// Version of the running `dipnuc-edge` build.
    pub firmware_version: Ident,
    /// Board profile name (`"jetson-orin-nano"`, `"sim"`).
    pub board: Ident,
    /// Camera profile name (`"lepton-3.5"`, `"sim"`).
    pub camera: Ident,
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// Significant bits per pixel of raw frames (14 for most radiometric cores).
    pub bit_depth: u8,
    /// What the device can do.
    pub capabilities: Capabilities,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// Firmware slot the daemon runs from (0 = A, 1 = B).
    pub active_slot: u8,
}
