//! std I/O adapters: packets over the in-memory link and TCP loopback, garbage on the line
//! skipped and counted, undecodable frames skipped, end of stream as a typed error.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use protocol::io::memory::memory_link;
use protocol::io::{FrameReader, FrameWriter, FramedStream, LinkError};
use protocol::{Packet, Request, Response, encode_frame, framing::max_frame_len};

const WAIT: Duration = Duration::from_secs(2);

fn ping(id: u32) -> Packet {
    Packet::Request {
        id,
        body: Request::Ping,
    }
}

#[test]
fn packets_cross_the_memory_link_both_ways() {
    let (a, b) = memory_link();
    let (mut a, mut b) = (FramedStream::new(a), FramedStream::new(b));
    a.send(&ping(1)).unwrap();
    a.send(&ping(2)).unwrap();
    assert_eq!(b.recv(WAIT).unwrap(), Some(ping(1)));
    assert_eq!(b.recv(WAIT).unwrap(), Some(ping(2)));
    let pong = Packet::Response {
        id: 2,
        body: Response::Pong,
    };
    b.send(&pong).unwrap();
    assert_eq!(a.recv(WAIT).unwrap(), Some(pong));
    assert_eq!(a.stats().packets_out, 2);
    assert_eq!(b.stats().packets_in, 2);
}

#[test]
fn recv_times_out_with_none() {
    let (a, _b) = memory_link();
    let mut a = FramedStream::new(a);
    let t0 = Instant::now();
    assert_eq!(a.recv(Duration::from_millis(60)).unwrap(), None);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(60), "{waited:?}");
}

#[test]
fn eof_is_a_typed_error() {
    let (a, b) = memory_link();
    let mut a = FramedStream::new(a);
    drop(b);
    assert!(matches!(a.recv(WAIT), Err(LinkError::Eof)));
}

#[test]
fn garbage_and_undecodable_frames_are_skipped_and_counted() {
    let (a, mut raw) = memory_link();
    let mut a = FramedStream::new(a);
    // Line noise, a frame with a broken CRC, a valid frame that is not a Packet, then a packet.
    raw.write_all(b"\x01\x02noise\x00").unwrap();
    let mut bad = ping(7).to_frame().unwrap();
    bad[2] ^= 0x10;
    if bad[2] == 0 {
        bad[2] = 0x33;
    }
    raw.write_all(&bad).unwrap();
    let mut not_a_packet = vec![0; max_frame_len(3)];
    let n = encode_frame(&[0xff, 0xff, 0xff], &mut not_a_packet).unwrap();
    raw.write_all(&not_a_packet[..n]).unwrap();
    raw.write_all(&ping(8).to_frame().unwrap()).unwrap();

    assert_eq!(a.recv(WAIT).unwrap(), Some(ping(8)));
    let stats = a.stats();
    assert_eq!(stats.undecodable, 1);
    assert_eq!(stats.decoder.crc_errors + stats.decoder.cobs_errors, 2);
    assert!(stats.decoder.bytes_discarded > 0);
}

#[test]
fn tcp_loopback_and_split() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let (mut reader, mut writer): (FrameReader<TcpStream>, FrameWriter<TcpStream>) =
            FramedStream::tcp(stream).unwrap().split().unwrap();
        // Echo each request id back as a Pong until the client hangs up.
        loop {
            match reader.recv(WAIT) {
                Ok(Some(Packet::Request { id, .. })) => writer
                    .send(&Packet::Response {
                        id,
                        body: Response::Pong,
                    })
                    .unwrap(),
                Ok(_) => {}
                Err(LinkError::Eof) => break,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let mut client = FramedStream::tcp(TcpStream::connect(addr).unwrap()).unwrap();
    for id in 1..=20 {
        client.send(&ping(id)).unwrap();
        assert_eq!(
            client.recv(WAIT).unwrap(),
            Some(Packet::Response {
                id,
                body: Response::Pong
            })
        );
    }
    drop(client);
    server.join().unwrap();
}
