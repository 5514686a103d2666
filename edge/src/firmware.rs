//! Firmware images and A/B slots.
//!
//! ## Image format (what `dipnuc flash` sends, what `dipnuc keygen` keys sign)
//!
//! ```text
//! payload (the dipnuc-edge executable) ‖ signature (64 bytes, Ed25519)
//!   ‖ version (32 bytes, UTF-8, zero-padded) ‖ payload_len (u64 LE) ‖ format (u32 LE = 1) ‖ "DNFW"
//! ```
//! The trailer is read from the end. The signature is over
//! `"dipnuc-firmware-v1\0" ‖ payload_len (u64 LE) ‖ version (32 bytes) ‖ SHA-256(payload)`,
//! so version and length are signed too. Public keys are 32 bytes, written as 64 hex digits
//! (`firmware.public_key`); [`sign_image`] builds an image.
//!
//! ## Slots
//!
//! `firmware.slots_dir` holds `slot-a/dipnuc-edge`, `slot-b/dipnuc-edge`, a `current` symlink to
//! the active slot (the service runs `<slots_dir>/current/dipnuc-edge`) and `state.json`.
//! Install writes the verified payload into the inactive slot (temp + fsync + rename); commit
//! switches `current` atomically and marks the new slot "on trial"; the daemon restarts into it.
//! The new binary must be confirmed (`FirmwareConfirm`) within `firmware.confirm_timeout_s`;
//! if it is not — or it restarts again before confirming (crash) — `current` is switched back.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Trailer magic (last 4 bytes of an image).
pub const MAGIC: &[u8; 4] = b"DNFW";
/// Image format version.
pub const FORMAT: u32 = 1;
/// Bytes after the payload: signature + version + length + format + magic.
pub const TRAILER_LEN: usize = 64 + 32 + 8 + 4 + 4;
const DOMAIN: &[u8] = b"dipnuc-firmware-v1\0";

/// Why an image or a slot operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    /// Not a firmware image, or cut short.
    #[error("not a dipnuc firmware image: {0}")]
    Malformed(String),
    /// The signature does not verify with the configured key.
    #[error("firmware signature invalid (not signed with the configured key, or modified)")]
    Signature,
    /// A key is not 64 hex digits.
    #[error("bad Ed25519 key: {0}")]
    Key(String),
    /// No slots folder or key configured.
    #[error("firmware update not configured: {0}")]
    NotConfigured(String),
    /// File system trouble.
    #[error("firmware slots: {0}")]
    Io(String),
}

/// A verified image.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedImage<'a> {
    /// The executable.
    pub payload: &'a [u8],
    /// Its version string.
    pub version: String,
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Hex text of bytes (keys).
pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a public key from 64 hex digits.
pub fn parse_public_key(hex: &str) -> Result<VerifyingKey, FirmwareError> {
    let bytes: [u8; 32] = hex_decode(hex)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| FirmwareError::Key("expected 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| FirmwareError::Key(e.to_string()))
}

/// Parses a signing (secret) key from 64 hex digits.
pub fn parse_signing_key(hex: &str) -> Result<SigningKey, FirmwareError> {
    let bytes: [u8; 32] = hex_decode(hex)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| FirmwareError::Key("expected 64 hex digits".into()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn signed_message(payload: &[u8], version: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 8 + 32 + 32);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    m.extend_from_slice(version);
    m.extend_from_slice(&Sha256::digest(payload));
    m
}

fn version_field(version: &str) -> Result<[u8; 32], FirmwareError> {
    let b = version.as_bytes();
    if b.is_empty() || b.len() > 32 || b.contains(&0) {
        return Err(FirmwareError::Malformed(
            "version must be 1 to 32 bytes without NUL".into(),
        ));
    }
    let mut v = [0u8; 32];
    v[..b.len()].copy_from_slice(b);
    Ok(v)
}

/// Builds a signed image.
pub fn sign_image(
    payload: &[u8],
    version: &str,
    key: &SigningKey,
) -> Result<Vec<u8>, FirmwareError> {
    let v = version_field(version)?;
    let sig = key.sign(&signed_message(payload, &v));
    let mut out = Vec::with_capacity(payload.len() + TRAILER_LEN);
    out.extend_from_slice(payload);
    out.extend_from_slice(&sig.to_bytes());
    out.extend_from_slice(&v);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok(out)
}

/// Why an image's trailer cannot be read (each end words it for its own user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailerError {
    /// Shorter than the trailer itself.
    TooShort { len: usize },
    /// No `DNFW` magic at the end (not signed).
    NoMagic,
    /// A format this build does not read.
    Format(u32),
    /// The recorded payload length disagrees with the image size.
    Length { recorded: u64, actual: u64 },
    /// The version field is not UTF-8.
    Version,
}

/// The parsed trailer of an image (signature not checked).
#[derive(Debug, Clone, PartialEq)]
pub struct Trailer<'a> {
    /// The executable.
    pub payload: &'a [u8],
    /// The signature bytes.
    pub signature: [u8; 64],
    /// The version field as stored (zero-padded; signed with the payload).
    pub version_field: [u8; 32],
}

