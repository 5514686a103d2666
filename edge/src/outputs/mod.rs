//! Where corrected frames go besides the link: periodic 16-bit PNG snapshots on disk and a
//! V4L2 loopback device (so other programs see the corrected stream).

pub mod loopback;
pub mod snapshot;

pub use loopback::LoopbackOutput;
pub use snapshot::{SnapshotWriter, encode_png16, write_png16};
