//! The byte stream under the protocol: a TCP socket or a serial port, opened with errors that
//! say what to check ([`open`]).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use protocol::io::POLL_INTERVAL;
use serialport::SerialPort;

use super::error::CommsError;
use super::target::Target;

/// An open connection to a device.
pub enum Link {
    /// A TCP socket (`TCP_NODELAY`, short read timeout).
    Tcp(TcpStream),
    /// A serial port with a short read timeout.
    Serial(Box<dyn SerialPort>),
    /// Closed on purpose, e.g. while reconnecting: a serial port is opened exclusively, so
    /// the old handle must be gone before the port can be opened again.
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(ErrorKind::NotConnected, "link closed")
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Tcp(s) => f.debug_tuple("Tcp").field(&s.peer_addr().ok()).finish(),
            Link::Serial(p) => f.debug_tuple("Serial").field(&p.name()).finish(),
            Link::Closed => f.write_str("Closed"),
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => s.read(buf),
            Link::Serial(p) => p.read(buf),
            Link::Closed => Err(closed()),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => s.write(buf),
            Link::Serial(p) => p.write(buf),
            Link::Closed => Err(closed()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Tcp(s) => s.flush(),
            Link::Serial(p) => p.flush(),
            Link::Closed => Err(closed()),
        }
    }
}

/// Opens the connection to `target` (no handshake yet).
pub fn open(target: &Target, connect_timeout: Duration) -> Result<Link, CommsError> {
    match target {
        Target::Tcp(addr) => open_tcp(target, addr, connect_timeout),
        Target::Serial { port, baud } => open_serial(target, port, *baud),
    }
}

fn no_device(target: &Target, reason: impl Into<String>) -> CommsError {
    CommsError::NoDevice {
        target: target.to_string(),
        reason: reason.into(),
    }
}

fn open_tcp(target: &Target, addr: &str, timeout: Duration) -> Result<Link, CommsError> {
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| {
            no_device(
                target,
                format!("cannot resolve {addr:?} ({e}); expected HOST:PORT"),
            )
        })?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(stream) => {
                let setup = stream
                    .set_nodelay(true)
                    .and_then(|()| stream.set_read_timeout(Some(POLL_INTERVAL)));
                setup
                    .map_err(|e| no_device(target, format!("cannot configure the socket: {e}")))?;
                return Ok(Link::Tcp(stream));
            }
            Err(e) => last = Some(e),
        }
    }
    let reason = match last {
        None => format!("{addr:?} resolves to no address"),
        Some(e) if e.kind() == ErrorKind::ConnectionRefused => {
            "connection refused (is dipnuc-edge running, with link.tcp.listen on this port?)".into()
        }
        Some(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            format!("no answer to connect within {timeout:.1?} (host down or port filtered?)")
        }
        Some(e) => e.to_string(),
    };
    Err(no_device(target, reason))
}

fn open_serial(target: &Target, port: &str, baud: u32) -> Result<Link, CommsError> {
    if !std::path::Path::new(port).exists() && port.starts_with('/') {
        return Err(no_device(target, "no such serial port; see `dipnuc ports`"));
    }
    let p = serialport::new(port, baud)
        .timeout(POLL_INTERVAL)
        .open()
        .map_err(|e| {
            let reason = match e.kind() {
                serialport::ErrorKind::NoDevice => {
                    format!(
                        "cannot open the port ({}); see `dipnuc ports`",
                        e.description
                    )
                }
                serialport::ErrorKind::Io(ErrorKind::NotFound) => {
                    "no such serial port; see `dipnuc ports`".into()
                }
                serialport::ErrorKind::Io(ErrorKind::PermissionDenied) => {
                    "permission denied (add yourself to the dialout group?)".into()
                }
                _ => e.description.clone(),
            };
            no_device(target, reason)
        })?;
    Ok(Link::Serial(p))
}
