//! dipnuc host library: the typed client for a dipnuc edge device ([`client`]), what the CLI
//! writes (frame images, previews, firmware images, recordings, the demo and its report),
//! device discovery ([`discover`]), fleets ([`fleet`]) and offline processing ([`offline`]).

pub mod client;
pub mod colormap;
pub mod demo;
pub mod discover;
pub mod firmware_image;
pub mod fleet;
pub mod frame_image;
pub mod host_config;
pub mod offline;
pub mod ports;
pub mod recording;
