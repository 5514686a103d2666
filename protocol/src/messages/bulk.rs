//! Bulk transfer wire types: what an object is (`ObjectKind`, `ObjectMeta`) and the chunk size.
//!
//! Objects larger than a frame (frames, noise patterns, config exports, firmware images) move
//! in chunks of at most [`BULK_CHUNK`] bytes, addressed by byte offset, with a whole-object
//! CRC-32 checked at the end. Pulls (device → host) are offered with `BulkOffer` and read with
//! `BulkRead`; pushes (host → device) go `BulkBegin` → `BulkWrite`… → `BulkCommit`. Both resume
//! after a dropped link from the last acknowledged offset.

use heapless::{String, Vec};
use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// Largest data block in one `BulkWrite` or `BulkChunk` (bytes).
pub const BULK_CHUNK: usize = 4096;
/// Capacity of [`ObjectMeta::label`].
pub const LABEL_LEN: usize = 32;

/// The data of one chunk.
pub type ChunkData = Vec<u8, BULK_CHUNK>;

/// What a bulk object is; decides how the receiver uses it.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A camera frame (snapshot).
    Frame,
    /// A fixed-pattern-noise estimate.
    Pattern,
    /// A signed firmware image.
    Firmware,
    /// The daemon's configuration as TOML text.
    Config,
}

/// Which frame a `SnapshotRequest` asks for.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotKind {
    /// The raw sensor frame, before correction.
    Raw,
    /// The currently applied noise pattern, rendered as a frame.
    Pattern,
    /// The corrected frame.
    Corrected,
}

/// How the bytes of an object are laid out.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectEncoding {
    /// Row-major `u16` pixels, little-endian (`width * height * 2` bytes).
    U16Le,
    /// Row-major `f32` values, little-endian (`width * height * 4` bytes).
    F32Le,
    /// UTF-8 TOML text.
    TomlUtf8,
    /// A firmware image in the edge's signed image format (payload ‖ signature ‖ trailer).
    SignedImage,
    /// A noise pattern as a complete `.dnp` pattern file (header, `f32` values, metadata,
    /// checksum): what `PatternPull` offers and a pattern push sends.
    PatternFile,
}

/// Description of a bulk object, sent with `BulkOffer` and `BulkBegin`.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// Byte layout of the object.
    pub encoding: ObjectEncoding,
    /// Width in pixels (0 for non-image objects).
    pub width: u16,
    /// Height in pixels (0 for non-image objects).
    pub height: u16,
    /// Significant bits per value (14 for raw frames; 0 when not applicable).
    pub bit_depth: u8,
    /// Sensor temperature when the object was captured, °C.
    pub sensor_temp_c: Option<f32>,
    /// When the object was made, Unix time in milliseconds (0 when unknown).
    pub unix_ms: u64,
    /// Free text: firmware version, snapshot kind, fit method.
    pub label: String<LABEL_LEN>,
    /// Sequence number of the captured frame a snapshot comes from (None for other objects);
    /// raw and corrected snapshots of the same frame carry the same number.
    pub seq: Option<u64>,
}

impl ObjectMeta {
    /// Meta for an object that is not an image (config text, firmware).
    pub fn opaque(encoding: ObjectEncoding, label: &str) -> Self {
        ObjectMeta {
            encoding,
            width: 0,
            height: 0,
            bit_depth: 0,
            sensor_temp_c: None,
            unix_ms: 0,
            label: crate::text::truncate(label),
            seq: None,
        }
    }
}