impl<'a> Trailer<'a> {
    /// Reads the trailer at the end of `image`.
    pub fn parse(image: &'a [u8]) -> Result<Trailer<'a>, TrailerError> {
        let n = image.len();
        if n < TRAILER_LEN {
            return Err(TrailerError::TooShort { len: n });
        }
        if &image[n - 4..] != MAGIC {
            return Err(TrailerError::NoMagic);
        }
        let format = u32::from_le_bytes(image[n - 8..n - 4].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(TrailerError::Format(format));
        }
        let recorded = u64::from_le_bytes(image[n - 16..n - 8].try_into().expect("8 bytes"));
        let actual = (n - TRAILER_LEN) as u64;
        if recorded != actual {
            return Err(TrailerError::Length { recorded, actual });
        }
        Ok(Trailer {
            payload: &image[..n - TRAILER_LEN],
            signature: image[n - 112..n - 48].try_into().expect("64 bytes"),
            version_field: image[n - 48..n - 16].try_into().expect("32 bytes"),
        })
    }

    /// The version string (the field up to its zero padding).
    pub fn version(&self) -> Result<String, TrailerError> {
        let end = self
            .version_field
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(32);
        std::str::from_utf8(&self.version_field[..end])
            .map(str::to_string)
            .map_err(|_| TrailerError::Version)
    }
}

/// Checks structure and signature of an image.
pub fn verify_image<'a>(
    image: &'a [u8],
    key: &VerifyingKey,
) -> Result<VerifiedImage<'a>, FirmwareError> {
    let n = image.len();
    let malformed = |e| {
        FirmwareError::Malformed(match e {
            TrailerError::TooShort { len } => {
                format!("{len} bytes is shorter than the {TRAILER_LEN}-byte trailer")
            }
            TrailerError::NoMagic => "no DNFW trailer (unsigned?)".into(),
            TrailerError::Format(format) => {
                format!("image format {format}, this device reads {FORMAT}")
            }
            TrailerError::Length { recorded, .. } => {
                format!("payload length {recorded} does not match the image size {n} (truncated?)")
            }
            TrailerError::Version => "version is not UTF-8".into(),
        })
    };
    let t = Trailer::parse(image).map_err(malformed)?;
    let sig = Signature::from_bytes(&t.signature);
    key.verify(&signed_message(t.payload, &t.version_field), &sig)
        .map_err(|_| FirmwareError::Signature)?;
    Ok(VerifiedImage {
        payload: t.payload,
        version: t.version().map_err(malformed)?,
    })
}

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
        crate::daemon::write_atomically(&path, &bytes).map_err(|e| io_err("write", &path, e))
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
                return Err(e);
            }
        };
        let target = 1 - st.active.min(1);
        let bin = self.binary(target);
        let dir = bin.parent().expect("slot folder").to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        crate::daemon::write_atomically(&bin, verified.payload)
            .map_err(|e| io_err("write", &bin, e))?;
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

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn signed_images_verify_and_tampering_is_refused() {
        let k = key();
        let img = sign_image(b"\x7fELF binary", "1.2.3", &k).unwrap();
        let v = verify_image(&img, &k.verifying_key()).unwrap();
        assert_eq!(v.payload, b"\x7fELF binary");
        assert_eq!(v.version, "1.2.3");
        let mut bad = img.clone();
        bad[2] ^= 1;
        assert!(matches!(
            verify_image(&bad, &k.verifying_key()),
            Err(FirmwareError::Signature)
        ));
        assert!(matches!(
            verify_image(&img[1..], &k.verifying_key()),
            Err(FirmwareError::Malformed(_))
        ));
        assert!(verify_image(b"plain binary without trailer", &k.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(verify_image(&img, &other.verifying_key()).is_err());
        let hex = hex_encode(k.verifying_key().as_bytes());
        assert_eq!(parse_public_key(&hex).unwrap(), k.verifying_key());
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
