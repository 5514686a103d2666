//! Collects a diverse set of frames for the next fit: a candidate that is a near-duplicate of a
//! frame already held (little scene motion) is skipped; when the set is full, a candidate that
//! differs more from the set than the set's most redundant member replaces that member, so the
//! set drifts towards the frames with the most motion between them. Frames whose sensor
//! temperature is far from the newest one are evicted (they carry an outdated pattern).

use std::sync::Arc;

use crate::frame::RawFrame;

/// Side of the blocks averaged into the comparison thumbnail.
const BLOCK: usize = 8;

/// A frame held for fitting, with its thumbnail.
#[derive(Debug, Clone)]
struct Held {
    frame: Arc<RawFrame>,
    thumb: Vec<f32>,
}

/// The frame set under construction.
#[derive(Debug)]
pub struct FrameSetCollector {
    capacity: usize,
    min_motion: f32,
    max_temp_spread: f32,
    held: Vec<Held>,
    /// Candidates skipped as near-duplicates.
    pub skipped_duplicates: u64,
}

/// Blocks along a side of `n` pixels in the thumbnail.
fn blocks(n: usize) -> usize {
    (n / BLOCK).max(1)
}

/// Block-mean thumbnail: cheap to compare and blind to pixel noise and to the pattern's
/// high frequencies (which are the same in every frame anyway).
fn thumbnail(f: &RawFrame) -> Vec<f32> {
    let (w, h) = (f.width as usize, f.height as usize);
    let (tw, th) = (blocks(w), blocks(h));
    let (bw, bh) = (w / tw, h / th);
    let mut out = vec![0.0f32; tw * th];
    for ty in 0..th {
        for y in ty * bh..(ty + 1) * bh {
            let row = &f.data[y * w..y * w + w];
            for tx in 0..tw {
                let s: u32 = row[tx * bw..(tx + 1) * bw]
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum();
                out[ty * tw + tx] += s as f32;
            }
        }
    }
    let norm = 1.0 / (bw * bh) as f32;
    out.iter_mut().for_each(|v| *v *= norm);
    out
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len().max(1) as f32
}

impl FrameSetCollector {
    /// Holds up to `capacity` frames at least `min_motion` DN apart (thumbnail mean absolute
    /// difference), within `max_temp_spread` °C of the newest (0 = no temperature eviction).
    pub fn new(capacity: usize, min_motion: f32, max_temp_spread: f32) -> Self {
        FrameSetCollector {
            capacity: capacity.max(1),
            min_motion,
            max_temp_spread,
            held: Vec::new(),
            skipped_duplicates: 0,
        }
    }

    /// Changes the limits (a configuration change): a smaller capacity drops the most
    /// redundant frames first; the motion and temperature limits apply to the next offers.
    pub fn set_limits(&mut self, capacity: usize, min_motion: f32, max_temp_spread: f32) {
        self.capacity = capacity.max(1);
        self.min_motion = min_motion;
        self.max_temp_spread = max_temp_spread;
        while self.held.len() > self.capacity {
            let (worst, _) = self.most_redundant();
            self.held.remove(worst);
        }
    }

