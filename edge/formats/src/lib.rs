//! dipnuc's on-disk formats, shared by the edge daemon and the host tool without either's
//! runtime: the pattern file ([`pattern`]), the signed firmware image ([`firmware`]) and the
//! crash-safe write every saved file goes through ([`atomic`]).
pub mod atomic;
pub mod firmware;
pub mod pattern;
