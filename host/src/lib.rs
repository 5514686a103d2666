//! dipnuc host library: the typed client for a dipnuc edge device ([`client`]), what the CLI
//! writes (frame images, previews, firmware images, the demo and its report) and offline
//! processing ([`offline`]).

pub mod client;
pub mod colormap;
pub mod demo;
pub mod firmware_image;
pub mod frame_image;
pub mod host_config;
pub mod offline;
pub mod ports;
