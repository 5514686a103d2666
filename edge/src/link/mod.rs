//! The link server: the `protocol` crate spoken over TCP (several clients, token-gated) and a
//! serial port, in front of a [`LinkBackend`] (the daemon implements it; the link never sees
//! the daemon's state).
//!
//! `session.rs` is the protocol of one connection (handshake, token gate in `auth.rs`, the
//! link's own requests), `connection.rs` drives it over a byte stream, `topics.rs` sends the
//! subscribed topics (`subscriptions.rs`), `frame_sender.rs` the connection's frame stream,
//! `transfers.rs` holds bulk objects, `tcp.rs` and `serial.rs` are the transports
//! (`memory.rs` drives a session in-process), `backend.rs` the trait.

pub mod auth;
pub mod backend;
pub mod connection;
pub mod frame_sender;
pub mod memory;
pub mod serial;
pub mod session;
pub mod subscriptions;
pub mod tcp;
pub mod topics;
pub mod transfers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use auth::AuthGate;
pub use backend::{LinkBackend, Reply};
pub use connection::{Connection, Served};
pub use memory::{Answered, MemoryPeer};
pub use session::{After, Session};
pub use transfers::{CompleteUpload, Transfers};

use crate::config::LinkConfig;

/// What the servers are started with (read once: `link.*` keys need a restart).
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// TCP listen address.
    pub tcp_listen: Option<String>,
    /// Most simultaneous TCP clients.
    pub tcp_max_clients: usize,
    /// The token TCP clients (and serial ones, when asked) must present.
    pub token: Option<String>,
    /// Serial port and baud rate.
    pub serial: Option<(String, u32)>,
    /// Whether serial peers must present the token.
    pub serial_requires_token: bool,
}

impl LinkSettings {
    /// From the `link` section.
    pub fn from_config(link: &LinkConfig) -> LinkSettings {
        LinkSettings {
            tcp_listen: link.tcp.listen.clone(),
            tcp_max_clients: link.tcp.max_clients,
            token: link.tcp.token.clone(),
            serial: link.serial.port.clone().map(|p| (p, link.serial.baud)),
            serial_requires_token: link.serial.require_token,
        }
    }
}

/// Why the link servers could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkStartError {
    /// The TCP address cannot be bound.
    #[error("link.tcp.listen {listen}: {source}")]
    Listen {
        /// The address.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
    /// A server thread could not be started.
    #[error("cannot start a link thread: {0}")]
    Thread(std::io::Error),
}

/// The running servers.
pub struct LinkServers {
    /// The TCP address listened on (the real port when `:0` was configured).
    pub tcp_addr: Option<SocketAddr>,
    /// Their threads; they end when the backend reports stopping.
    pub threads: Vec<JoinHandle<()>>,
}

/// Starts the configured servers in front of `backend`.
pub fn start(
    settings: &LinkSettings,
    backend: Arc<dyn LinkBackend>,
) -> Result<LinkServers, LinkStartError> {
    let transfers = Arc::new(Transfers::default());
    let mut servers = LinkServers {
        tcp_addr: None,
        threads: Vec::new(),
    };
    if let Some(listen) = &settings.tcp_listen {
        let (addr, thread) = tcp::start(&backend, &transfers, settings, listen)?;
        servers.tcp_addr = Some(addr);
        servers.threads.push(thread);
    }
    if let Some((port, baud)) = &settings.serial {
        let token = settings
            .serial_requires_token
            .then(|| settings.token.clone())
            .flatten();
        let thread = serial::start(&backend, &transfers, port.clone(), *baud, token)
            .map_err(LinkStartError::Thread)?;
        servers.threads.push(thread);
    }
    Ok(servers)
}
