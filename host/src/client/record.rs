//! Receiving a frame stream (`FrameSubscribe`): [`FrameAssembler`] puts each frame together
//! from its `FrameStart` header and `FrameData` chunks, checks it against the header's CRC,
//! and accounts for every frame the device offered: received, skipped on the device (rate,
//! busy link) or lost on the link. [`Device::frames_subscribe`] and [`Device::next_frame`]
//! drive it.

use std::time::{Duration, Instant};

use protocol::bulk::object_crc32;
use protocol::{FrameHeader, FrameKind, Request, Response, StreamOpened, Topic};

use super::device::Device;
use super::error::Result;

/// One frame received whole and verified.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedFrame {
    /// Its header (sequence numbers, skip counts, time, sensor temperature, pattern id).
    pub header: FrameHeader,
    /// Row-major pixels.
    pub pixels: Vec<u16>,
}

/// What a stream delivered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Frames received whole and verified.
    pub received: u64,
    /// Frames the device sent that did not arrive whole (index gaps, missing or damaged
    /// chunks).
    pub lost_on_link: u64,
    /// Frames the device skipped for the rate limit (as of the last header).
    pub skipped_rate: u64,
    /// Frames the device skipped because the link was behind (as of the last header).
    pub skipped_busy: u64,
    /// Frames the capture offered the stream (as of the last header).
    pub offered: u64,
}

struct Partial {
    header: FrameHeader,
    bytes: Vec<u8>,
}

/// Reassembles the frames of one stream.
pub struct FrameAssembler {
    stream_id: u32,
    next_index: u64,
    partial: Option<Partial>,
    counts: StreamCounts,
}

