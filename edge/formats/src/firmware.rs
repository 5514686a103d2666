//! The firmware image format: what `dipnuc flash` sends and `dipnuc keygen` keys sign, with
//! the signing and the verification both ends use. The A/B slots that install images live in
//! the daemon (`edge::firmware`).
//!
//! ```text
//! payload (the dipnuc-edge executable) ‖ signature (64 bytes, Ed25519)
//!   ‖ version (32 bytes, UTF-8, zero-padded) ‖ payload_len (u64 LE) ‖ format (u32 LE = 1) ‖ "DNFW"
//! ```
//! The trailer is read from the end. The signature is over
//! `"dipnuc-firmware-v1\0" ‖ payload_len (u64 LE) ‖ version (32 bytes) ‖ SHA-256(payload)`,
//! so version and length are signed too. Public keys are 32 bytes, written as 64 hex digits
//! (`firmware.public_key`); [`sign_image`] builds an image.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Trailer magic (last 4 bytes of an image).
pub const MAGIC: &[u8; 4] = b"DNFW";
/// Image format version.
pub const FORMAT: u32 = 1;
/// Bytes after the payload: signature + version + length + format + magic.
pub const TRAILER_LEN: usize = 64 + 32 + 8 + 4 + 4;
const DOMAIN: &[u8] = b"dipnuc-firmware-v1\0";

/// Why an image or a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not a firmware image, or cut short.
    #[error("not a dipnuc firmware image: {0}")]
    Malformed(String),
    /// The signature does not verify with the configured key.
    #[error("firmware signature invalid (not signed with the configured key, or modified)")]
    Signature,
    /// A key is not 64 hex digits.
    #[error("bad Ed25519 key: {0}")]
    Key(String),
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
pub fn parse_public_key(hex: &str) -> Result<VerifyingKey, ImageError> {
    let bytes: [u8; 32] = hex_decode(hex)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ImageError::Key("expected 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| ImageError::Key(e.to_string()))
}

/// Parses a signing (secret) key from 64 hex digits.
pub fn parse_signing_key(hex: &str) -> Result<SigningKey, ImageError> {
    let bytes: [u8; 32] = hex_decode(hex)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ImageError::Key("expected 64 hex digits".into()))?;
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

fn version_field(version: &str) -> Result<[u8; 32], ImageError> {
    let b = version.as_bytes();
    if b.is_empty() || b.len() > 32 || b.contains(&0) {
        return Err(ImageError::Malformed(
            "version must be 1 to 32 bytes without NUL".into(),
        ));
    }
    let mut v = [0u8; 32];
    v[..b.len()].copy_from_slice(b);
    Ok(v)
}

/// Builds a signed image.
pub fn sign_image(payload: &[u8], version: &str, key: &SigningKey) -> Result<Vec<u8>, ImageError> {
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
) -> Result<VerifiedImage<'a>, ImageError> {
    let n = image.len();
    let malformed = |e| {
        ImageError::Malformed(match e {
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
        .map_err(|_| ImageError::Signature)?;
    Ok(VerifiedImage {
        payload: t.payload,
        version: t.version().map_err(malformed)?,
    })
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
            Err(ImageError::Signature)
        ));
        assert!(matches!(
            verify_image(&img[1..], &k.verifying_key()),
            Err(ImageError::Malformed(_))
        ));
        assert!(verify_image(b"plain binary without trailer", &k.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(verify_image(&img, &other.verifying_key()).is_err());
        let hex = hex_encode(k.verifying_key().as_bytes());
        assert_eq!(parse_public_key(&hex).unwrap(), k.verifying_key());
    }
}
