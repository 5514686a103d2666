//! Drives one connection over any byte stream: [`Connection::serve_one`] reads one request,
//! answers it through the [`Session`] and writes the answer; [`serve`] does that until the peer
//! leaves or the daemon stops, with the subscribed topics sent from a second thread and the
//! frame stream (once one is opened) from a third, all sharing the writer.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::io::{FrameReader, FrameWriter, LinkError};
use protocol::{Packet, Response};
use tracing::{debug, info, warn};

use super::backend::LinkBackend;
use super::frame_sender::send_frames;
use super::session::{After, Session};
use super::subscriptions::Subscriptions;
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
    backend.connection_changed(true);
    let mut frames: Option<std::thread::JoinHandle<()>> = None;
    while !backend.stopping() && !subs.closed.load(Ordering::Relaxed) {
        let served = conn.serve_one(Duration::from_millis(200));
        if frames.is_none() && subs.frames.used() {
            frames = spawn_frame_sender(&backend, &conn.writer, &subs, &peer);
        }
        match served {
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
    if let Some(t) = frames {
        let _ = t.join();
    }
    backend.connection_changed(false);
    let stats = conn.reader.stats();
    info!(%peer, packets_in = stats.packets_in, crc_errors = stats.decoder.crc_errors,
          "link client disconnected");
}

/// Starts the connection's frame sender (on its first `FrameSubscribe`).
fn spawn_frame_sender<W: Write + Send + 'static>(
    backend: &Arc<dyn LinkBackend>,
    writer: &Arc<Mutex<FrameWriter<W>>>,
    subs: &Arc<Subscriptions>,
    peer: &str,
) -> Option<std::thread::JoinHandle<()>> {
    let name = peer.to_string();
    let (backend, writer, subs) = (backend.clone(), writer.clone(), subs.clone());
    let spawned = std::thread::Builder::new()
        .name("dipnuc-link-frames".into())
        .spawn(move || {
            let done = || subs.closed.load(Ordering::Relaxed) || backend.stopping();
            let open = || subs.open.load(Ordering::Relaxed);
            if let Err(e) = send_frames(&subs.frames, &writer, &name, &done, &open) {
                debug!(peer = %name, error = %e, "frame stream write failed; closing the link");
                subs.closed.store(true, Ordering::Relaxed);
            }
        });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            warn!(%peer, error = %e, "cannot start the frame sender");
            None
        }
    }
}
