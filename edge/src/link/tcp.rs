//! The TCP link server: a listener thread and one thread per client (up to
//! `link.tcp.max_clients`); clients must `Auth` with `link.tcp.token` when one is set.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use protocol::io::FramedStream;
use tracing::{info, warn};

use super::auth::AuthGate;
use super::backend::LinkBackend;
use super::connection::{Connection, serve};
use super::session::Session;
use super::transfers::Transfers;
use super::{LinkSettings, LinkStartError};

/// Binds the listener and starts accepting; returns the bound address (the real port when the
/// configured one was 0) and the accept thread.
pub fn start(
    backend: &Arc<dyn LinkBackend>,
    transfers: &Arc<Transfers>,
    settings: &LinkSettings,
    listen: &str,
) -> Result<(SocketAddr, JoinHandle<()>), LinkStartError> {
    let bind = |e| LinkStartError::Listen {
        listen: listen.to_string(),
        source: e,
    };
    let listener = TcpListener::bind(listen).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    // Non-blocking accept, so the thread notices shutdown.
    listener.set_nonblocking(true).map_err(bind)?;
    let (backend, transfers) = (backend.clone(), transfers.clone());
    let (token, max_clients) = (settings.token.clone(), settings.tcp_max_clients);
    let thread = std::thread::Builder::new()
        .name("dipnuc-link-tcp".into())
        .spawn(move || accept_loop(backend, transfers, token, max_clients, listener))
        .map_err(LinkStartError::Thread)?;
    info!(%addr, "link server listening (TCP)");
    Ok((addr, thread))
}

fn accept_loop(
    backend: Arc<dyn LinkBackend>,
    transfers: Arc<Transfers>,
    token: Option<String>,
    max_clients: usize,
    listener: TcpListener,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut clients: Vec<JoinHandle<()>> = Vec::new();
    while !backend.stopping() {
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
        if active.load(Ordering::Relaxed) >= max_clients {
            warn!(%peer, max = max_clients, "link client refused: too many clients");
            drop(stream);
            continue;
        }
        let session = Session::new(
            backend.clone(),
            transfers.clone(),
            AuthGate::from_token(token.as_deref()),
            peer.to_string(),
        );
        let active = active.clone();
        active.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("dipnuc-link-client".into())
            .spawn(move || {
                if let Err(e) = client(session, stream) {
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

fn client(session: Session, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let (reader, writer) = FramedStream::tcp(stream)?.split()?;
    serve(Connection::new(session, reader, writer));
    Ok(())
}
