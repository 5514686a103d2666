//! [`AtomicHistogram`]: a cumulative histogram with fixed bucket bounds whose `observe` is a
//! few relaxed atomic adds, so the frame loop can record every frame's latency without a lock;
//! the metrics endpoint reads it as a Prometheus histogram.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Bucket upper bounds, seconds, for the capture-to-corrected latency of one frame (sub-ms on
/// a desktop, tens of ms on a loaded board).
pub const FRAME_LATENCY_BOUNDS_S: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
];

/// Bucket upper bounds, seconds, for the wall time of one fit (column means in milliseconds,
/// a network fit in minutes).
pub const FIT_DURATION_BOUNDS_S: &[f64] =
    &[0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Counts of observations per bucket, their sum and their number.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), the last one for values above every bound.
    counts: Vec<AtomicU64>,
    /// Sum of the observed values in nanounits (ns for seconds), so it adds atomically.
    sum_nano: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram with these upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nano: AtomicU64::new(0),
        }
    }

    /// Records one value (negative or NaN values count as 0).
    pub fn observe(&self, value: f64) {
        let v = if value.is_finite() && value > 0.0 {
            value
        } else {
            0.0
        };
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nano
            .fetch_add((v * 1e9).min(u64::MAX as f64) as u64, Ordering::Relaxed);
    }

    /// `(sum, count, per-bucket counts)`, the last bound +Inf. The counts are per bucket, not
    /// cumulative: the exposition encoder adds them up into Prometheus's `le` buckets.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut count = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            count += n;
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        let sum = self.sum_nano.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, count, buckets)
    }
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_each_value_once_and_bounds_are_inclusive() {
        let h = AtomicHistogram::new(&[0.001, 0.01]);
        for v in [0.0005, 0.001, 0.005, 0.5, f64::NAN] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 5);
        assert_eq!(buckets, vec![(0.001, 3), (0.01, 1), (f64::INFINITY, 1)]);
        assert!((sum - 0.5065).abs() < 1e-9, "{sum}");
    }
}
