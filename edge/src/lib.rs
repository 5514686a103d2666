//! dipnuc edge library: everything the `dipnuc-edge` daemon runs on the board.
pub mod config;
pub mod correct;
pub mod daemon;
pub mod events;
pub mod firmware;
pub mod frame;
pub mod gpio;
pub mod link;
pub mod log_forward;
pub mod outputs;
pub mod pattern_cache;
pub mod refit;
pub mod roughness;
pub mod service;
pub mod source;
pub mod stats;
pub mod system_metrics;
