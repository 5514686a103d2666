//! Bulk objects in flight, shared by every connection so a transfer survives a dropped link:
//! offers (snapshots, pattern pulls, config exports) the host reads at its own pace, and
//! uploads (pattern push, config import, firmware) assembled chunk by chunk and checked
//! against their whole-object CRC before anything is applied.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::bulk::{BulkError, VecReceiver, object_crc32};
use protocol::{ObjectKind, ObjectMeta};

/// Offers and uploads idle this long are forgotten.
const IDLE_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// At most this many offers are kept (read-to-the-end ones dropped first, then the oldest), so
/// a slow client's download in progress is not evicted by other clients' finished ones.
const MAX_OFFERS: usize = 16;
/// At most this many uploads in progress.
const MAX_UPLOADS: usize = 4;

/// An object offered for reading.
pub struct Offer {
    /// Kind.
    pub kind: ObjectKind,
    /// Bytes.
    pub bytes: Arc<Vec<u8>>,
    /// Whole-object CRC-32.
    pub crc32: u32,
    /// Metadata.
    pub meta: ObjectMeta,
    last_used: Instant,
    /// The last chunk has been read once (the host may still re-read after a dropped link).
    read_to_end: bool,
}

/// An upload being received.
pub struct Upload {
    /// Kind.
    pub kind: ObjectKind,
    /// Metadata sent with `BulkBegin`.
    pub meta: ObjectMeta,
    /// Received bytes and state.
    pub receiver: VecReceiver,
    last_used: Instant,
}

/// Why an upload cannot start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UploadRefused {
    /// Too many uploads at once.
    #[error("too many uploads in progress")]
    Busy,
    /// Larger than allowed for its kind.
    #[error("{kind:?} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Kind.
        kind: ObjectKind,
        /// Announced length.
        len: u32,
        /// Limit.
        limit: u32,
    },
    /// This kind cannot be uploaded.
    #[error("{0:?} objects cannot be uploaded")]
    Unsupported(ObjectKind),
}

/// Largest upload accepted per kind.
pub fn upload_limit(kind: ObjectKind) -> Option<u32> {
    match kind {
        ObjectKind::Pattern => Some(256 << 20),
        ObjectKind::Config => Some(1 << 20),
        ObjectKind::Firmware => Some(512 << 20),
        ObjectKind::Frame => None,
    }
}

/// A verified upload: kind, metadata, bytes.
pub type CompleteUpload = (ObjectKind, ObjectMeta, Vec<u8>);

/// The table of transfers.
#[derive(Default)]
pub struct Transfers {
    next_id: AtomicU32,
    offers: Mutex<HashMap<u32, Offer>>,
    uploads: Mutex<HashMap<u32, Upload>>,
}

impl Transfers {
    fn new_id(&self) -> u32 {
        // Ids start at 1; 0 is never used so a zeroed field cannot name a transfer.
        self.next_id
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .max(1)
    }

    /// Registers an object for reading; returns its transfer id and CRC.
    pub fn offer(&self, kind: ObjectKind, bytes: Vec<u8>, meta: ObjectMeta) -> (u32, u32, u32) {
        let id = self.new_id();
        let crc32 = object_crc32(&bytes);
        let len = bytes.len() as u32;
        let mut offers = self.offers.lock().unwrap_or_else(|e| e.into_inner());
        offers.retain(|_, o| o.last_used.elapsed() < IDLE_EXPIRY);
        while offers.len() >= MAX_OFFERS {
            let oldest = offers
                .iter()
                .min_by_key(|(_, o)| (!o.read_to_end, o.last_used))
                .map(|(k, _)| *k)
                .expect("not empty");
            offers.remove(&oldest);
        }
        offers.insert(
            id,
            Offer {
                kind,
                bytes: Arc::new(bytes),
                crc32,
                meta,
                last_used: Instant::now(),
                read_to_end: false,
            },
        );
        (id, len, crc32)
    }

    /// Reads `len` bytes at `offset` of an offer (`None` = unknown transfer).
    pub fn read(&self, id: u32, offset: u32, len: u16) -> Option<Result<Vec<u8>, String>> {
        let mut offers = self.offers.lock().unwrap_or_else(|e| e.into_inner());
        let o = offers.get_mut(&id)?;
        o.last_used = Instant::now();
        let total = o.bytes.len();
        let start = offset as usize;
        if start >= total {
            return Some(Err(format!(
                "offset {offset} is at or past the end ({total} bytes)"
            )));
        }
        let end = (start + len as usize)
            .min(total)
            .min(start + protocol::BULK_CHUNK);
        o.read_to_end |= end == total;
        Some(Ok(o.bytes[start..end].to_vec()))
    }

