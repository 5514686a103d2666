//! The TCP link server: a listener thread and one thread per client (up to
//! `link.tcp.max_clients`); clients must `Auth` with `link.tcp.token` when one is set.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use protocol::io::FramedStream;
use tracing::{info, warn};

use super::connection::serve;
use super::transfers::Transfers;
use crate::daemon::{DaemonCore, DaemonError};

/// Binds the listener and starts accepting; returns the bound address (the real port when the
/// configured one was 0) and the accept thread.
pub fn start(
    core: &Arc<DaemonCore>,
    transfers: &Arc<Transfers>,
    listen: &str,
) -> Result<(SocketAddr, JoinHandle<()>), DaemonError> {
    let listener = TcpListener::bind(listen)
        .map_err(|e| DaemonError::Link(format!("link.tcp.listen {listen}: {e}")))?;
    let addr = listener.local_addr()?;
    // Non-blocking accept, so the thread notices shutdown.
    listener.set_nonblocking(true)?;
    let (core, transfers) = (core.clone(), transfers.clone());
    let thread = std::thread::Builder::new()
        .name("dipnuc-link-tcp".into())
        .spawn(move || accept_loop(core, transfers, listener))?;
    info!(%addr, "link server listening (TCP)");
    Ok((addr, thread))
}

fn accept_loop(core: Arc<DaemonCore>, transfers: Arc<Transfers>, listener: TcpListener) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut clients: Vec<JoinHandle<()>> = Vec::new();
    while !core.stopping() {
        clients.retain(|c| !c.is_finished());
        let (stream, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(25));
                continue;
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let cfg = core.config();
        if active.load(Ordering::Relaxed) >= cfg.link.tcp.max_clients {
            warn!(%peer, max = cfg.link.tcp.max_clients, "link client refused: too many clients");
            drop(stream);
            continue;
        }
        let token = cfg.link.tcp.token.clone();
        let (core, transfers, active) = (core.clone(), transfers.clone(), active.clone());
        active.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("dipnuc-link-client".into())
            .spawn(move || {
                if let Err(e) = client(core, transfers, token, stream, peer) {
                    warn!(%peer, error = %e, "link client setup failed");
                }
                active.fetch_sub(1, Ordering::Relaxed);
            });
        match spawned {
            Ok(h) => clients.push(h),
            Err(e) => warn!(error = %e, "cannot start a client thread"),
        }
    }
    for c in clients {
        let _ = c.join();
    }
}

fn client(
    core: Arc<DaemonCore>,
    transfers: Arc<Transfers>,
    token: Option<String>,
    stream: TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let (reader, writer) = FramedStream::tcp(stream)?.split()?;
    serve(core, transfers, token, peer.to_string(), reader, writer);
    Ok(())
}
