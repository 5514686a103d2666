//! dipnuc host library: the typed client for a dipnuc edge device and offline tools.
pub mod offline;
