//! Shared fixtures of the end-to-end and hardware-in-the-loop tests: the real `dipnuc-edge`
//! binary started on the simulated camera (or on the rig), the links to reach it (TCP loopback,
//! a pseudo-terminal serial pair, a fault-injecting proxy), and the board a test runs on.
//!
//! ```text
//!   test ── host::client::Device ──┬── TCP ──────────────── dipnuc-edge (child process)
//!                                   ├── FaultProxy (TCP) ──┘   config: EdgeSetup (sim camera)
//!                                   └── pty ⇄ bridge ⇄ pty ───  link.serial.port
//! ```

pub mod board;
pub mod edge_binary;
pub mod edge_process;
pub mod edge_setup;
pub mod proxy;
pub mod rig;
pub mod serial_pair;
pub mod stats;
pub mod supervisor;

pub use board::Board;
pub use edge_process::EdgeProcess;
pub use edge_setup::EdgeSetup;
pub use proxy::{FaultCounts, FaultPlan, FaultProxy};
pub use serial_pair::SerialPair;
pub use supervisor::Supervised;
