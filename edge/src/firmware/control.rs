//! Firmware update at run time: the configured slots and key, the trial of a newly installed
//! image (confirm within the timeout or roll back), and the state reported to the host.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use tracing::{error, info, warn};

use super::{BootDecision, FirmwareError, SlotState, Slots};
use crate::config::FirmwareConfig;
use formats::firmware::parse_public_key;

/// Version of this build.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Firmware update state of the running daemon.
pub struct FirmwareControl {
    slots: Option<Slots>,
    key: Option<VerifyingKey>,
    trial_deadline: Mutex<Option<Instant>>,
    setup_error: Option<String>,
}

impl FirmwareControl {
    /// From `firmware.*`; decides at once whether this start is a trial or a rollback.
    pub fn start(cfg: &FirmwareConfig) -> (FirmwareControl, BootDecision) {
        let mut setup_error = None;
        let key = cfg
            .public_key
            .as_deref()
            .and_then(|k| parse_public_key(k).ok());
        let slots = match cfg.slots_dir.as_deref().map(Slots::open) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                warn!(error = %e, "firmware slots unavailable");
                setup_error = Some(e.to_string());
                None
            }
            None => None,
        };
        let decision = match &slots {
            Some(s) => s.on_start().unwrap_or_else(|e| {
                error!(error = %e, "cannot read the firmware slot state");
                BootDecision::Run
            }),
            None => BootDecision::Run,
        };
        let deadline = (decision == BootDecision::Trial)
            .then(|| Instant::now() + Duration::from_secs(cfg.confirm_timeout_s));
        match decision {
            BootDecision::Trial => info!(
                timeout_s = cfg.confirm_timeout_s,
                "running new firmware on trial; confirm it or it is rolled back"
            ),
            BootDecision::RolledBack => {
                error!("new firmware restarted before it was confirmed; rolled back")
            }
            BootDecision::Run => {}
        }
        (
            FirmwareControl {
                slots,
                key,
                trial_deadline: Mutex::new(deadline),
                setup_error,
            },
            decision,
        )
    }

    /// Whether updates can be received (slots and key configured).
    pub fn available(&self) -> bool {
        self.slots.is_some() && self.key.is_some()
    }

    fn ready(&self) -> Result<(&Slots, &VerifyingKey), FirmwareError> {
        let slots = self.slots.as_ref().ok_or_else(|| {
            FirmwareError::NotConfigured(
                self.setup_error
                    .clone()
                    .unwrap_or_else(|| "firmware.slots_dir is not set".into()),
            )
        })?;
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| FirmwareError::NotConfigured("firmware.public_key is not set".into()))?;
        Ok((slots, key))
    }

    /// Checks an image without installing it.
    pub fn verify(&self, image: &[u8]) -> Result<String, FirmwareError> {
        let (slots, key) = self.ready()?;
        let verified = formats::firmware::verify_image(image, key).map(|v| v.version);
        if let Err(e) = &verified {
            let _ = slots.record_error(&e.to_string());
        }
        Ok(verified?)
    }

    /// Verifies and installs an image into the inactive slot and makes it active on trial;
    /// the caller restarts the daemon.
    pub fn install_and_activate(&self, image: &[u8]) -> Result<String, FirmwareError> {
        let (slots, key) = self.ready()?;
        let version = slots.install(image, key)?;
        let slot = slots.activate_pending()?;
        info!(%version, slot, "firmware installed; restarting into it");
        Ok(version)
    }

    /// Marks the running image healthy.
    pub fn confirm(&self) -> Result<(), FirmwareError> {
        let (slots, _) = self.ready()?;
        slots.confirm()?;
        *self
            .trial_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        info!("firmware confirmed healthy");
        Ok(())
    }

    /// Rolls back when the trial ran out; returns true when the daemon must restart.
    pub fn check_trial(&self) -> bool {
        let mut d = self
            .trial_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if d.is_some_and(|t| Instant::now() >= t) {
            *d = None;
            if let Some(s) = &self.slots {
                match s.rollback("not confirmed healthy within firmware.confirm_timeout_s") {
                    Ok(()) => error!("new firmware not confirmed in time; rolled back"),
                    Err(e) => error!(error = %e, "rollback failed"),
                }
                return true;
            }
        }
        false
    }

    /// State for `FirmwareStatus`.
    pub fn state(&self) -> (SlotState, String) {
        match &self.slots {
            Some(s) => {
                let st = s.state();
                let v = st.versions[st.active.min(1) as usize].clone();
                let v = if v.is_empty() {
                    BUILD_VERSION.to_string()
                } else {
                    v
                };
                (st, v)
            }
            None => (
                SlotState {
                    confirmed: true,
                    last_error: self.setup_error.clone(),
                    ..SlotState::default()
                },
                BUILD_VERSION.to_string(),
            ),
        }
    }
}
