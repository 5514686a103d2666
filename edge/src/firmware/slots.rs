//! [`Slots`]: the A/B slot folder: installing a verified image into the inactive slot,
//! switching `current` to it on trial, rolling back, and the decision made at each start.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use formats::atomic::write_atomically;
use formats::firmware::verify_image;

use super::FirmwareError;
use super::slot_state::SlotState;

/// What to do after [`Slots::on_start`].
#[derive(Debug, Clone, PartialEq)]
pub enum BootDecision {
    /// Run normally (confirmed, or no slots in use).
    Run,
    /// Run on trial: confirm within the timeout or be rolled back.
    Trial,
    /// The trial slot restarted without confirming: rolled back; restart into the old slot.
    RolledBack,
}

/// The A/B slot folder.
#[derive(Debug, Clone)]
pub struct Slots {
    dir: PathBuf,
}

fn slot_name(s: u8) -> &'static str {
    if s == 0 { "slot-a" } else { "slot-b" }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> FirmwareError {
    FirmwareError::Io(format!("{what} {}: {e}", path.display()))
}

impl Slots {
    /// Slots in `dir` (created if needed).
    pub fn open(dir: &Path) -> Result<Slots, FirmwareError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
        Ok(Slots {
            dir: dir.to_path_buf(),
        })
    }

    /// The executable path of a slot.
    pub fn binary(&self, slot: u8) -> PathBuf {
        self.dir.join(slot_name(slot)).join("dipnuc-edge")
    }

    /// The `current` link the service starts.
    pub fn current_link(&self) -> PathBuf {
        self.dir.join("current")
    }

    /// Reads the state (default when none was written).
    pub fn state(&self) -> SlotState {
        std::fs::read(self.dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, st: &SlotState) -> Result<(), FirmwareError> {
        let path = self.dir.join("state.json");
        let bytes = serde_json::to_vec_pretty(st).expect("state serialises");
        write_atomically(&path, &bytes).map_err(|e| io_err("write", &path, e))
    }

    fn point_current(&self, slot: u8) -> Result<(), FirmwareError> {
        // A new symlink renamed over the old one: the switch is atomic.
        let tmp = self.dir.join(".current.tmp");
        let _ = std::fs::remove_file(&tmp);
        #[cfg(unix)]
        std::os::unix::fs::symlink(slot_name(slot), &tmp).map_err(|e| io_err("link", &tmp, e))?;
        std::fs::rename(&tmp, self.current_link())
            .map_err(|e| io_err("switch", &self.current_link(), e))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("sync", &self.dir, e))
    }

    /// Verifies `image` and writes its payload into the inactive slot (not yet active).
    pub fn install(&self, image: &[u8], key: &VerifyingKey) -> Result<String, FirmwareError> {
        let mut st = self.state();
        let verified = match verify_image(image, key) {
            Ok(v) => v,
            Err(e) => {
                st.last_error = Some(e.to_string());
                let _ = self.save(&st);
                return Err(e.into());
            }
        };
        let target = 1 - st.active.min(1);
        let bin = self.binary(target);
        let dir = bin.parent().expect("slot folder").to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        write_atomically(&bin, verified.payload).map_err(|e| io_err("write", &bin, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io_err("chmod", &bin, e))?;
        }
        st.pending = Some(target);
        st.versions[target as usize] = verified.version.clone();
        st.last_error = None;
        self.save(&st)?;
        Ok(verified.version)
    }

    /// Makes the pending slot active, on trial. The caller then restarts the daemon.
    pub fn activate_pending(&self) -> Result<u8, FirmwareError> {
        let mut st = self.state();
        let slot = st
            .pending
            .ok_or_else(|| FirmwareError::Io("no verified image waiting".into()))?;
        self.point_current(slot)?;
        st.fallback = Some(st.active);
        st.active = slot;
        st.pending = None;
        st.confirmed = false;
        st.unconfirmed_boots = 0;
        self.save(&st)?;
        Ok(slot)
    }

    /// Called once at daemon start: counts unconfirmed starts and rolls back a trial slot that
    /// was already started once without being confirmed.
    pub fn on_start(&self) -> Result<BootDecision, FirmwareError> {
        let mut st = self.state();
        if st.confirmed || st.fallback.is_none() {
            return Ok(BootDecision::Run);
        }
        st.unconfirmed_boots += 1;
        if st.unconfirmed_boots > 1 {
            self.rollback_state(&mut st, "new firmware restarted before it was confirmed")?;
            return Ok(BootDecision::RolledBack);
        }
        self.save(&st)?;
        Ok(BootDecision::Trial)
    }

    /// Switches back to the fallback slot (trial timed out or failed).
    pub fn rollback(&self, reason: &str) -> Result<(), FirmwareError> {
        let mut st = self.state();
        self.rollback_state(&mut st, reason)
    }

    fn rollback_state(&self, st: &mut SlotState, reason: &str) -> Result<(), FirmwareError> {
        let Some(back) = st.fallback else {
            return Ok(());
        };
        self.point_current(back)?;
        st.last_error = Some(format!(
            "rolled back from {} ({}): {reason}",
            slot_name(st.active),
            st.versions[st.active as usize]
        ));
        st.active = back;
        st.fallback = None;
        st.confirmed = true;
        st.unconfirmed_boots = 0;
        self.save(st)
    }

    /// Records a refused image so `FirmwareStatus` can say why.
    pub fn record_error(&self, error: &str) -> Result<(), FirmwareError> {
        let mut st = self.state();
        st.last_error = Some(error.to_string());
        self.save(&st)
    }

    /// Marks the running slot healthy.
    pub fn confirm(&self) -> Result<(), FirmwareError> {
        let mut st = self.state();
        st.confirmed = true;
        st.fallback = None;
        st.unconfirmed_boots = 0;
        self.save(&st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ed25519_dalek::SigningKey;
    use formats::firmware::sign_image;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn slots_switch_and_roll_back_when_not_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::open(dir.path()).unwrap();
        let k = key();
        let img = sign_image(b"new", "2.0", &k).unwrap();
        assert_eq!(slots.install(&img, &k.verifying_key()).unwrap(), "2.0");
        assert_eq!(std::fs::read(slots.binary(1)).unwrap(), b"new");
        assert_eq!(slots.activate_pending().unwrap(), 1);
        assert_eq!(
            std::fs::read_link(slots.current_link()).unwrap(),
            PathBuf::from("slot-b")
        );
        assert_eq!(slots.on_start().unwrap(), BootDecision::Trial);
        // Restarted again without confirming: back to slot a.
        assert_eq!(slots.on_start().unwrap(), BootDecision::RolledBack);
        assert_eq!(
            std::fs::read_link(slots.current_link()).unwrap(),
            PathBuf::from("slot-a")
        );
        let st = slots.state();
        assert_eq!(st.active, 0);
        assert!(st.last_error.unwrap().contains("rolled back"));
        // A bad image is refused and recorded; nothing is switched.
        assert!(slots.install(b"junk", &k.verifying_key()).is_err());
        assert!(slots.state().last_error.is_some());
        assert_eq!(slots.on_start().unwrap(), BootDecision::Run);
    }
}
