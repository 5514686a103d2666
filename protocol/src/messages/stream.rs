//! The frame topic: 16-bit frames streamed to a host that subscribed (`FrameSubscribe`), at
//! most at the rate it asked for, for recordings.
//!
//! A frame is larger than a packet, so each one travels as a `FrameStart` (its header and
//! metadata) followed by `FrameData` chunks of at most [`BULK_CHUNK`](super::BULK_CHUNK)
//! bytes, addressed by byte offset and checked against the CRC in the header.
//!
//! The device never waits for a slow link: a frame that finds the link still busy with earlier
//! ones is skipped, and so is a frame that comes sooner than the rate allows. Every frame the
//! capture delivered while the stream was open is accounted for in the header:
//! `offered = index + 1 + skipped_rate + skipped_busy`. A gap in `index` means frames lost on
//! the link; a gap in `seq` larger than the growth of `offered` means frames the camera or the
//! capture lost (counted as dropped in telemetry).

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use super::bulk::ChunkData;

/// Which frames a stream carries.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Raw sensor frames, before correction.
    Raw,
    /// Corrected frames.
    Corrected,
}

/// Answer to `FrameSubscribe`: the stream is open and frames follow as topics.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct StreamOpened {
    /// Id carried by this stream's `FrameStart`/`FrameData` topics.
    pub stream_id: u32,
    /// What the frames are.
    pub kind: FrameKind,
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// Significant bits per pixel.
    pub bit_depth: u8,
    /// Highest rate the device will send, frames per second: the one asked for, capped by the
    /// device's `recording.max_fps`.
    pub max_fps: f32,
}

/// First topic of one streamed frame: which frame it is, how the frames in between were
/// accounted for, and the metadata a recording keeps beside the pixels.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FrameHeader {
    /// The stream.
    pub stream_id: u32,
    /// Frames sent on this stream before this one (0, 1, 2, …): a gap is a frame lost on the
    /// link.
    pub index: u64,
    /// The camera's frame sequence number.
    pub seq: u64,
    /// Frames the capture delivered since the stream opened, this one included.
    pub offered: u64,
    /// Of those, frames not sent because they came sooner than the rate allows.
    pub skipped_rate: u64,
    /// Of those, frames not sent because the link was still busy with earlier frames.
    pub skipped_busy: u64,
    /// When the frame was captured, Unix time in milliseconds (device clock).
    pub unix_ms: u64,
    /// Sensor temperature at capture, °C, when the camera reports it.
    pub sensor_temp_c: Option<f32>,
    /// The pattern applied to the frame (its creation time, Unix ms, as `pattern pull`
    /// reports it); `None` while no pattern is applied.
    pub pattern_id: Option<u64>,
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// Bytes of pixels that follow (`width * height * 2`, `u16` little-endian, row-major).
    pub len: u32,
    /// CRC-32/ISO-HDLC of those bytes.
    pub crc32: u32,
}

/// Part of a streamed frame's pixels.
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub struct FrameData {
    /// The stream.
    pub stream_id: u32,
    /// The frame's [`FrameHeader::index`].
    pub index: u64,
    /// Offset of `data[0]` in the frame's pixel bytes.
    pub offset: u32,
    /// The bytes.
    pub data: ChunkData,
}
