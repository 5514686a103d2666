//! The typed blocking client for a dipnuc edge device, shared by the `dipnuc` CLI and
//! `hil-tests`.
//!
//! ```text
//!   ConnectOptions ──▶ Device::connect ──▶ link::open (TCP | serial)
//!                                          └─ Hello ⇄ Hello (schema check) ─ Auth(token)
//!   Device::{info, telemetry, config_*, calibrate_*, snapshot, pattern_*, flash, frames_*, …}
//!          └─ protocol::client::Client (ids, timeouts, retries, bulk pull/push)
//! ```
//!
//! Errors are split by what the caller does about them: [`ClientError::Comms`],
//! [`ClientError::Device`] (a `Nack`), [`ClientError::Handshake`].
//!
//! ```no_run
//! use host::client::{ConnectOptions, Device, Target};
//! let opts = ConnectOptions::new(Target::Tcp("127.0.0.1:7700".into())).with_token("secret");
//! let mut dev = Device::connect(&opts)?;
//! println!("{} fps", dev.telemetry()?.fps);
//! # Ok::<(), host::client::ClientError>(())
//! ```

mod device;
mod error;
mod fit;
mod flash;
mod link;
mod record;
mod target;

pub use device::{CalibrateOptions, Device, Pixels, Snapshot, TimeSync, Topics};
pub use error::{ClientError, CommsError, HandshakeFailure, Result};
pub use fit::{FitEnd, completed as fit_completed};
pub use flash::{FlashEvent, ResumePolicy};
pub use link::{Link, open as open_link};
pub use record::{FrameAssembler, RecordedFrame, StreamCounts};
pub use target::{ConnectOptions, DEFAULT_BAUD, Target};
