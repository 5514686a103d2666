//! [`LiveConfig`]: the configuration the running daemon reads, swapped whole on every change,
//! with a generation number so a worker that keeps derived state (the refit worker's frame set
//! and compute ledger) notices a change and follows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use super::sections::EdgeConfig;

/// The configuration in effect, shared by every part of the daemon.
#[derive(Clone)]
pub struct LiveConfig {
    inner: Arc<Inner>,
}

struct Inner {
    current: ArcSwap<EdgeConfig>,
    generation: AtomicU64,
}

impl LiveConfig {
    /// Starts with `cfg` at generation 0.
    pub fn new(cfg: EdgeConfig) -> LiveConfig {
        LiveConfig {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(cfg),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration now.
    pub fn load(&self) -> Arc<EdgeConfig> {
        self.inner.current.load_full()
    }

    /// How many times it has been replaced. Read before [`LiveConfig::load`]: a reader may then
    /// see a newer configuration under an older generation (and apply it once more later), never
    /// the reverse.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Replaces the configuration. The daemon's [`ConfigStore`](super::ConfigStore) does this
    /// after validating a change; tests may do it directly.
    pub fn store(&self, cfg: EdgeConfig) {
        self.inner.current.store(Arc::new(cfg));
        self.inner.generation.fetch_add(1, Ordering::Release);
    }
}
