//! Firmware update state: A/B slots, the pending image and whether it was confirmed healthy.

use heapless::String;
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::info::Ident;

/// Capacity of [`FirmwareState::last_error`].
pub const FIRMWARE_ERROR_LEN: usize = 96;

/// Answer to `FirmwareStatus`.
///
/// After an upload is committed the device installs it into the inactive slot and sets
/// `pending_slot`; after the reboot the new image runs unconfirmed until the host (or the
/// daemon's own health check) sends `FirmwareConfirm`, otherwise the device rolls back.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FirmwareState {
    /// Slot the running image was loaded from (0 = A, 1 = B).
    pub active_slot: u8,
    /// Slot that will be booted next when it differs from the active one.
    pub pending_slot: Option<u8>,
    /// Whether the running image has been confirmed healthy.
    pub confirmed: bool,
    /// Version of the running image.
    pub version: Ident,
    /// The last install or rollback error, if any.
    pub last_error: Option<String<FIRMWARE_ERROR_LEN>>,
}
