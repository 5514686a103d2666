//! A noise pattern as a link object: the `.dnp` file bytes of [`crate::pattern`] under
//! [`ObjectEncoding::PatternFile`], with an [`ObjectMeta`] that describes them. It is the one
//! codec both ends use: the daemon for the pulls it offers and the pushes it receives, the host
//! tool for the pulls it reads and the pushes it sends.

use protocol::{ObjectEncoding, ObjectMeta};

use crate::pattern::{PatternFileError, StoredPattern};

/// Why a received object is not a usable pattern.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternObjectError {
    /// The object is labelled with another encoding.
    #[error("a pattern is sent as a .dnp pattern file (PatternFile), not {0:?}")]
    Encoding(ObjectEncoding),
    /// The bytes are not a valid pattern file.
    #[error(transparent)]
    File(#[from] PatternFileError),
    /// The metadata and the file disagree on the size.
    #[error("metadata says {meta_w}x{meta_h} but the pattern file holds {file_w}x{file_h}")]
    Size {
        /// Width in the metadata.
        meta_w: u16,
        /// Height in the metadata.
        meta_h: u16,
        /// Width in the file.
        file_w: u32,
        /// Height in the file.
        file_h: u32,
    },
}

/// The metadata describing `p` (`bit_depth` of the camera it corrects).
pub fn meta(p: &StoredPattern, bit_depth: u8) -> ObjectMeta {
    let mut m = ObjectMeta::opaque(ObjectEncoding::PatternFile, &p.meta.method);
    m.width = u16::try_from(p.width).unwrap_or(u16::MAX);
    m.height = u16::try_from(p.height).unwrap_or(u16::MAX);
    m.bit_depth = bit_depth;
    m.sensor_temp_c = p.meta.sensor_temp_c;
    m.unix_ms = p.meta.unix_ms;
    m
}

/// `p` as a link object: its metadata and its `.dnp` bytes.
pub fn encode(p: &StoredPattern, bit_depth: u8) -> (ObjectMeta, Vec<u8>) {
    (meta(p, bit_depth), p.encode())
}

/// The pattern in a received object: the encoding must be `PatternFile`, the file must verify
/// (checksum, size), and the metadata's size must match the file's.
pub fn decode(meta: &ObjectMeta, bytes: &[u8]) -> Result<StoredPattern, PatternObjectError> {
    if meta.encoding != ObjectEncoding::PatternFile {
        return Err(PatternObjectError::Encoding(meta.encoding));
    }
    let p = StoredPattern::decode(bytes)?;
    if (u32::from(meta.width), u32::from(meta.height)) != (p.width, p.height) {
        return Err(PatternObjectError::Size {
            meta_w: meta.width,
            meta_h: meta.height,
            file_w: p.width,
            file_h: p.height,
        });
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::PatternMeta;

    fn pattern() -> StoredPattern {
        StoredPattern {
            width: 4,
            height: 3,
            data: (0..12).map(|i| i as f32 - 5.5).collect(),
            meta: PatternMeta {
                method: "cp-tv".into(),
                sensor_temp_c: Some(31.5),
                unix_ms: 1_764_000_000_000,
                ..PatternMeta::default()
            },
        }
    }

    #[test]
    fn round_trips_and_refuses_mislabelled_or_inconsistent_objects() {
        let p = pattern();
        let (meta, bytes) = encode(&p, 14);
        assert_eq!(meta.encoding, ObjectEncoding::PatternFile);
        assert_eq!((meta.width, meta.height, meta.bit_depth), (4, 3, 14));
        assert_eq!(meta.label.as_str(), "cp-tv");
        assert_eq!(decode(&meta, &bytes).unwrap(), p);

        let mut raw = meta.clone();
        raw.encoding = ObjectEncoding::F32Le;
        assert_eq!(
            decode(&raw, &bytes),
            Err(PatternObjectError::Encoding(ObjectEncoding::F32Le))
        );
        let mut wide = meta.clone();
        wide.width = 5;
        assert!(matches!(
            decode(&wide, &bytes),
            Err(PatternObjectError::Size { file_w: 4, .. })
        ));
        let mut corrupt = bytes.clone();
        corrupt[40] ^= 1;
        assert!(matches!(
            decode(&meta, &corrupt),
            Err(PatternObjectError::File(PatternFileError::Checksum { .. }))
        ));
    }
}
