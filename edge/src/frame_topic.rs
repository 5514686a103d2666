//! [`FrameHub`]: hands captured frames to the open frame streams (`FrameSubscribe`, what
//! `dipnuc record` uses) without ever making the frame loop wait.
//!
//! Each stream has a rate limit and a queue of [`QUEUE_DEPTH`] frames (shared `Arc`s, no
//! copies). [`FrameHub::offer`], called once per frame by the capture loop, takes one lock that
//! the link never holds while writing, and for each stream either queues the frame, or skips it
//! because it came sooner than the rate allows, or skips it because the queue is still full
//! (the link has not sent the earlier frames yet: back-pressure lowers the rate). Every skip is
//! counted, and the counts go out with the next frame sent, so the host can account for every
//! frame (see `protocol::messages::stream`).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::FrameKind;

use crate::frame::RawFrame;

/// Frames a stream may hold that its link has not sent yet.
pub const QUEUE_DEPTH: usize = 2;

/// A frame ready to be sent on one stream, with the counts as of its acceptance.
#[derive(Debug, Clone)]
pub struct StreamedFrame {
    /// The captured frame (its sequence number, time and sensor temperature).
    pub raw: Arc<RawFrame>,
    /// The corrected pixels, for a stream of corrected frames.
    pub corrected: Option<Arc<Vec<u16>>>,
    /// Frames sent on the stream before this one.
    pub index: u64,
    /// Frames offered to the stream so far, this one included.
    pub offered: u64,
    /// Frames skipped so far for the rate limit.
    pub skipped_rate: u64,
    /// Frames skipped so far because the queue was full.
    pub skipped_busy: u64,
    /// The pattern applied to the frame (its creation time, Unix ms).
    pub pattern_id: Option<u64>,
}

impl StreamedFrame {
    /// The pixels to send: raw or corrected, as the stream asked.
    pub fn pixels(&self) -> &[u16] {
        match &self.corrected {
            Some(c) => c,
            None => &self.raw.data,
        }
    }
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamRefused {
    /// The rate is not a positive number.
    #[error("max_fps must be a positive number of frames per second, got {0}")]
    BadRate(f32),
    /// `recording.max_streams` streams are open already.
    #[error("{0} frame streams are open already (recording.max_streams)")]
    TooMany(usize),
}

/// Counters of one stream, shared by the hub and the stream's reader.
#[derive(Debug, Default)]
struct Counts {
    offered: AtomicU64,
    sent: AtomicU64,
    skipped_rate: AtomicU64,
    skipped_busy: AtomicU64,
}

struct Slot {
    id: u32,
    kind: FrameKind,
    max_fps: f64,
    /// Rate credit in frames: refilled with elapsed time × `max_fps`, capped at one frame
    /// (no bursts after a pause), spent per queued frame.
    credit: f64,
    last: Option<Instant>,
    tx: SyncSender<StreamedFrame>,
    counts: Arc<Counts>,
}

/// A frame is taken when its credit is at least this: frames that arrive a little early
/// (capture jitter) are not skipped, while the long-run rate still keeps to `max_fps`.
const CREDIT_TOLERANCE: f64 = 0.9;

/// The frame streams of the daemon.
#[derive(Default)]
pub struct FrameHub {
    slots: Mutex<Vec<Slot>>,
    open: AtomicUsize,
    next_id: AtomicU32,
    skipped_rate: AtomicU64,
    skipped_busy: AtomicU64,
    sent: AtomicU64,
}

/// The receiving end of one stream; dropping it closes the stream.
pub struct FrameStream {
    /// Id carried by the stream's topics.
    pub id: u32,
    /// What it carries.
    pub kind: FrameKind,
    /// The rate granted.
    pub max_fps: f32,
    rx: Receiver<StreamedFrame>,
    counts: Arc<Counts>,
}

impl FrameStream {
    /// The next queued frame, waiting up to `timeout`; `None` on timeout or when the hub is
    /// gone.
    pub fn next(&self, timeout: Duration) -> Option<StreamedFrame> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Frames sent so far (for logs).
    pub fn sent(&self) -> u64 {
        self.counts.sent.load(Ordering::Relaxed)
    }
}

impl FrameHub {
    /// Opens a stream of `kind` at most `max_fps` per second (capped at `cap_fps`); at most
    /// `max_streams` may be open.
    pub fn subscribe(
        &self,
        kind: FrameKind,
        max_fps: f32,
        cap_fps: f32,
        max_streams: usize,
    ) -> Result<FrameStream, StreamRefused> {
        if !(max_fps.is_finite() && max_fps > 0.0) {
            return Err(StreamRefused::BadRate(max_fps));
        }
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| !s.closed());
        if slots.len() >= max_streams {
            return Err(StreamRefused::TooMany(slots.len()));
        }
        let granted = max_fps.min(cap_fps);
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let counts = Arc::new(Counts::default());
        slots.push(Slot {
            id,
            kind,
            max_fps: f64::from(granted),
            credit: 1.0,
            last: None,
            tx,
            counts: counts.clone(),
        });
        self.open.store(slots.len(), Ordering::Relaxed);
        Ok(FrameStream {
            id,
            kind,
            max_fps: granted,
            rx,
            counts,
        })
    }

