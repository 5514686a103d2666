//! dipnuc's on-disk formats, shared by the edge daemon and the host tool without either's
//! runtime: the pattern file ([`pattern`]) and its form on the link ([`pattern_object`]), the
//! signed firmware image ([`firmware`]) and the crash-safe write every saved file goes through
//! ([`atomic`]).
pub mod atomic;
pub mod firmware;
pub mod pattern;
pub mod pattern_object;
