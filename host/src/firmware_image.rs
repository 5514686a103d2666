//! Host side of the firmware image format defined in `formats::firmware` (payload ‖ Ed25519
//! signature ‖ version ‖ length ‖ format ‖ `DNFW`): reading an image's trailer before upload
//! (so an unsigned or truncated file is refused here, without the device's key), signing a
//! plain executable, and the key files `dipnuc keygen` writes.

use std::path::Path;

use ed25519_dalek::SigningKey;
use formats::firmware::{
    FORMAT, MAGIC, TRAILER_LEN, Trailer, TrailerError, hex_encode, parse_signing_key, sign_image,
};

/// Why a firmware file or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file has no trailer, or its trailer does not match its size.
    #[error("{0}")]
    Malformed(String),
    /// A key file is unreadable or not 64 hex digits.
    #[error("key file {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing failed (bad version string).
    #[error("cannot sign: {0}")]
    Sign(String),
    /// File system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What the trailer of a signed image says (the signature itself is checked by the device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Version string of the image.
    pub version: String,
    /// Executable size in bytes.
    pub payload_len: u64,
}

impl ImageInfo {
    /// Reads the trailer; refuses files that are not signed images or are cut short.
    pub fn parse(image: &[u8]) -> Result<ImageInfo, ImageError> {
        let malformed = |e| {
            ImageError::Malformed(match e {
                TrailerError::TooShort { .. } | TrailerError::NoMagic => {
                    "not a signed dipnuc firmware image (no DNFW trailer); sign it with \
                     `dipnuc flash FILE --key SECRET` or pass an image built by it"
                        .into()
                }
                TrailerError::Format(format) => {
                    format!("image format {format}; this host writes format {FORMAT}")
                }
                TrailerError::Length { recorded, actual } => format!(
                    "image says its payload is {recorded} bytes but the file holds {actual} \
                     (truncated or corrupted)"
                ),
                TrailerError::Version => "image version is not UTF-8".into(),
            })
        };
        let t = Trailer::parse(image).map_err(malformed)?;
        Ok(ImageInfo {
            version: t.version().map_err(malformed)?,
            payload_len: t.payload.len() as u64,
        })
    }
}

/// True when `bytes` end in the signed-image trailer magic.
pub fn looks_signed(bytes: &[u8]) -> bool {
    bytes.len() >= TRAILER_LEN && &bytes[bytes.len() - 4..] == MAGIC
}

/// Signs an executable with a secret key file.
pub fn sign(payload: &[u8], version: &str, key: &SigningKey) -> Result<Vec<u8>, ImageError> {
    sign_image(payload, version, key).map_err(|e| ImageError::Sign(e.to_string()))
}

/// Reads a secret key file (64 hex digits, as written by `dipnuc keygen`).
pub fn read_secret_key(path: &Path) -> Result<SigningKey, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_signing_key(text.trim()).map_err(|e| ImageError::Key {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A new key pair: (secret hex, public hex).
pub fn generate_key_pair() -> (String, String) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    (
        hex_encode(&key.to_bytes()),
        hex_encode(key.verifying_key().as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_of_a_signed_image_parses_and_truncation_is_refused() {
        let (secret, _) = generate_key_pair();
        let key = parse_signing_key(&secret).unwrap();
        let img = sign(b"\x7fELF fake", "1.2.3", &key).unwrap();
        let info = ImageInfo::parse(&img).unwrap();
        assert_eq!(info.version, "1.2.3");
        assert_eq!(info.payload_len, 9);
        assert!(ImageInfo::parse(&img[1..]).is_err());
        assert!(ImageInfo::parse(b"plain executable").is_err());
    }
}
