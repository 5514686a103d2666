//! Drives one connection over any byte stream: [`Connection::serve_one`] reads one request,
//! answers it through the [`Session`] and writes the answer; [`serve`] does that until the peer
//! leaves or the daemon stops, with the subscribed topics sent from a second thread that
//! shares the writer.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::io::{FrameReader, FrameWriter, LinkError};
use protocol::{Packet, Response};
use tracing::{debug, info};

use super::session::{After, Session};
use super::topics::send_topics;

/// What one turn of a connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Nothing arrived within the timeout (or a packet that is not a request, ignored).
    Idle,
    /// A request was answered.
    Answered,
    /// A request was answered and the daemon must now restart.
    Restart,
}

/// One connection: its session, the reading half and the (shared) writing half.
pub struct Connection<R, W> {
    session: Session,
    reader: FrameReader<R>,
    writer: Arc<Mutex<FrameWriter<W>>>,
}

impl<R: Read, W: Write> Connection<R, W> {
    /// A connection speaking `session` over `reader` and `writer`.
    pub fn new(session: Session, reader: FrameReader<R>, writer: FrameWriter<W>) -> Self {
        Connection {
            session,
            reader,
            writer: Arc::new(Mutex::new(writer)),
        }
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn send(&self, packet: &Packet) -> Result<(), LinkError> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(packet)
    }

    /// Waits up to `timeout` for a request and answers it (with any `InProgress` answers
    /// before the final one). Fails when the link does.
    pub fn serve_one(&mut self, timeout: Duration) -> Result<Served, LinkError> {
        let Some(packet) = self.reader.recv(timeout)? else {
            return Ok(Served::Idle);
        };
        let Packet::Request { id, body } = packet else {
            debug!(peer = %self.session.peer(), "ignoring a non-request packet from the host");
            return Ok(Served::Idle);
        };
        let mut interim_error = None;
        let writer = self.writer.clone();
        let (resp, after) = self.session.handle(body, &mut |r: Response| {
            let sent = writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(&Packet::Response { id, body: r });
            if let Err(e) = sent {
                interim_error.get_or_insert(e);
            }
        });
        if let Some(e) = interim_error {
            return Err(e);
        }
        self.send(&Packet::Response { id, body: resp })?;
        Ok(match after {
            After::Nothing => Served::Answered,
            After::Restart => Served::Restart,
        })
    }
}

/// Serves `conn` until the peer leaves or the daemon stops, sending its topics meanwhile.
pub fn serve<R: Read, W: Write + Send + 'static>(mut conn: Connection<R, W>) {
    let backend = conn.session.backend().clone();
    let subs = conn.session.subscriptions().clone();
    let peer = conn.session.peer().to_string();
    let topics = {
        let (backend, writer, subs) = (backend.clone(), conn.writer.clone(), subs.clone());
        std::thread::Builder::new()
            .name("dipnuc-link-topics".into())
            .spawn(move || send_topics(backend.as_ref(), &writer, &subs))
    };
    info!(%peer, "link client connected");
    while !backend.stopping() && !subs.closed.load(Ordering::Relaxed) {
        match conn.serve_one(Duration::from_millis(200)) {
            Ok(Served::Idle | Served::Answered) => {}
            Ok(Served::Restart) => {
                // Give the answer a moment to leave before the daemon goes down.
                std::thread::sleep(Duration::from_millis(200));
                backend.restart();
            }
            Err(LinkError::Eof) => break,
            Err(e) => {
                debug!(%peer, error = %e, "link failed");
                break;
            }
        }
    }
    subs.closed.store(true, Ordering::Relaxed);
    if let Ok(t) = topics {
        let _ = t.join();
    }
    let stats = conn.reader.stats();
    info!(%peer, packets_in = stats.packets_in, crc_errors = stats.decoder.crc_errors,
          "link client disconnected");
}
