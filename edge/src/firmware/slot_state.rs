//! The persisted state of the A/B slots (`state.json`): which slot runs, which waits, and
//! whether the running one was confirmed.

use serde::{Deserialize, Serialize};

/// Persistent slot state (`state.json`). A fresh folder (the factory install runs from slot a)
/// is confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotState {
    /// Active slot (0 = a, 1 = b).
    pub active: u8,
    /// Slot that holds a verified image waiting for commit.
    pub pending: Option<u8>,
    /// Whether the active slot has been confirmed healthy.
    pub confirmed: bool,
    /// The slot to return to if the active one is not confirmed.
    pub fallback: Option<u8>,
    /// Starts of the active slot since it was switched to, without a confirm.
    pub unconfirmed_boots: u32,
    /// Versions of the slots.
    pub versions: [String; 2],
    /// The last failure (rollback, bad image).
    pub last_error: Option<String>,
}

impl Default for SlotState {
    fn default() -> Self {
        SlotState {
            active: 0,
            pending: None,
            confirmed: true,
            fallback: None,
            unconfirmed_boots: 0,
            versions: [String::new(), String::new()],
            last_error: None,
        }
    }
}