    /// Starts (or resumes) an upload; returns its id and the offset to continue from.
    pub fn begin(
        &self,
        kind: ObjectKind,
        total_len: u32,
        crc32: u32,
        meta: ObjectMeta,
    ) -> Result<(u32, u32), UploadRefused> {
        let limit = upload_limit(kind).ok_or(UploadRefused::Unsupported(kind))?;
        if total_len > limit {
            return Err(UploadRefused::TooLarge {
                kind,
                len: total_len,
                limit,
            });
        }
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        uploads.retain(|_, u| u.last_used.elapsed() < IDLE_EXPIRY);
        // The same object announced again (after a dropped link): resume it.
        if let Some((id, u)) = uploads.iter_mut().find(|(_, u)| {
            u.kind == kind
                && u.receiver.state().total_len() == total_len
                && u.receiver.state().expected_crc() == crc32
        }) {
            u.last_used = Instant::now();
            return Ok((*id, u.receiver.next_offset()));
        }
        if uploads.len() >= MAX_UPLOADS {
            return Err(UploadRefused::Busy);
        }
        let id = self.new_id();
        uploads.insert(
            id,
            Upload {
                kind,
                meta,
                receiver: VecReceiver::new(total_len, crc32),
                last_used: Instant::now(),
            },
        );
        Ok((id, 0))
    }

    /// Stores a chunk; returns the next expected offset (`None` = unknown transfer).
    pub fn write(&self, id: u32, offset: u32, data: &[u8]) -> Option<Result<u32, BulkError>> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let u = uploads.get_mut(&id)?;
        u.last_used = Instant::now();
        Some(u.receiver.write(offset, data))
    }

    /// Bytes received so far: of an upload, or the length of an offer.
    pub fn status(&self, id: u32) -> Option<u32> {
        if let Some(u) = self
            .uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Some(u.receiver.next_offset());
        }
        self.offers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map(|o| o.bytes.len() as u32)
    }

    /// Takes a complete upload out for verification and applying; on a CRC or length error the
    /// upload stays (the host may resend) and the error is returned.
    pub fn take_complete(&self, id: u32) -> Option<Result<CompleteUpload, BulkError>> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let u = uploads.remove(&id)?;
        let (kind, meta) = (u.kind, u.meta.clone());
        match u.receiver.commit() {
            Ok(bytes) => Some(Ok((kind, meta, bytes))),
            Err((e, receiver)) => {
                if matches!(e, BulkError::ChecksumMismatch { .. }) {
                    // Every byte arrived but they are wrong: start over.
                    return Some(Err(e));
                }
                uploads.insert(
                    id,
                    Upload {
                        kind,
                        meta,
                        receiver,
                        last_used: Instant::now(),
                    },
                );
                Some(Err(e))
            }
        }
    }

    /// Forgets a transfer; returns whether it existed.
    pub fn cancel(&self, id: u32) -> bool {
        let a = self
            .uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
            .is_some();
        let b = self
            .offers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
            .is_some();
        a || b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ObjectEncoding;

    #[test]
    fn a_download_in_progress_outlives_finished_ones() {
        let t = Transfers::default();
        let big = vec![7u8; 3 * protocol::BULK_CHUNK];
        let (slow, ..) = t.offer(
            ObjectKind::Frame,
            big.clone(),
            ObjectMeta::opaque(ObjectEncoding::U16Le, "test"),
        );
        assert!(t.read(slow, 0, 4096).unwrap().is_ok());
        // Other clients pull and finish many snapshots meanwhile.
        for _ in 0..3 * MAX_OFFERS {
            let (id, ..) = t.offer(
                ObjectKind::Frame,
                vec![1u8; 10],
                ObjectMeta::opaque(ObjectEncoding::U16Le, "test"),
            );
            assert!(t.read(id, 0, 4096).unwrap().is_ok());
        }
        let rest = t
            .read(slow, 4096, 4096)
            .expect("slow download still offered");
        assert_eq!(rest.unwrap().len(), 4096);
    }
}
