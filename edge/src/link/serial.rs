//! The serial link server (a UART or a USB gadget port, via serialport): one connection on the
//! port, re-opened when it goes away (gadget unplugged). The port is a physical link and is
//! trusted unless `link.serial.require_token` asks serial peers for the token too.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use protocol::io::{FrameReader, FrameWriter, POLL_INTERVAL};
use tracing::{info, warn};

use super::auth::AuthGate;
use super::backend::LinkBackend;
use super::connection::{Connection, serve};
use super::session::Session;
use super::transfers::Transfers;

/// Starts the serial server thread for `port` at `baud`; `token` = what peers must present
/// (None = trusted).
pub fn start(
    backend: &Arc<dyn LinkBackend>,
    transfers: &Arc<Transfers>,
    port: String,
    baud: u32,
    token: Option<String>,
) -> std::io::Result<JoinHandle<()>> {
    let (backend, transfers) = (backend.clone(), transfers.clone());
    std::thread::Builder::new()
        .name("dipnuc-link-serial".into())
        .spawn(move || run(backend, transfers, port, baud, token))
}

fn run(
    backend: Arc<dyn LinkBackend>,
    transfers: Arc<Transfers>,
    port: String,
    baud: u32,
    token: Option<String>,
) {
    let mut warned = false;
    while !backend.stopping() {
        let opened = serialport::new(&port, baud)
            .timeout(POLL_INTERVAL)
            .open()
            .and_then(|p| Ok((p.try_clone()?, p)));
        match opened {
            Ok((read_half, write_half)) => {
                warned = false;
                info!(%port, baud, token = token.is_some(), "link server on serial port");
                let session = Session::new(
                    backend.clone(),
                    transfers.clone(),
                    AuthGate::from_token(token.as_deref()),
                    format!("serial {port}"),
                );
                serve(Connection::new(
                    session,
                    FrameReader::new(read_half),
                    FrameWriter::new(write_half),
                ));
            }
            Err(e) => {
                if !warned {
                    warn!(%port, error = %e, "serial link port unavailable; retrying");
                    warned = true;
                }
            }
        }
        // The connection ended (port gone, or the peer closed it): try again shortly.
        std::thread::sleep(Duration::from_millis(500));
    }
}
