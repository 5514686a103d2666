//! An in-memory bidirectional byte link for tests and in-process setups: two [`MemoryEnd`]s
//! joined by channels, with read timeouts like a socket's.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use super::POLL_INTERVAL;

/// One end of a [`memory_link`]. Writes arrive at the other end's reads; dropping an end makes
/// the other end read end-of-file.
#[derive(Debug)]
pub struct MemoryEnd {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    pending: VecDeque<u8>,
    read_timeout: Option<Duration>,
}

/// A connected pair of ends, each with a [`POLL_INTERVAL`] read timeout.
pub fn memory_link() -> (MemoryEnd, MemoryEnd) {
    let (a_tx, b_rx) = channel();
    let (b_tx, a_rx) = channel();
    let end = |tx, rx| MemoryEnd {
        tx,
        rx,
        pending: VecDeque::new(),
        read_timeout: Some(POLL_INTERVAL),
    };
    (end(a_tx, a_rx), end(b_tx, b_rx))
}

impl MemoryEnd {
    /// How long a read waits for data before failing with `WouldBlock` (`None`: forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }
}

impl Read for MemoryEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending.is_empty() {
            let received = match self.read_timeout {
                Some(t) => self.rx.recv_timeout(t),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(bytes) => self.pending.extend(bytes),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(ErrorKind::WouldBlock, "no data yet"));
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        for (dst, src) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl Write for MemoryEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .send(buf.to_vec())
            .map_err(|_| io::Error::new(ErrorKind::BrokenPipe, "memory link closed"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
