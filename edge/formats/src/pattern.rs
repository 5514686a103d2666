//! The pattern file format (`.dnp`), used on disk and on the link (pattern pull/push send
//! exactly these bytes):
//!
//! ```text
//! magic "DIPNUCPT" | u32 version = 1 | u32 width | u32 height | u32 meta_len | meta (JSON)
//! | width·height × f32 (row-major, DN, corrected = raw − pattern) | u32 CRC-32 (ISO-HDLC)
//! ```
//! All integers and floats little-endian; the CRC covers every byte before it.

use serde::{Deserialize, Serialize};

/// File magic.
pub const MAGIC: &[u8; 8] = b"DIPNUCPT";
/// Format version written by this build.
pub const VERSION: u32 = 1;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
/// Largest frame side accepted when decoding (guards allocations on garbage input).
const MAX_SIDE: u32 = 8192;

/// What is known about how a pattern was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PatternMeta {
    /// Camera model (`camera.name`).
    pub camera: String,
    /// Sensor temperature of the frames it was fitted on, °C.
    pub sensor_temp_c: Option<f32>,
    /// When it was made, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Final fit loss.
    pub fit_loss: Option<f32>,
    /// Method (`tv-dip`, `cp-tv`, `colmean`, or `pushed` for an uploaded one).
    pub method: String,
    /// Optimisation steps.
    pub steps: u32,
    /// Fit duration, ms.
    pub duration_ms: u64,
}

/// A pattern with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPattern {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major values in DN.
    pub data: Vec<f32>,
    /// Provenance.
    pub meta: PatternMeta,
}

/// Why bytes are not a valid pattern file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternFileError {
    /// Not a pattern file.
    #[error("not a dipnuc pattern file (bad magic)")]
    Magic,
    /// Written by an incompatible build.
    #[error("pattern file version {0} is not supported (this build reads {VERSION})")]
    Version(u32),
    /// Shorter than its header says.
    #[error("pattern file is truncated ({got} bytes, {need} needed)")]
    Truncated {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The checksum does not match: the file is corrupt.
    #[error("pattern file checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// CRC in the file.
        stored: u32,
        /// CRC of the content.
        computed: u32,
    },
    /// Nonsense dimensions or metadata.
    #[error("pattern file is malformed: {0}")]
    Malformed(String),
}

impl StoredPattern {
    /// Encodes into the file format.
    pub fn encode(&self) -> Vec<u8> {
        let meta = serde_json::to_vec(&self.meta).expect("metadata serialises");
        let mut out = Vec::with_capacity(28 + meta.len() + self.data.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        for v in &self.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let crc = CRC.checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and verifies the file format.
    pub fn decode(bytes: &[u8]) -> Result<StoredPattern, PatternFileError> {
        let truncated = |need: usize| PatternFileError::Truncated {
            got: bytes.len(),
            need,
        };
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(PatternFileError::Magic);
        }
        if bytes.len() < 24 {
            return Err(truncated(24));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(PatternFileError::Version(version));
        }
        let (width, height, meta_len) = (u32_at(12), u32_at(16), u32_at(20) as usize);
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(PatternFileError::Malformed(format!(
                "size {width}x{height}"
            )));
        }
        let n = width as usize * height as usize;
        let need = 24usize
            .checked_add(meta_len)
            .and_then(|v| v.checked_add(n * 4 + 4))
            .ok_or_else(|| PatternFileError::Malformed("metadata length".into()))?;
        if bytes.len() < need {
            return Err(truncated(need));
        }
        if bytes.len() > need {
            return Err(PatternFileError::Malformed(format!(
                "{} trailing bytes",
                bytes.len() - need
            )));
        }
        let stored = u32_at(need - 4);
        let computed = CRC.checksum(&bytes[..need - 4]);
        if stored != computed {
            return Err(PatternFileError::Checksum { stored, computed });
        }
        let meta: PatternMeta = serde_json::from_slice(&bytes[24..24 + meta_len])
            .map_err(|e| PatternFileError::Malformed(format!("metadata: {e}")))?;
        let data = bytes[24 + meta_len..need - 4]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(StoredPattern {
            width,
            height,
            data,
            meta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredPattern {
        StoredPattern {
            width: 3,
            height: 2,
            data: vec![1.0, -2.0, 3.5, 0.0, 7.0, -1.25],
            meta: PatternMeta {
                camera: "sim".into(),
                sensor_temp_c: Some(31.5),
                unix_ms: 1,
                fit_loss: Some(0.5),
                method: "cp-tv".into(),
                steps: 10,
                duration_ms: 20,
            },
        }
    }

    #[test]
    fn round_trip_and_every_corruption_is_caught() {
        let p = sample();
        let bytes = p.encode();
        assert_eq!(StoredPattern::decode(&bytes).unwrap(), p);
        for cut in 0..bytes.len() {
            assert!(StoredPattern::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(StoredPattern::decode(&b).is_err(), "flip at {i}");
        }
    }
}
