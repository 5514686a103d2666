//! The enumerated values of the configuration: each is an enum with its one spelling in TOML
//! and on the link, so a bad value is refused when it is set, naming the choices, and code
//! matches on variants instead of comparing strings.

use std::fmt;
use std::str::FromStr;

use engine::nuc::{FitConfig, Method};
use toml::Value;

use super::value::{ConfigValue, type_name};

/// Defines a configuration enum: the variants with their spellings, `as_str`, `Display`,
/// `FromStr` (the error lists the choices) and [`ConfigValue`].
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every choice, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant,)+];

            /// The spelling in TOML and on the link.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s.trim())
                    .ok_or_else(|| unknown($what, s, $name::ALL.iter().map(|v| v.as_str())))
            }
        }

        impl ConfigValue for $name {
            fn kind() -> String {
                one_of($name::ALL.iter().map(|v| v.as_str()))
            }

            fn to_toml(&self) -> Option<Value> {
                Some(Value::String(self.as_str().into()))
            }

            fn from_toml(v: &Value) -> Result<Self, String> {
                from_string(v)
            }
        }
    };
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!("one of: {}", names.collect::<Vec<_>>().join(", "))
}

fn unknown<'a>(what: &str, got: &str, names: impl Iterator<Item = &'a str>) -> String {
    format!("unknown {what} {got:?}; expected {}", one_of(names))
}

fn from_string<T: FromStr<Err = String>>(v: &Value) -> Result<T, String> {
    match v {
        Value::String(s) => s.parse(),
        other => Err(format!("expected a string, got {}", type_name(other))),
    }
}

config_enum! {
    /// Which kind of frame source to open.
    pub enum SourceKind ("source") {
        /// A V4L2 capture device.
        V4l2 = "v4l2",
        /// The built-in simulated camera.
        Sim = "sim",
        /// A folder of PNG/TIFF frames, replayed in name order.
        Replay = "replay",
    }
}

config_enum! {
    /// Pixel format of a V4L2 camera.
    pub enum PixelFormat ("pixel format") {
        /// 16-bit little-endian grey (Lepton on PureThermal, Boson).
        Y16 = "y16",
        /// 8-bit grey.
        Grey = "grey",
        /// 10-bit grey in 16-bit words.
        Y10 = "y10",
        /// 12-bit grey in 16-bit words.
        Y12 = "y12",
    }
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

config_enum! {
    /// Which GPIO driver to use.
    pub enum GpioBoard ("GPIO board") {
        /// No GPIO.
        None = "none",
        /// Raspberry Pi (rppal).
        RaspberryPi = "raspberry-pi",
        /// Linux GPIO character device (Jetson and others).
        Cdev = "cdev",
    }
}

config_enum! {
    /// The engine's fit presets.
    pub enum Preset ("preset") {
        /// The reference TV-DIP of the paper (slow; for GPUs).
        Paper = "paper",
        /// A short network fit on what CP-TV leaves (the default).
        Fast = "fast",
        /// Warm-start refinement of an existing network.
        Refine = "refine",
    }
}

impl Preset {
    /// The engine configuration of this preset.
    pub fn fit_config(self) -> FitConfig {
        match self {
            Preset::Paper => FitConfig::paper(),
            Preset::Fast => FitConfig::fast(),
            Preset::Refine => FitConfig::refine(),
        }
    }
}

impl ConfigValue for Method {
    fn kind() -> String {
        one_of(Method::ALL.iter().map(|m| m.as_str()))
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::String(self.as_str().into()))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => s
                .parse()
                .map_err(|_| unknown("method", s, Method::ALL.iter().map(|m| m.as_str()))),
            other => Err(format!("expected a string, got {}", type_name(other))),
        }
    }
}

/// Where fits compute: the CPU or a CUDA GPU by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FitDevice {
    /// The CPU.
    Cpu,
    /// CUDA device N (needs the `cuda` feature).
    Cuda(u32),
}

impl fmt::Display for FitDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitDevice::Cpu => f.write_str("cpu"),
            FitDevice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for FitDevice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "cpu" => Ok(FitDevice::Cpu),
            "cuda" => Ok(FitDevice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(FitDevice::Cuda)
                .ok_or_else(|| format!("unknown device {s:?}; expected cpu or cuda:N")),
        }
    }
}

impl ConfigValue for FitDevice {
    fn kind() -> String {
        "cpu or cuda:N".into()
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::String(self.to_string()))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        from_string(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_refusals_list_the_choices() {
        for p in Preset::ALL {
            assert_eq!(p.as_str().parse::<Preset>(), Ok(*p));
        }
        let e = "thorough".parse::<Preset>().unwrap_err();
        assert_eq!(
            e,
            "unknown preset \"thorough\"; expected one of: paper, fast, refine"
        );
        assert_eq!("cuda:1".parse::<FitDevice>(), Ok(FitDevice::Cuda(1)));
        assert_eq!(FitDevice::Cuda(1).to_string(), "cuda:1");
        assert!("gpu".parse::<FitDevice>().is_err());
        let e = Method::from_toml(&Value::String("magic".into())).unwrap_err();
        assert!(e.contains("tv-dip, cp-tv, colmean"), "{e}");
        assert_eq!(
            GpioBoard::from_toml(&Value::String("raspberry-pi".into())),
            Ok(GpioBoard::RaspberryPi)
        );
    }
}