    /// The held frame closest to the others, and its distance to the nearest of them.
    fn most_redundant(&self) -> (usize, f32) {
        (0..self.held.len())
            .map(|i| {
                let d = (0..self.held.len())
                    .filter(|&j| j != i)
                    .map(|j| distance(&self.held[i].thumb, &self.held[j].thumb))
                    .fold(f32::INFINITY, f32::min);
                (i, d)
            })
            .fold((0, f32::INFINITY), |a, b| if b.1 < a.1 { b } else { a })
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Offers a frame; returns whether it was taken.
    pub fn offer(&mut self, frame: Arc<RawFrame>) -> bool {
        if let (Some(t), true) = (frame.sensor_temp_c, self.max_temp_spread > 0.0) {
            let spread = self.max_temp_spread;
            self.held.retain(|h| {
                h.frame
                    .sensor_temp_c
                    .is_none_or(|ht| (ht - t).abs() <= spread)
            });
        }
        if let Some(first) = self.held.first()
            && (first.frame.width, first.frame.height) != (frame.width, frame.height)
        {
            self.held.clear();
        }
        let thumb = thumbnail(&frame);
        let nearest = self
            .held
            .iter()
            .map(|h| distance(&h.thumb, &thumb))
            .fold(f32::INFINITY, f32::min);
        if nearest < self.min_motion {
            self.skipped_duplicates += 1;
            return false;
        }
        if self.held.len() < self.capacity {
            self.held.push(Held { frame, thumb });
            return true;
        }
        // Full: the incoming frame replaces the most redundant member if it adds more.
        let (worst, worst_d) = self.most_redundant();
        if nearest > worst_d {
            self.held.remove(worst);
            self.held.push(Held { frame, thumb });
            true
        } else {
            false
        }
    }

    /// The frames held now (shared, not copied).
    pub fn frames(&self) -> Vec<Arc<RawFrame>> {
        self.held.iter().map(|h| h.frame.clone()).collect()
    }

    /// How much of the frame the held set's scene moved over (see
    /// [`super::static_guard::moving_fraction`]), on the held frames' thumbnails.
    pub fn moving_fraction(&self, min_dn: f32) -> f32 {
        let width = self
            .held
            .first()
            .map_or(0, |h| blocks(h.frame.width as usize));
        super::static_guard::moving_fraction(
            self.held.iter().map(|h| h.thumb.as_slice()),
            width,
            min_dn,
        )
    }

    /// Mean sensor temperature of the held frames.
    pub fn mean_temp(&self) -> Option<f32> {
        let temps: Vec<f32> = self
            .held
            .iter()
            .filter_map(|h| h.frame.sensor_temp_c)
            .collect();
        (!temps.is_empty()).then(|| temps.iter().sum::<f32>() / temps.len() as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(level: u16, temp: f32) -> Arc<RawFrame> {
        Arc::new(RawFrame {
            seq: 0,
            timestamp: Instant::now(),
            width: 16,
            height: 16,
            data: vec![level; 256],
            sensor_temp_c: Some(temp),
        })
    }

    #[test]
    fn skips_duplicates_and_prefers_diverse_frames() {
        let mut c = FrameSetCollector::new(3, 5.0, 0.0);
        assert!(c.offer(frame(100, 30.0)));
        assert!(!c.offer(frame(102, 30.0)), "near-duplicate");
        assert!(c.offer(frame(200, 30.0)));
        assert!(c.offer(frame(210, 30.0)));
        assert_eq!(c.len(), 3);
        // 210 and 200 are the most redundant pair; 400 replaces one of them.
        assert!(c.offer(frame(400, 30.0)));
        let levels: Vec<u16> = c.frames().iter().map(|f| f.data[0]).collect();
        assert!(levels.contains(&100) && levels.contains(&400), "{levels:?}");
        // 150 is closer to the set than its most redundant member: not taken.
        assert!(!c.offer(frame(150, 30.0)));
        assert_eq!(c.skipped_duplicates, 1);
    }

    #[test]
    fn smaller_limits_drop_the_most_redundant_frames() {
        let mut c = FrameSetCollector::new(4, 5.0, 0.0);
        for level in [100, 400, 410, 800] {
            assert!(c.offer(frame(level, 30.0)));
        }
        c.set_limits(3, 5.0, 0.0);
        let levels: Vec<u16> = c.frames().iter().map(|f| f.data[0]).collect();
        assert_eq!(levels.len(), 3);
        assert!(levels.contains(&100) && levels.contains(&800), "{levels:?}");
        c.set_limits(6, 1.0, 0.0);
        assert!(c.offer(frame(103, 30.0)), "the lower motion limit applies");
    }

    #[test]
    fn evicts_frames_from_another_temperature() {
        let mut c = FrameSetCollector::new(4, 1.0, 1.0);
        c.offer(frame(100, 30.0));
        c.offer(frame(200, 30.5));
        c.offer(frame(300, 33.0));
        assert_eq!(c.len(), 1);
        assert_eq!(c.mean_temp(), Some(33.0));
    }
}
