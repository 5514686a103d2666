//! Framing: how a payload travels on a byte stream.
//!
//! ```text
//! frame = COBS( payload ‖ CRC-32/ISO-HDLC(payload) as 4 bytes little-endian ) ‖ 0x00
//! ```
//!
//! COBS removes every zero byte from the encoded body, so `0x00` only ever marks the end of a
//! frame: a receiver that joins mid-stream or sees garbage drops bytes up to the next `0x00`
//! and is back in sync. The CRC catches corruption COBS cannot see. Empty frames (`0x00 0x00`)
//! are ignored, so a sender may emit a lone `0x00` to flush a receiver's partial frame.

use cobs::CobsEncoder;
use crc::{CRC_32_ISO_HDLC, Crc};

use crate::messages::bulk::BULK_CHUNK;

/// Bytes of CRC after each payload.
pub const CRC_LEN: usize = 4;

/// Largest payload (an encoded `Packet`) a frame may carry: a full bulk chunk plus room for
/// the envelope and chunk header. `envelope` checks at compile time that every `Packet` fits.
pub const MAX_PAYLOAD: usize = BULK_CHUNK + 256;

/// Largest encoded frame on the wire, delimiter included.
pub const MAX_FRAME: usize = cobs::max_encoding_length(MAX_PAYLOAD + CRC_LEN) + 1;

/// The CRC used for frames and whole bulk objects (CRC-32/ISO-HDLC, as zlib and Ethernet).
pub const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// A frame could not be built or was received damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame decoded, but its CRC does not match its payload.
    #[error("frame CRC mismatch: computed {computed:#010x}, frame carries {received:#010x}")]
    Crc {
        /// CRC computed over the received payload.
        computed: u32,
        /// CRC carried by the frame.
        received: u32,
    },
    /// More than `limit` bytes arrived without a delimiter; they were dropped.
    #[error("frame longer than the {limit}-byte receive buffer; dropped up to the next delimiter")]
    Oversize {
        /// The decoder's buffer size.
        limit: usize,
    },
    /// The bytes between two delimiters are not valid COBS.
    #[error("invalid COBS encoding")]
    Cobs,
    /// The frame decoded to fewer bytes than a CRC plus one payload byte.
    #[error("frame too short: {len} bytes after COBS decoding, need at least {}", CRC_LEN + 1)]
    TooShort {
        /// Decoded length.
        len: usize,
    },
    /// `encode_frame` was given a payload larger than [`MAX_PAYLOAD`].
    #[error("payload of {len} bytes exceeds the maximum of {MAX_PAYLOAD}")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
    },
    /// `encode_frame` was given an output buffer that may be too small.
    #[error("output buffer of {have} bytes is too small, need {need}")]
    OutputTooSmall {
        /// Worst-case size for this payload.
        need: usize,
        /// Size given.
        have: usize,
    },
}

/// Worst-case frame size (delimiter included) for a payload of `payload_len` bytes.
pub const fn max_frame_len(payload_len: usize) -> usize {
    cobs::max_encoding_length(payload_len + CRC_LEN) + 1
}

/// Encodes `payload` as one frame into `out` and returns the number of bytes written.
///
/// `out` must hold [`max_frame_len`]`(payload.len())` bytes ([`MAX_FRAME`] always suffices).
pub fn encode_frame(payload: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::PayloadTooLarge { len: payload.len() });
    }
    let need = max_frame_len(payload.len());
    if out.len() < need {
        return Err(FrameError::OutputTooSmall {
            need,
            have: out.len(),
        });
    }
    let crc = CRC32.checksum(payload).to_le_bytes();
    let (body, _) = out.split_at_mut(need - 1);
    let mut encoder = CobsEncoder::new(body);
    // Sizes were checked above, so these cannot fail; map anyway rather than unwrap.
    let too_small = |_| FrameError::OutputTooSmall {
        need,
        have: need - 1,
    };
    encoder.push(payload).map_err(too_small)?;
    encoder.push(&crc).map_err(too_small)?;
    let n = encoder.finalize();
    out[n] = 0;
    Ok(n + 1)
}