    /// Offers one captured frame to every open stream; never blocks on a link.
    pub fn offer(&self, raw: &Arc<RawFrame>, corrected: &Arc<Vec<u16>>, pattern_id: Option<u64>) {
        if self.open.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain_mut(|slot| {
            let c = &slot.counts;
            let offered = c.offered.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(last) = slot.last {
                let dt = now.duration_since(last).as_secs_f64();
                slot.credit = (slot.credit + dt * slot.max_fps).min(1.0);
            }
            slot.last = Some(now);
            if slot.credit < CREDIT_TOLERANCE {
                c.skipped_rate.fetch_add(1, Ordering::Relaxed);
                self.skipped_rate.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            let frame = StreamedFrame {
                raw: raw.clone(),
                corrected: (slot.kind == FrameKind::Corrected).then(|| corrected.clone()),
                index: c.sent.load(Ordering::Relaxed),
                offered,
                skipped_rate: c.skipped_rate.load(Ordering::Relaxed),
                skipped_busy: c.skipped_busy.load(Ordering::Relaxed),
                pattern_id,
            };
            match slot.tx.try_send(frame) {
                Ok(()) => {
                    slot.credit -= 1.0;
                    c.sent.fetch_add(1, Ordering::Relaxed);
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    true
                }
                // The credit is kept: the next frame is tried as soon as the link catches up.
                Err(TrySendError::Full(_)) => {
                    c.skipped_busy.fetch_add(1, Ordering::Relaxed);
                    self.skipped_busy.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
        self.open.store(slots.len(), Ordering::Relaxed);
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| !s.closed());
        self.open.store(slots.len(), Ordering::Relaxed);
        slots.len()
    }

    /// Frames queued for sending since start, over all streams.
    pub fn frames_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Frames skipped for the rate limit since start, over all streams.
    pub fn skipped_rate(&self) -> u64 {
        self.skipped_rate.load(Ordering::Relaxed)
    }

    /// Frames skipped because a link was behind since start, over all streams.
    pub fn skipped_busy(&self) -> u64 {
        self.skipped_busy.load(Ordering::Relaxed)
    }

    /// Ids of the open streams (for tests and logs).
    pub fn stream_ids(&self) -> Vec<u32> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.iter().map(|s| s.id).collect()
    }
}

impl Slot {
    /// Whether the receiving end is gone (checked by a zero-cost probe: a dropped receiver
    /// makes the counts' only other owner go away).
    fn closed(&self) -> bool {
        Arc::strong_count(&self.counts) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> Arc<RawFrame> {
        Arc::new(RawFrame {
            seq,
            timestamp: Instant::now(),
            width: 2,
            height: 2,
            data: vec![seq as u16; 4],
            sensor_temp_c: Some(30.0),
        })
    }

    #[test]
    fn every_offered_frame_is_sent_or_counted_as_skipped() {
        let hub = FrameHub::default();
        // A rate no loop can reach: only the queue decides.
        let stream = hub.subscribe(FrameKind::Raw, 1e9, 1e9, 2).unwrap();
        let corrected = Arc::new(vec![0u16; 4]);
        // Nobody reads: the queue fills, then frames are skipped as busy.
        for seq in 0..10 {
            hub.offer(&frame(seq), &corrected, None);
        }
        let got: Vec<StreamedFrame> = std::iter::from_fn(|| stream.next(Duration::ZERO)).collect();
        assert_eq!(got.len(), QUEUE_DEPTH);
        hub.offer(&frame(10), &corrected, Some(7));
        let last = stream.next(Duration::ZERO).expect("room again");
        assert_eq!(last.raw.seq, 10);
        assert_eq!(last.index, QUEUE_DEPTH as u64);
        assert_eq!(last.offered, 11);
        assert_eq!(
            last.offered,
            last.index + 1 + last.skipped_rate + last.skipped_busy
        );
        assert_eq!(last.pattern_id, Some(7));
        assert_eq!(last.pixels(), &[10; 4]);
    }

    #[test]
    fn rate_limit_skips_frames_that_come_too_soon() {
        let hub = FrameHub::default();
        let stream = hub.subscribe(FrameKind::Corrected, 1.0, 30.0, 1).unwrap();
        let corrected = Arc::new(vec![5u16; 4]);
        for seq in 0..5 {
            hub.offer(&frame(seq), &corrected, None);
        }
        let first = stream.next(Duration::ZERO).expect("the first frame goes");
        assert_eq!(first.pixels(), &[5; 4]);
        assert!(
            stream.next(Duration::ZERO).is_none(),
            "1 fps: the rest wait"
        );
        assert_eq!(hub.skipped_rate(), 4);
        assert!(matches!(
            hub.subscribe(FrameKind::Raw, 5.0, 30.0, 1),
            Err(StreamRefused::TooMany(1))
        ));
        drop(stream);
        assert_eq!(hub.open_streams(), 0);
        assert!(matches!(
            hub.subscribe(FrameKind::Raw, 0.0, 30.0, 1),
            Err(StreamRefused::BadRate(_))
        ));
    }
}
