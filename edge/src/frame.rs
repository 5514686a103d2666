//! `RawFrame`: one frame as the camera delivered it (16-bit words, 8–16 significant bits).
//! Raw frames are shared read-only (`Arc`) once captured and never changed in place.

use std::time::Instant;

/// One captured frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFrame {
    /// Frame sequence number, counted by the source from 0.
    pub seq: u64,
    /// When the frame was captured (or generated).
    pub timestamp: Instant,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major pixel values.
    pub data: Vec<u16>,
    /// Sensor (FPA) temperature, when the camera reports one.
    pub sensor_temp_c: Option<f32>,
}

impl RawFrame {
    /// Number of pixels the frame claims to have.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Checks that the data length matches the dimensions and the dimensions match `expected`.
    pub fn check_shape(&self, expected: (u32, u32)) -> Result<(), String> {
        if (self.width, self.height) != expected {
            return Err(format!(
                "frame {} is {}x{}, expected {}x{}",
                self.seq, self.width, self.height, expected.0, expected.1
            ));
        }
        if self.data.len() != self.pixel_count() {
            return Err(format!(
                "frame {} is truncated: {} of {} pixels",
                self.seq,
                self.data.len(),
                self.pixel_count()
            ));
        }
        Ok(())
    }
}