/// Counters kept by a [`FrameDecoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Frames delivered (CRC verified).
    pub frames: u64,
    /// Frames dropped for a CRC mismatch.
    pub crc_errors: u64,
    /// Frames dropped for exceeding the buffer.
    pub oversize: u64,
    /// Frames dropped for invalid COBS.
    pub cobs_errors: u64,
    /// Frames dropped for being shorter than a CRC plus one byte.
    pub too_short: u64,
    /// Bytes thrown away by any of the above (delimiters not counted).
    pub bytes_discarded: u64,
}

/// Streaming frame decoder with a fixed `N`-byte buffer: no allocation, no panics.
///
/// Feed it whatever the link delivers (one byte or 64 KiB at a time) with [`feed`]; it returns
/// each complete, CRC-verified payload, or a typed error for each damaged frame, and keeps
/// counters. Use `FrameDecoder<MAX_FRAME>` to accept every frame this protocol produces.
///
/// [`feed`]: FrameDecoder::feed
#[derive(Debug, Clone)]
pub struct FrameDecoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// Set after an oversize frame: drop everything up to the next delimiter.
    discarding: bool,
    stats: DecoderStats,
}

impl<const N: usize> Default for FrameDecoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameDecoder<N> {
    /// An empty decoder.
    pub const fn new() -> Self {
        FrameDecoder {
            buf: [0; N],
            len: 0,
            discarding: false,
            stats: DecoderStats {
                frames: 0,
                crc_errors: 0,
                oversize: 0,
                cobs_errors: 0,
                too_short: 0,
                bytes_discarded: 0,
            },
        }
    }

    /// The counters so far.
    pub const fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Bytes of an unfinished frame currently buffered.
    pub const fn pending(&self) -> usize {
        self.len
    }

    /// Drops any partial frame (e.g. after reconnecting), keeping the counters.
    pub fn reset(&mut self) {
        self.len = 0;
        self.discarding = false;
    }

    /// Consumes bytes from the front of `input` until one frame ends, and returns its verified
    /// payload (`Some(Ok)`) or why it was dropped (`Some(Err)`); `None` once `input` is used up
    /// with no frame ending. Call again with the same `input` until it returns `None`.
    ///
    /// The payload borrows the decoder's buffer and is valid until the next call.
    pub fn feed<'a>(&'a mut self, input: &mut &[u8]) -> Option<Result<&'a [u8], FrameError>> {
        loop {
            if input.is_empty() {
                return None;
            }
            let (chunk, delimited) = match input.iter().position(|&b| b == 0) {
                Some(end) => (&input[..end], true),
                None => (&input[..], false),
            };
            *input = &input[chunk.len() + usize::from(delimited)..];

            if self.discarding {
                self.stats.bytes_discarded += chunk.len() as u64;
                if delimited {
                    self.discarding = false;
                }
                continue;
            }

            if self.len + chunk.len() > N {
                self.stats.oversize += 1;
                self.stats.bytes_discarded += (self.len + chunk.len()) as u64;
                self.len = 0;
                self.discarding = !delimited;
                return Some(Err(FrameError::Oversize { limit: N }));
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();

            if delimited {
                let len = core::mem::take(&mut self.len);
                if len == 0 {
                    // A lone delimiter: idle filler or a flush, not an error.
                    continue;
                }
                return Some(self.finish(len));
            }
        }
    }

    /// Decodes and verifies the `len` buffered bytes of one frame.
    fn finish(&mut self, len: usize) -> Result<&[u8], FrameError> {
        let decoded = match cobs::decode_in_place_report(&mut self.buf[..len]) {
            Ok(report) if report.src_used == len => report.dst_used,
            _ => {
                self.stats.cobs_errors += 1;
                self.stats.bytes_discarded += len as u64;
                return Err(FrameError::Cobs);
            }
        };
        if decoded <= CRC_LEN {
            self.stats.too_short += 1;
            self.stats.bytes_discarded += len as u64;
            return Err(FrameError::TooShort { len: decoded });
        }
        let (payload, crc) = self.buf[..decoded].split_at(decoded - CRC_LEN);
        let received = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = CRC32.checksum(payload);
        if computed != received {
            self.stats.crc_errors += 1;
            self.stats.bytes_discarded += len as u64;
            return Err(FrameError::Crc { computed, received });
        }
        self.stats.frames += 1;
        Ok(&self.buf[..decoded - CRC_LEN])
    }
}
