//! [`MemoryPeer`]: a host end joined to a [`Session`] by the protocol's in-memory transport,
//! both driven from the caller's thread: each call sends a request, lets the connection answer
//! it, and returns the answers. For tests and in-process tools: no sockets, no threads.

use std::io;
use std::time::Duration;

use protocol::io::memory::{MemoryEnd, memory_link};
use protocol::io::{FrameReader, FrameWriter, LinkError};
use protocol::{Packet, Request, Response};

use super::connection::{Connection, Served};
use super::session::Session;

/// What a request got: the `InProgress` answers, the final one, and what the connection does
/// next.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    /// `InProgress` answers before the final one.
    pub interim: Vec<Response>,
    /// The final answer.
    pub last: Response,
    /// `Served::Restart` when the daemon would restart now.
    pub served: Served,
}

/// The host end of an in-memory link, with the device's connection.
pub struct MemoryPeer {
    to_device: FrameWriter<MemoryEnd>,
    from_device: FrameReader<MemoryEnd>,
    device: Connection<MemoryEnd, MemoryEnd>,
    next_id: u32,
}

impl MemoryPeer {
    /// A peer talking to `session` (one in-memory link per direction).
    pub fn new(session: Session) -> MemoryPeer {
        let (host_tx, device_rx) = memory_link();
        let (device_tx, host_rx) = memory_link();
        MemoryPeer {
            to_device: FrameWriter::new(host_tx),
            from_device: FrameReader::new(host_rx),
            device: Connection::new(
                session,
                FrameReader::new(device_rx),
                FrameWriter::new(device_tx),
            ),
            next_id: 1,
        }
    }

    /// Sends `req` and lets the device answer it.
    pub fn call(&mut self, req: Request) -> Result<Answered, LinkError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.to_device.send(&Packet::Request { id, body: req })?;
        let served = self.device.serve_one(Duration::from_secs(1))?;
        let mut interim = Vec::new();
        loop {
            match self.from_device.recv(Duration::from_secs(1))? {
                Some(Packet::Response { id: got, body }) if got == id => {
                    if !body.is_in_progress() {
                        return Ok(Answered {
                            interim,
                            last: body,
                            served,
                        });
                    }
                    interim.push(body);
                }
                Some(_) => {}
                None => {
                    return Err(LinkError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the connection sent no final answer",
                    )));
                }
            }
        }
    }

    /// Sends `req` and returns the final answer.
    pub fn ask(&mut self, req: Request) -> Result<Response, LinkError> {
        self.call(req).map(|a| a.last)
    }
}
