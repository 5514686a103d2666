//! Bulk transfer helpers shared by both ends: the whole-object CRC, a chunk iterator for
//! senders, and [`BulkReceiver`], the state machine that assembles an object from chunks.
//!
//! The receiver accepts only contiguous growth: a chunk may start anywhere up to the next
//! expected offset (resends of what already arrived are accepted and ignored, which makes
//! retries and resumes safe), but never beyond it (a gap would leave a hole the CRC would only
//! catch at the end). The storage is the caller's: the daemon writes to a file, the host to
//! memory ([`VecReceiver`] with `alloc`).

use core::fmt;

use crc::Digest;

use crate::framing::CRC32;
pub use crate::messages::bulk::BULK_CHUNK;
use crate::messages::{ChunkData, Nack, NackCode};

static CRC32_ALGO: crc::Crc<u32> = CRC32;

/// CRC-32/ISO-HDLC of a whole object (what `BulkBegin`/`BulkOffer` carry).
pub fn object_crc32(data: &[u8]) -> u32 {
    CRC32_ALGO.checksum(data)
}

/// Incremental whole-object CRC, for objects fed in pieces.
#[derive(Clone)]
pub struct ObjectCrc {
    digest: Digest<'static, u32>,
}

impl Default for ObjectCrc {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ObjectCrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectCrc").finish_non_exhaustive()
    }
}

impl ObjectCrc {
    /// CRC of nothing yet.
    pub fn new() -> Self {
        ObjectCrc {
            digest: CRC32_ALGO.digest(),
        }
    }

    /// Adds the next bytes of the object.
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// CRC of everything added so far.
    pub fn value(&self) -> u32 {
        self.digest.clone().finalize()
    }
}

/// Splits `object` into `(offset, chunk)` pairs of at most [`BULK_CHUNK`] bytes, starting at
/// byte `start` (to resume an upload from `resume_offset`).
pub fn chunks(object: &[u8], start: u32) -> impl Iterator<Item = (u32, &[u8])> {
    let start = (start as usize).min(object.len());
    object[start..]
        .chunks(BULK_CHUNK)
        .enumerate()
        .map(move |(i, c)| ((start + i * BULK_CHUNK) as u32, c))
}

/// Copies up to [`BULK_CHUNK`] bytes into the wire chunk type (longer input is cut).
pub fn chunk_data(bytes: &[u8]) -> ChunkData {
    let n = bytes.len().min(BULK_CHUNK);
    // Cannot fail: n <= capacity.
    ChunkData::from_slice(&bytes[..n]).unwrap_or_default()
}

/// A chunk or commit was refused by a [`BulkReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    /// The chunk starts beyond what has been received: bytes in between are missing.
    #[error("gap in transfer: chunk at offset {offset}, but only {next_offset} bytes received")]
    Gap {
        /// Offset of the refused chunk.
        offset: u32,
        /// Bytes received so far.
        next_offset: u32,
    },
    /// The chunk extends past the announced object length.
    #[error("chunk at offset {offset} with {len} bytes runs past the object end ({total_len})")]
    PastEnd {
        /// Offset of the refused chunk.
        offset: u32,
        /// Its length.
        len: usize,
        /// Announced object length.
        total_len: u32,
    },
    /// Commit before every byte arrived.
    #[error("transfer incomplete: {received} of {total_len} bytes received")]
    Incomplete {
        /// Bytes received.
        received: u32,
        /// Announced object length.
        total_len: u32,
    },
    /// Every byte arrived but the whole-object CRC does not match.
    #[error(
        "object checksum mismatch: received bytes give {computed:#010x}, expected {expected:#010x}"
    )]
    ChecksumMismatch {
        /// CRC of the received bytes.
        computed: u32,
        /// CRC announced by the sender.
        expected: u32,
    },
}

impl BulkError {
    /// The Nack code a device answers with for this error.
    pub const fn nack_code(&self) -> NackCode {
        match self {
            BulkError::Gap { .. } | BulkError::Incomplete { .. } => NackCode::BadRequest,
            BulkError::PastEnd { .. } => NackCode::TooLarge,
            BulkError::ChecksumMismatch { .. } => NackCode::ChecksumMismatch,
        }
    }

    /// This error as a wire `Nack`, with the message as detail.
    pub fn to_nack(&self) -> Nack {
        let mut detail = heapless::String::<{ crate::messages::error::NACK_DETAIL_LEN }>::new();
        // Truncation is acceptable: the numbers come first in every message.
        let _ = fmt::write(&mut TruncatingWriter(&mut detail), format_args!("{self}"));
        Nack {
            code: self.nack_code(),
            detail,
        }
    }
}

/// `fmt::Write` into a bounded string, dropping what does not fit instead of failing.
struct TruncatingWriter<'a, const N: usize>(&'a mut heapless::String<N>);

