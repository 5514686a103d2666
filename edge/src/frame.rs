//! `RawFrame`: one frame as the camera delivered it (16-bit words, 8–16 significant bits),
//! numbered and stamped by the driver, and [`DriverSequence`], which widens a driver's 32-bit
//! sequence counter. Raw frames are shared read-only (`Arc`) once captured and never changed
//! in place.

use std::time::Instant;

/// One captured frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFrame {
    /// The driver's sequence number (V4L2 buffer sequence; the simulator's frame clock; the
    /// replay file count). A jump is frames the driver dropped.
    pub seq: u64,
    /// When the driver captured the frame (the V4L2 buffer timestamp; the simulator's frame
    /// clock), or when it was dequeued where the driver gives no usable time.
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

/// Widens a driver's wrapping 32-bit sequence counter to 64 bits: a step back by more than
/// half the range is a wrap-around; a smaller step back (the device restarted its count) is
/// passed through, so it never reads as billions of lost frames.
#[derive(Debug, Default, Clone)]
pub struct DriverSequence {
    last: Option<u32>,
    wraps: u64,
}

impl DriverSequence {
    /// The 64-bit sequence number of a frame the driver numbered `seq`.
    pub fn widen(&mut self, seq: u32) -> u64 {
        if let Some(last) = self.last
            && seq < last
            && last - seq > u32::MAX / 2
        {
            self.wraps += 1;
        }
        self.last = Some(seq);
        (self.wraps << 32) | u64::from(seq)
    }

    /// Forgets the count (after reopening the device, whose count starts again).
    pub fn reset(&mut self) {
        *self = DriverSequence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_sequences_widen_across_wrap_arounds_and_restarts() {
        let mut s = DriverSequence::default();
        assert_eq!(s.widen(u32::MAX - 1), u64::from(u32::MAX - 1));
        assert_eq!(s.widen(u32::MAX), u64::from(u32::MAX));
        assert_eq!(s.widen(0), 1 << 32, "a wrap continues the count");
        assert_eq!(s.widen(3), (1 << 32) + 3, "a gap stays a gap");
        assert_eq!(s.widen(1), (1 << 32) + 1, "a restart is not a wrap");
        s.reset();
        assert_eq!(s.widen(7), 7);
    }
}
