//! dipnuc edge library: everything the `dipnuc-edge` daemon runs on the board.
pub mod imageio;
pub mod kernels;
pub mod nuc;
