//! The serial link server (a UART or a USB gadget port, via serialport): one connection on the
//! port, re-opened when it goes away (gadget unplugged). The port is a trusted, physical link:
//! no token is asked for.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use protocol::io::{FrameReader, FrameWriter, POLL_INTERVAL};
use tracing::{info, warn};

use super::connection::serve;
use super::transfers::Transfers;
use crate::daemon::DaemonCore;

/// Starts the serial server thread for `port` at `baud`.
pub fn start(
    core: &Arc<DaemonCore>,
    transfers: &Arc<Transfers>,
    port: String,
    baud: u32,
) -> std::io::Result<JoinHandle<()>> {
    let (core, transfers) = (core.clone(), transfers.clone());
    std::thread::Builder::new()
        .name("dipnuc-link-serial".into())
        .spawn(move || run(core, transfers, port, baud))
}

fn run(core: Arc<DaemonCore>, transfers: Arc<Transfers>, port: String, baud: u32) {
    let mut warned = false;
    while !core.stopping() {
        let opened = serialport::new(&port, baud)
            .timeout(POLL_INTERVAL)
            .open()
            .and_then(|p| Ok((p.try_clone()?, p)));
        match opened {
            Ok((read_half, write_half)) => {
                warned = false;
                info!(%port, baud, "link server on serial port");
                serve(
                    core.clone(),
                    transfers.clone(),
                    None,
                    format!("serial {port}"),
                    FrameReader::new(read_half),
                    FrameWriter::new(write_half),
                );
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
