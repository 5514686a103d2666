//! The frame topic of one connection: takes the frames the [`FrameHub`](crate::frame_topic::FrameHub)
//! queued for this link's stream and sends each as a `FrameStart` header and `FrameData`
//! chunks, one packet per writer lock so requests are answered in between. This thread is the
//! one that waits on a slow link; the capture loop only ever finds its queue full and skips.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use protocol::bulk::{chunk_data, object_crc32};
use protocol::io::{FrameWriter, LinkError};
use protocol::{BULK_CHUNK, FrameData, FrameHeader, Packet, Topic};
use tracing::{debug, info};

use crate::frame_topic::{FrameStream, StreamedFrame};
use crate::stats::unix_ms;

/// The stream a connection's session opened, handed to its sender thread.
#[derive(Default)]
pub struct FrameSlot {
    /// A stream opened (or `None` after an unsubscribe) that the sender has not taken yet.
    pending: Mutex<Option<FrameStream>>,
    /// Bumped on every subscribe and unsubscribe.
    generation: AtomicU64,
}

impl FrameSlot {
    /// Hands a new stream to the sender (replacing this link's earlier one), or `None` to stop.
    pub fn set(&self, stream: Option<FrameStream>) {
        *lock(&self.pending) = stream;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Whether a stream was ever opened on this connection (the sender thread is needed).
    pub fn used(&self) -> bool {
        self.generation.load(Ordering::Acquire) > 0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends the stream's frames until `done()` says the connection ended; frames are sent only
/// while `open()` (the peer passed the handshake and the token gate). A write error ends the
/// connection (the reader notices through `done`).
pub fn send_frames<W: Write>(
    slot: &FrameSlot,
    writer: &Mutex<FrameWriter<W>>,
    peer: &str,
    done: &dyn Fn() -> bool,
    open: &dyn Fn() -> bool,
) -> Result<(), LinkError> {
    let mut seen = 0;
    let mut current: Option<FrameStream> = None;
    while !done() {
        let generation = slot.generation.load(Ordering::Acquire);
        if generation != seen {
            seen = generation;
            if let Some(old) = current.take() {
                info!(%peer, stream = old.id, frames = old.sent(), "frame stream closed");
            }
            current = lock(&slot.pending).take();
        }
        let Some(stream) = &current else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if let Some(frame) = stream.next(Duration::from_millis(100))
            && open()
        {
            send_one(stream.id, &frame, writer)?;
        }
    }
    debug!(%peer, "frame sender done");
    Ok(())
}

fn send_one<W: Write>(
    stream_id: u32,
    frame: &StreamedFrame,
    writer: &Mutex<FrameWriter<W>>,
) -> Result<(), LinkError> {
    let raw = &frame.raw;
    let bytes: Vec<u8> = frame
        .pixels()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let captured_ms = unix_ms().saturating_sub(raw.timestamp.elapsed().as_millis() as u64);
    let header = FrameHeader {
        stream_id,
        index: frame.index,
        seq: raw.seq,
        offered: frame.offered,
        skipped_rate: frame.skipped_rate,
        skipped_busy: frame.skipped_busy,
        unix_ms: captured_ms,
        sensor_temp_c: raw.sensor_temp_c,
        pattern_id: frame.pattern_id,
        width: raw.width.min(u32::from(u16::MAX)) as u16,
        height: raw.height.min(u32::from(u16::MAX)) as u16,
        len: bytes.len() as u32,
        crc32: object_crc32(&bytes),
    };
    lock(writer).send(&Packet::Topic(Topic::FrameStart(header)))?;
    for (i, chunk) in bytes.chunks(BULK_CHUNK).enumerate() {
        let data = FrameData {
            stream_id,
            index: frame.index,
            offset: (i * BULK_CHUNK) as u32,
            data: chunk_data(chunk),
        };
        lock(writer).send(&Packet::Topic(Topic::FrameData(data)))?;
    }
    Ok(())
}