impl<const N: usize> fmt::Write for TruncatingWriter<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            if self.0.push(ch).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// A chunk accepted by [`BulkReceiver::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted<'a> {
    /// Offset at which `new_bytes` belong in the object.
    pub offset: u32,
    /// The part of the chunk not received before (empty for a pure resend). The caller must
    /// store these before writing the next chunk.
    pub new_bytes: &'a [u8],
    /// Bytes received contiguously from the start, after this chunk.
    pub next_offset: u32,
}

/// Assembles one object from chunks, independent of where the bytes are stored.
///
/// After a restart, rebuild the state by creating a new receiver and writing the bytes already
/// stored (in order) through [`write`](Self::write) again without storing them.
#[derive(Debug, Clone)]
pub struct BulkReceiver {
    total_len: u32,
    expected_crc: u32,
    next_offset: u32,
    crc: ObjectCrc,
}

impl BulkReceiver {
    /// A receiver for an object of `total_len` bytes whose CRC-32 should be `expected_crc`.
    pub fn new(total_len: u32, expected_crc: u32) -> Self {
        BulkReceiver {
            total_len,
            expected_crc,
            next_offset: 0,
            crc: ObjectCrc::new(),
        }
    }

    /// Announced object length.
    pub const fn total_len(&self) -> u32 {
        self.total_len
    }

    /// Announced object CRC.
    pub const fn expected_crc(&self) -> u32 {
        self.expected_crc
    }

    /// Bytes received contiguously from the start (where a resumed transfer continues).
    pub const fn next_offset(&self) -> u32 {
        self.next_offset
    }

    /// True once every byte has arrived (the CRC is checked by [`commit`](Self::commit)).
    pub const fn is_complete(&self) -> bool {
        self.next_offset == self.total_len
    }

    /// Takes a chunk at `offset`: returns the new part to store, or refuses a gap or an
    /// overrun. Resent ranges are accepted with no new bytes.
    pub fn write<'a>(&mut self, offset: u32, data: &'a [u8]) -> Result<Accepted<'a>, BulkError> {
        let end = u64::from(offset) + data.len() as u64;
        if end > u64::from(self.total_len) {
            return Err(BulkError::PastEnd {
                offset,
                len: data.len(),
                total_len: self.total_len,
            });
        }
        if offset > self.next_offset {
            return Err(BulkError::Gap {
                offset,
                next_offset: self.next_offset,
            });
        }
        let already = (self.next_offset - offset) as usize;
        let new_bytes = data.get(already..).unwrap_or(&[]);
        let new_offset = self.next_offset;
        self.crc.update(new_bytes);
        self.next_offset += new_bytes.len() as u32;
        Ok(Accepted {
            offset: new_offset,
            new_bytes,
            next_offset: self.next_offset,
        })
    }

    /// Checks that the object is complete and its CRC matches.
    pub fn commit(&self) -> Result<(), BulkError> {
        if !self.is_complete() {
            return Err(BulkError::Incomplete {
                received: self.next_offset,
                total_len: self.total_len,
            });
        }
        let computed = self.crc.value();
        if computed != self.expected_crc {
            return Err(BulkError::ChecksumMismatch {
                computed,
                expected: self.expected_crc,
            });
        }
        Ok(())
    }
}

/// A [`BulkReceiver`] that stores the object in memory.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
pub struct VecReceiver {
    state: BulkReceiver,
    data: alloc::vec::Vec<u8>,
}

#[cfg(feature = "alloc")]
impl VecReceiver {
    /// A receiver for an object of `total_len` bytes with CRC `expected_crc`.
    pub fn new(total_len: u32, expected_crc: u32) -> Self {
        VecReceiver {
            state: BulkReceiver::new(total_len, expected_crc),
            data: alloc::vec::Vec::new(),
        }
    }

    /// The transfer state.
    pub const fn state(&self) -> &BulkReceiver {
        &self.state
    }

    /// Bytes received contiguously from the start.
    pub const fn next_offset(&self) -> u32 {
        self.state.next_offset()
    }

    /// Takes a chunk (see [`BulkReceiver::write`]); returns the new `next_offset`.
    pub fn write(&mut self, offset: u32, data: &[u8]) -> Result<u32, BulkError> {
        let accepted = self.state.write(offset, data)?;
        self.data.extend_from_slice(accepted.new_bytes);
        Ok(accepted.next_offset)
    }

    /// Verifies length and CRC and hands out the object; on error the bytes are kept so the
    /// caller may inspect or retry.
    pub fn commit(self) -> Result<alloc::vec::Vec<u8>, (BulkError, Self)> {
        match self.state.commit() {
            Ok(()) => Ok(self.data),
            Err(e) => Err((e, self)),
        }
    }
}
