//! Firmware upload with resume: [`Device::flash`] sends a signed image in chunks; when the
//! link drops it reconnects and continues from the offset the device already holds, then
//! commits (the device verifies the signature before installing anything).

use std::time::{Duration, Instant};

use protocol::{FirmwareState, ObjectEncoding, ObjectKind, ObjectMeta};

use super::device::Device;
use super::error::{ClientError, Result};
use crate::firmware_image::ImageInfo;

/// What a flash is doing, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum FlashEvent {
    /// Bytes the device holds so far, of the total.
    Sent {
        /// Bytes acknowledged.
        sent: u32,
        /// Image size.
        total: u32,
    },
    /// The link dropped; reconnecting (attempt number) to resume.
    Reconnecting {
        /// 1 for the first retry.
        attempt: u32,
        /// Why the link dropped.
        reason: String,
    },
    /// The device is verifying or installing (`InProgress` from the commit).
    Stage {
        /// Rough completion.
        percent: u8,
        /// What the device is doing.
        stage: String,
    },
}

/// How hard to try to resume a dropped upload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumePolicy {
    /// Reconnect attempts after drops, in total.
    pub attempts: u32,
    /// Pause between attempts.
    pub backoff: Duration,
    /// Give up reconnecting after this long without a connection.
    pub give_up_after: Duration,
}

impl Default for ResumePolicy {
    fn default() -> Self {
        ResumePolicy {
            attempts: 10,
            backoff: Duration::from_millis(500),
            give_up_after: Duration::from_secs(60),
        }
    }
}

impl Device {
    /// Uploads a signed firmware image and commits it. Resumes after dropped links (up to
    /// `policy.attempts` reconnects). Returns the device's firmware state after the commit
    /// (the new image is pending in the other slot; the device restarts into it).
    pub fn flash(
        &mut self,
        image: &[u8],
        policy: ResumePolicy,
        mut on_event: impl FnMut(FlashEvent),
    ) -> Result<FirmwareState> {
        let info = ImageInfo::parse(image).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let meta = ObjectMeta::opaque(ObjectEncoding::SignedImage, &info.version);
        let mut attempt = 0;
        loop {
            // Both callbacks report through the one event sink.
            let sink = std::cell::RefCell::new(&mut on_event);
            let res = self.push(
                ObjectKind::Firmware,
                meta.clone(),
                image,
                |sent, total| (sink.borrow_mut())(FlashEvent::Sent { sent, total }),
                |percent, stage| {
                    (sink.borrow_mut())(FlashEvent::Stage {
                        percent,
                        stage: stage.to_string(),
                    })
                },
            );
            match res {
                Ok(()) => break,
                Err(e) if e.is_link_drop() && attempt < policy.attempts => {
                    attempt += 1;
                    on_event(FlashEvent::Reconnecting {
                        attempt,
                        reason: e.to_string(),
                    });
                    self.reconnect_within(policy, &mut attempt, &mut on_event)?;
                }
                Err(e) => return Err(e),
            }
        }
        // The device restarts into the new image soon after the commit; its state may still
        // be readable now, and a dropped link here is not a failed flash.
        match self.firmware_status() {
            Ok(s) => Ok(s),
            Err(e) if e.is_link_drop() => Ok(FirmwareState {
                active_slot: 0,
                pending_slot: None,
                confirmed: false,
                version: protocol::text::truncate(&info.version),
                last_error: None,
            }),
            Err(e) => Err(e),
        }
    }

    /// Reconnects, retrying with backoff while the device is unreachable.
    fn reconnect_within(
        &mut self,
        policy: ResumePolicy,
        attempt: &mut u32,
        on_event: &mut impl FnMut(FlashEvent),
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            std::thread::sleep(policy.backoff);
            match self.reconnect() {
                Ok(()) => return Ok(()),
                Err(ClientError::Comms(e))
                    if *attempt < policy.attempts && start.elapsed() < policy.give_up_after =>
                {
                    *attempt += 1;
                    on_event(FlashEvent::Reconnecting {
                        attempt: *attempt,
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the device answers again (after a restart), up to `timeout`.
    pub fn wait_until_back(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            match self.reconnect() {
                Ok(()) => return Ok(()),
                Err(ClientError::Comms(_)) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(300));
                }
                Err(e) => return Err(e),
            }
        }
    }
}
