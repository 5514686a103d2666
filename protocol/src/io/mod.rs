//! `std::io` adapters: packets over any byte stream (`TcpStream`, a serial port, the in-memory
//! [`memory`] link), using the framing of [`crate::framing`].
//!
//! The transport must have a short read timeout ([`POLL_INTERVAL`] is a good value:
//! `TcpStream::set_read_timeout`, `SerialPort::set_timeout`), because `std::io::Read` has no
//! deadline of its own: `recv(timeout)` keeps reading until a packet arrives or `timeout` has
//! passed, and honours it to within one read timeout. A transport that blocks forever makes
//! `recv` block forever.
//!
//! A sender writes one lone `0x00` before its first frame, so a peer holding a partial frame
//! from before (a serial line across a reconnect) drops it instead of losing the first frame.

pub mod memory;

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::envelope::{Packet, PacketError};
use crate::framing::{DecoderStats, FrameDecoder, MAX_FRAME, MAX_PAYLOAD};

/// Recommended read timeout of the underlying transport.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Size of the read buffer: several frames per system call at full rate.
const READ_BUF: usize = 16 * 1024;

/// The link failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The peer closed the connection (read returned end of file).
    #[error("link closed by the peer")]
    Eof,
    /// Reading or writing failed.
    #[error("link I/O error: {0}")]
    Io(#[from] io::Error),
    /// The packet could not be encoded (a bug: every packet fits a frame).
    #[error("could not encode packet: {0}")]
    Encode(#[from] PacketError),
}

/// Traffic and error counters of one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets received and decoded.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Raw bytes read.
    pub bytes_in: u64,
    /// Raw bytes written.
    pub bytes_out: u64,
    /// Frames with a valid CRC whose payload is not a `Packet` (skipped).
    pub undecodable: u64,
    /// Frame-level counters (CRC errors, oversize, garbage bytes).
    pub decoder: DecoderStats,
}

/// Receive half: read buffer and frame decoder, usable with any `Read`.
#[derive(Debug)]
struct RxState {
    decoder: Box<FrameDecoder<MAX_FRAME>>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    packets_in: u64,
    bytes_in: u64,
    undecodable: u64,
}

impl RxState {
    fn new() -> Self {
        RxState {
            decoder: Box::new(FrameDecoder::new()),
            buf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            packets_in: 0,
            bytes_in: 0,
            undecodable: 0,
        }
    }

    /// Decodes the next packet from bytes already read, if there is one.
    fn next_buffered(&mut self) -> Option<Packet> {
        while self.start < self.end {
            let mut input = &self.buf[self.start..self.end];
            let result = self.decoder.feed(&mut input);
            self.start = self.end - input.len();
            match result {
                None => break,
                Some(Ok(payload)) => match Packet::from_payload(payload) {
                    Ok(packet) => {
                        self.packets_in += 1;
                        return Some(packet);
                    }
                    // A frame from a different protocol build or a bug on the peer: the frame
                    // was intact, so skip just it and keep the link.
                    Err(_) => self.undecodable += 1,
                },
                // Counted by the decoder; it has already resynchronised.
                Some(Err(_)) => {}
            }
        }
        None
    }

    fn recv(&mut self, io: &mut impl Read, timeout: Duration) -> Result<Option<Packet>, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(packet) = self.next_buffered() {
                return Ok(Some(packet));
            }
            match io.read(&mut self.buf) {
                Ok(0) => return Err(LinkError::Eof),
                Ok(n) => {
                    self.bytes_in += n as u64;
                    self.start = 0;
                    self.end = n;
                    continue;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Io(e)),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    fn reset(&mut self) {
        self.decoder.reset();
        self.start = 0;
        self.end = 0;
    }
}

/// Send half: encode buffers, usable with any `Write`.
#[derive(Debug)]
struct TxState {
    /// Whether the opening delimiter went out (see `send`).
    opened: bool,
    scratch: Box<[u8]>,
    frame: Box<[u8]>,
    packets_out: u64,
    bytes_out: u64,
}

impl TxState {
    fn new() -> Self {
        TxState {
            opened: false,
            scratch: vec![0; MAX_PAYLOAD].into_boxed_slice(),
            frame: vec![0; MAX_FRAME].into_boxed_slice(),
            packets_out: 0,
            bytes_out: 0,
        }
    }

