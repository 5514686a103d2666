//! GPIO outputs: the status LED (on while frames flow). `gpio.board = "raspberry-pi"`
//! uses rppal; `"cdev"` uses the Linux GPIO character device (gpiocdev), which is what works
//! on Jetson boards (rppal does not). Built with the `gpio` cargo feature (on by default);
//! asking for GPIO on a build or board without it is a clear error, never a silent no-op.

use crate::config::{GpioBoard, GpioConfig};

/// Why GPIO could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    /// This build has no GPIO support.
    #[error(
        "gpio.board = {0:?} but this build has no GPIO support (enable the `gpio` feature, Linux only)"
    )]
    NotBuilt(GpioBoard),
    /// The board or line is not available.
    #[error("gpio ({board:?}, line {line}): {reason}")]
    Line {
        /// Driver.
        board: GpioBoard,
        /// Line / pin.
        line: u32,
        /// Why.
        reason: String,
    },
}

/// One output line.
pub trait OutputLine: Send {
    /// Drives the line high (`true`) or low.
    fn set(&mut self, high: bool) -> Result<(), GpioError>;
}

/// The configured outputs.
pub struct Gpio {
    led: Option<Box<dyn OutputLine>>,
}

impl Gpio {
    /// Opens the configured lines; `Ok(None)` when `gpio.board = "none"`.
    pub fn open(cfg: &GpioConfig) -> Result<Option<Gpio>, GpioError> {
        if cfg.board == GpioBoard::None {
            return Ok(None);
        }
        let led = cfg.led_pin.map(|p| open_line(cfg, p)).transpose()?;
        Ok(Some(Gpio { led }))
    }

    /// Builds from an already-open line (tests, other drivers).
    pub fn from_lines(led: Option<Box<dyn OutputLine>>) -> Gpio {
        Gpio { led }
    }

    /// Sets the status LED; `Ok(false)` when none is configured.
    pub fn set_led(&mut self, on: bool) -> Result<bool, GpioError> {
        match self.led.as_mut() {
            Some(l) => l.set(on).map(|_| true),
            None => Ok(false),
        }
    }
}

#[cfg(all(feature = "gpio", target_os = "linux"))]
fn open_line(cfg: &GpioConfig, line: u32) -> Result<Box<dyn OutputLine>, GpioError> {
    let err = |reason: String| GpioError::Line {
        board: cfg.board,
        line,
        reason,
    };
    match cfg.board {
        GpioBoard::None => Err(err("no GPIO board configured".into())),
        GpioBoard::RaspberryPi => {
            let pin = u8::try_from(line).map_err(|_| err("BCM pin number too large".into()))?;
            let gpio = rppal::gpio::Gpio::new().map_err(|e| {
                err(format!(
                    "{e} (is this a Raspberry Pi? use gpio.board = \"cdev\" on Jetson)"
                ))
            })?;
            let out = gpio
                .get(pin)
                .map_err(|e| err(e.to_string()))?
                .into_output_low();
            Ok(Box::new(RppalLine(out)))
        }
        GpioBoard::Cdev => {
            let req = gpiocdev::Request::builder()
                .on_chip(&cfg.chip)
                .with_consumer("dipnuc-edge")
                .with_line(line)
                .as_output(gpiocdev::line::Value::Inactive)
                .request()
                .map_err(|e| err(format!("{}: {e}", cfg.chip.display())))?;
            Ok(Box::new(CdevLine { req, line }))
        }
    }
}

#[cfg(not(all(feature = "gpio", target_os = "linux")))]
fn open_line(cfg: &GpioConfig, _line: u32) -> Result<Box<dyn OutputLine>, GpioError> {
    Err(GpioError::NotBuilt(cfg.board))
}

#[cfg(all(feature = "gpio", target_os = "linux"))]
struct RppalLine(rppal::gpio::OutputPin);

#[cfg(all(feature = "gpio", target_os = "linux"))]
impl OutputLine for RppalLine {
    fn set(&mut self, high: bool) -> Result<(), GpioError> {
        if high {
            self.0.set_high();
        } else {
            self.0.set_low();
        }
        Ok(())
    }
}

#[cfg(all(feature = "gpio", target_os = "linux"))]
struct CdevLine {
    req: gpiocdev::Request,
    line: u32,
}

#[cfg(all(feature = "gpio", target_os = "linux"))]
impl OutputLine for CdevLine {
    fn set(&mut self, high: bool) -> Result<(), GpioError> {
        let v = if high {
            gpiocdev::line::Value::Active
        } else {
            gpiocdev::line::Value::Inactive
        };
        self.req
            .set_value(self.line, v)
            .map_err(|e| GpioError::Line {
                board: GpioBoard::Cdev,
                line: self.line,
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Recorder(Arc<Mutex<Vec<bool>>>);
    impl OutputLine for Recorder {
        fn set(&mut self, high: bool) -> Result<(), GpioError> {
            self.0.lock().unwrap().push(high);
            Ok(())
        }
    }

    #[test]
    fn the_led_follows_and_missing_hardware_is_an_error() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut g = Gpio::from_lines(Some(Box::new(Recorder(log.clone()))));
        assert!(g.set_led(true).unwrap());
        assert!(g.set_led(false).unwrap());
        assert_eq!(*log.lock().unwrap(), [true, false]);
        assert!(!Gpio::from_lines(None).set_led(true).unwrap());
        let cfg = GpioConfig {
            board: GpioBoard::Cdev,
            chip: "/dev/does-not-exist-gpiochip".into(),
            led_pin: Some(3),
        };
        let e = Gpio::open(&cfg).err().expect("no such chip");
        assert!(
            e.to_string().contains("line 3") || e.to_string().contains("no GPIO support"),
            "{e}"
        );
        assert!(Gpio::open(&GpioConfig::default()).unwrap().is_none());
    }
}
