//! The link server: the `protocol` crate spoken over TCP (several clients, token-gated) and a
//! serial port. `server.rs` answers requests, `connection.rs` drives one connection,
//! `transfers.rs` holds bulk objects, `frame_sender.rs` sends a connection's frame stream,
//! `tcp.rs` and `serial.rs` are the transports.

pub mod connection;
pub mod frame_sender;
pub mod serial;
pub mod server;
pub mod tcp;
pub mod transfers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::daemon::{DaemonCore, DaemonError};

/// Starts the configured link servers; returns the TCP address (if any) and their threads.
pub(crate) fn start_servers(
    core: &Arc<DaemonCore>,
) -> Result<(Option<SocketAddr>, Vec<JoinHandle<()>>), DaemonError> {
    let cfg = core.config();
    let transfers = Arc::new(transfers::Transfers::default());
    let mut threads = Vec::new();
    let mut addr = None;
    if let Some(listen) = &cfg.link.tcp.listen {
        let (a, t) = tcp::start(core, &transfers, listen)?;
        addr = Some(a);
        threads.push(t);
    }
    if let Some(port) = &cfg.link.serial.port {
        threads.push(serial::start(
            core,
            &transfers,
            port.clone(),
            cfg.link.serial.baud,
        )?);
    }
    Ok((addr, threads))
}