    fn send(&mut self, io: &mut impl Write, packet: &Packet) -> Result<(), LinkError> {
        let n = packet.encode_frame(&mut self.scratch, &mut self.frame)?;
        if !self.opened {
            // A lone delimiter before the first frame ends whatever partial frame the peer may
            // hold from before (a reconnect on a serial line), so the first frame is not lost
            // by being glued to it. Receivers ignore empty frames.
            io.write_all(&[0])?;
            self.bytes_out += 1;
            self.opened = true;
        }
        io.write_all(&self.frame[..n])?;
        io.flush()?;
        self.packets_out += 1;
        self.bytes_out += n as u64;
        Ok(())
    }
}

fn stats(rx: &RxState, packets_out: u64, bytes_out: u64) -> LinkStats {
    LinkStats {
        packets_in: rx.packets_in,
        packets_out,
        bytes_in: rx.bytes_in,
        bytes_out,
        undecodable: rx.undecodable,
        decoder: rx.decoder.stats(),
    }
}

/// Packets over one bidirectional byte stream.
#[derive(Debug)]
pub struct FramedStream<T> {
    io: T,
    rx: RxState,
    tx: TxState,
}

impl<T: Read + Write> FramedStream<T> {
    /// Wraps a stream that already has a short read timeout (see the module docs).
    pub fn new(io: T) -> Self {
        FramedStream {
            io,
            rx: RxState::new(),
            tx: TxState::new(),
        }
    }

    /// Sends one packet (one frame, flushed).
    pub fn send(&mut self, packet: &Packet) -> Result<(), LinkError> {
        self.tx.send(&mut self.io, packet)
    }

    /// Waits up to `timeout` for the next packet; `Ok(None)` when none arrived. Damaged frames
    /// and undecodable payloads are skipped and counted; end of stream is [`LinkError::Eof`].
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Packet>, LinkError> {
        self.rx.recv(&mut self.io, timeout)
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        stats(&self.rx, self.tx.packets_out, self.tx.bytes_out)
    }

    /// Drops buffered partial input (after reconnecting the underlying transport).
    pub fn reset(&mut self) {
        self.rx.reset();
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The underlying stream, mutably (to change timeouts or baud rate).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Unwraps the stream; buffered input is lost.
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl FramedStream<TcpStream> {
    /// Wraps a TCP stream, setting `TCP_NODELAY` (requests are small and latency matters) and a
    /// [`POLL_INTERVAL`] read timeout.
    pub fn tcp(stream: TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        Ok(FramedStream::new(stream))
    }

    /// Splits into a reader and a writer on two handles of the same socket, so one thread can
    /// wait for requests while another sends topics.
    pub fn split(self) -> io::Result<(FrameReader<TcpStream>, FrameWriter<TcpStream>)> {
        let write_half = self.io.try_clone()?;
        Ok((
            FrameReader {
                io: self.io,
                rx: self.rx,
            },
            FrameWriter {
                io: write_half,
                tx: self.tx,
            },
        ))
    }
}

/// Receiving packets from a byte stream (the read half of a split link).
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    rx: RxState,
}

impl<R: Read> FrameReader<R> {
    /// Wraps a reader that has a short read timeout.
    pub fn new(io: R) -> Self {
        FrameReader {
            io,
            rx: RxState::new(),
        }
    }

    /// See [`FramedStream::recv`].
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Packet>, LinkError> {
        self.rx.recv(&mut self.io, timeout)
    }

    /// Packets received, undecodable payloads and frame-level counters (the send counters of
    /// the result are zero).
    pub fn stats(&self) -> LinkStats {
        stats(&self.rx, 0, 0)
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }
}

/// Sending packets to a byte stream (the write half of a split link).
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    tx: TxState,
}

impl<W: Write> FrameWriter<W> {
    /// Wraps a writer.
    pub fn new(io: W) -> Self {
        FrameWriter {
            io,
            tx: TxState::new(),
        }
    }

    /// See [`FramedStream::send`].
    pub fn send(&mut self, packet: &Packet) -> Result<(), LinkError> {
        self.tx.send(&mut self.io, packet)
    }

    /// Packets and bytes sent so far.
    pub fn packets_out(&self) -> (u64, u64) {
        (self.tx.packets_out, self.tx.bytes_out)
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }
}
