//! The host's integration tests, one binary: the `dipnuc` binary and the client library
//! against a real `dipnuc-edge` (started in-process through the edge library, serving real
//! TCP on loopback or a pseudo-terminal), plus the offline commands.

// Shared setup: an in-process daemon on the simulated camera and a `dipnuc` command for it.
mod util;

// Connection failures: refused, timeout, bad or missing token, protocol mismatch, no port.
mod connect;
// Every device subcommand against a running daemon over TCP.
mod commands;
// Firmware: keygen, signing, refused images, resume after a dropped link.
mod flash;
// The serial transport over a pseudo-terminal pair.
mod serial;
// `dipnuc demo` end to end with a reduced budget.
mod demo;
// `dipnuc process` and `dipnuc eval` (offline processing).
mod offline_cli;
