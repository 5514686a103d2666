//! Firmware updates of the device: the A/B slots on disk (`slots.rs`: installing a verified image (format and signature:
//! `formats::firmware`), switching to it, rolling back; their persisted state in
//! `slot_state.rs`) and the running daemon's control of an update (`control.rs`: the
//! configured key, the trial of a new image).
//!
//! `firmware.slots_dir` holds `slot-a/dipnuc-edge`, `slot-b/dipnuc-edge`, a `current` symlink to
//! the active slot (the service runs `<slots_dir>/current/dipnuc-edge`) and `state.json`.
//! Install writes the verified payload into the inactive slot (temp + fsync + rename); commit
//! switches `current` atomically and marks the new slot "on trial"; the daemon restarts into it.
//! The new binary must be confirmed (`FirmwareConfirm`) within `firmware.confirm_timeout_s`;
//! if it is not — or it restarts again before confirming (crash) — `current` is switched back.

mod control;
mod slot_state;
mod slots;

pub use control::{BUILD_VERSION, FirmwareControl};
pub use slot_state::SlotState;
pub use slots::{BootDecision, Slots};

/// Why a slot operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    /// The image or key was refused.
    #[error(transparent)]
    Image(#[from] formats::firmware::ImageError),
    /// No slots folder or key configured.
    #[error("firmware update not configured: {0}")]
    NotConfigured(String),
    /// File system trouble.
    #[error("firmware slots: {0}")]
    Io(String),
}