impl FrameAssembler {
    /// An assembler for the stream `stream_id` (from [`StreamOpened`]).
    pub fn new(stream_id: u32) -> Self {
        FrameAssembler {
            stream_id,
            next_index: 0,
            partial: None,
            counts: StreamCounts::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> StreamCounts {
        self.counts
    }

    fn lose_partial(&mut self) {
        if let Some(p) = self.partial.take() {
            self.counts.lost_on_link += 1;
            self.next_index = self.next_index.max(p.header.index + 1);
        }
    }

    /// Takes one topic; returns a frame when it completes one. Topics of other streams and
    /// other kinds are ignored.
    pub fn feed(&mut self, topic: &Topic) -> Option<RecordedFrame> {
        match topic {
            Topic::FrameStart(h) if h.stream_id == self.stream_id => {
                self.lose_partial();
                if h.index < self.next_index {
                    // A repeat of a frame already handled: not ours to count again.
                    return None;
                }
                self.counts.lost_on_link += h.index - self.next_index;
                self.next_index = h.index;
                self.counts.offered = h.offered;
                self.counts.skipped_rate = h.skipped_rate;
                self.counts.skipped_busy = h.skipped_busy;
                self.partial = Some(Partial {
                    header: h.clone(),
                    bytes: Vec::with_capacity(h.len as usize),
                });
                self.complete()
            }
            Topic::FrameData(d) if d.stream_id == self.stream_id => {
                let fits = self.partial.as_ref().is_some_and(|p| {
                    p.header.index == d.index
                        && d.offset as usize == p.bytes.len()
                        && p.bytes.len() + d.data.len() <= p.header.len as usize
                });
                if !fits {
                    // A chunk missing before this one, or one of a frame already given up.
                    if self
                        .partial
                        .as_ref()
                        .is_some_and(|p| p.header.index == d.index)
                    {
                        self.lose_partial();
                    }
                    return None;
                }
                if let Some(p) = self.partial.as_mut() {
                    p.bytes.extend_from_slice(&d.data);
                }
                self.complete()
            }
            _ => None,
        }
    }

    fn complete(&mut self) -> Option<RecordedFrame> {
        let done = self
            .partial
            .as_ref()
            .is_some_and(|p| p.bytes.len() == p.header.len as usize);
        if !done {
            return None;
        }
        let p = self.partial.take()?;
        self.next_index = p.header.index + 1;
        let n = usize::from(p.header.width) * usize::from(p.header.height);
        if object_crc32(&p.bytes) != p.header.crc32 || p.bytes.len() != n * 2 {
            self.counts.lost_on_link += 1;
            return None;
        }
        self.counts.received += 1;
        let pixels = p
            .bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        Some(RecordedFrame {
            header: p.header,
            pixels,
        })
    }
}

impl Device {
    /// `frames/subscribe`: frames of `kind` at most `max_fps` per second follow as topics.
    pub fn frames_subscribe(&mut self, kind: FrameKind, max_fps: f32) -> Result<StreamOpened> {
        match self.call(Request::FrameSubscribe { kind, max_fps })? {
            Response::StreamOpened(s) => Ok(s),
            other => Err(self.unexpected("frames/subscribe", &other)),
        }
    }

    /// `frames/unsubscribe`: stops this link's frame stream.
    pub fn frames_unsubscribe(&mut self) -> Result<()> {
        match self.call(Request::FrameUnsubscribe)? {
            Response::Ack => Ok(()),
            other => Err(self.unexpected("frames/unsubscribe", &other)),
        }
    }

    /// The next whole frame of the stream `assembler` follows, waiting up to `timeout`
    /// (`None` when none completed in time). Other topics are dropped.
    pub fn next_frame(
        &mut self,
        assembler: &mut FrameAssembler,
        timeout: Duration,
    ) -> Result<Option<RecordedFrame>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(topic) = self.next_topic(left)? else {
                return Ok(None);
            };
            if let Some(frame) = assembler.feed(&topic) {
                return Ok(Some(frame));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::FrameData;
    use protocol::bulk::chunk_data;

    fn frame(index: u64, pixels: &[u16]) -> Vec<Topic> {
        let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
        let header = FrameHeader {
            stream_id: 1,
            index,
            seq: index * 3,
            offered: index * 3 + 1,
            skipped_rate: index * 2,
            skipped_busy: 0,
            unix_ms: 0,
            sensor_temp_c: None,
            pattern_id: None,
            width: pixels.len() as u16,
            height: 1,
            len: bytes.len() as u32,
            crc32: object_crc32(&bytes),
        };
        let mut out = vec![Topic::FrameStart(header)];
        for (i, c) in bytes.chunks(3).enumerate() {
            out.push(Topic::FrameData(FrameData {
                stream_id: 1,
                index,
                offset: (i * 3) as u32,
                data: chunk_data(c),
            }));
        }
        out
    }

    #[test]
    fn frames_reassemble_and_losses_are_counted() {
        let mut a = FrameAssembler::new(1);
        let got: Vec<RecordedFrame> = frame(0, &[1, 2, 3, 4])
            .iter()
            .filter_map(|t| a.feed(t))
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].pixels, vec![1, 2, 3, 4]);
        // Frame 1 loses a chunk, frame 2 never comes, frame 3 arrives whole.
        let mut f1 = frame(1, &[5, 6, 7, 8]);
        f1.remove(2);
        let f3 = frame(3, &[9, 9, 9, 9]);
        let got: Vec<RecordedFrame> = f1.iter().chain(&f3).filter_map(|t| a.feed(t)).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header.index, 3);
        let c = a.counts();
        assert_eq!((c.received, c.lost_on_link), (2, 2));
        assert_eq!(c.skipped_rate, 6);
        // A damaged chunk fails the CRC.
        let mut f4 = frame(4, &[1, 1, 1, 1]);
        if let Topic::FrameData(d) = &mut f4[1] {
            d.data[0] ^= 1;
        }
        assert!(f4.iter().filter_map(|t| a.feed(t)).next().is_none());
        assert_eq!(a.counts().lost_on_link, 3);
    }
}
