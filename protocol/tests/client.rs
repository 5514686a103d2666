//! End-to-end tests of the blocking client against a small scripted device over the in-memory
//! link: handshake, typed calls, topics, late replies, timeouts, bulk pull and push.

use std::thread;
use std::time::Duration;

use protocol::bulk::{BulkReceiver, chunk_data, object_crc32};
use protocol::client::{CallError, Client};
use protocol::io::FramedStream;
use protocol::io::memory::{MemoryEnd, memory_link};
use protocol::tracker::RetryPolicy;
use protocol::{
    Capabilities, Hello, Nack, NackCode, ObjectEncoding, ObjectKind, ObjectMeta, Packet, Request,
    Response, Topic,
};

/// Runs `serve` for each request on a device thread until the link closes.
fn device(
    mut serve: impl FnMut(&mut FramedStream<MemoryEnd>, u32, Request) + Send + 'static,
) -> (Client<MemoryEnd>, thread::JoinHandle<()>) {
    let (host_end, device_end) = memory_link();
    let handle = thread::spawn(move || {
        let mut link = FramedStream::new(device_end);
        while let Ok(packet) = link.recv(Duration::from_secs(5)) {
            match packet {
                Some(Packet::Request { id, body }) => serve(&mut link, id, body),
                Some(_) => {}
                None => break,
            }
        }
    });
    let policy = RetryPolicy::new(Duration::from_millis(300), 2);
    (Client::new(FramedStream::new(host_end), policy), handle)
}

fn reply(link: &mut FramedStream<MemoryEnd>, id: u32, body: Response) {
    let _ = link.send(&Packet::Response { id, body });
}

#[test]
fn handshake_ping_and_nack() {
    let (mut client, dev) = device(|link, id, req| {
        let body = match req {
            Request::Hello(_) => Response::Hello(Hello::new("dev", "1.0", Capabilities::CUDA)),
            Request::Ping => Response::Pong,
            Request::ConfigGet { key } => Response::Nack(Nack::new(
                NackCode::UnknownKey,
                &format!("{key}: no such key"),
            )),
            _ => Response::Ack,
        };
        reply(link, id, body);
    });
    let peer = client
        .handshake(&Hello::new("host", "1.0", Capabilities::NONE))
        .unwrap();
    assert_eq!(peer.device_id.as_str(), "dev");
    client.ping().unwrap();
    match client.config_get("fit.nope") {
        Err(CallError::Nack(n)) => {
            assert_eq!(n.code, NackCode::UnknownKey);
            assert!(n.to_string().contains("fit.nope"), "{n}");
        }
        other => panic!("expected a Nack, got {other:?}"),
    }
    drop(client);
    dev.join().unwrap();
}

#[test]
fn late_reply_is_discarded_not_taken_for_the_next_answer() {
    // The device answers the first ping only after the host gave up, then answers normally.
    let mut first = true;
    let (mut client, dev) = device(move |link, id, req| {
        if first {
            first = false;
            thread::sleep(Duration::from_millis(250));
            reply(link, id, Response::Pong);
            return;
        }
        let body = match req {
            Request::GetInfo => Response::Ack,
            _ => Response::Pong,
        };
        reply(link, id, body);
    });
    let err = client
        .call_with(
            Request::CalibrateAbort, // not idempotent: no resend
            RetryPolicy::new(Duration::from_millis(100), 3),
            |_, _| {},
        )
        .unwrap_err();
    assert!(
        matches!(err, CallError::Timeout { retries: 0, .. }),
        "{err}"
    );
    // The late Pong for the aborted call arrives while this call waits; it must be discarded.
    let got = client.call(Request::GetInfo).unwrap();
    assert_eq!(got, Response::Ack);
    assert_eq!(client.stats().tracker.late_replies, 1);
    drop(client);
    dev.join().unwrap();
}

#[test]
fn topics_are_queued_while_waiting() {
    let (mut client, dev) = device(|link, id, _req| {
        let _ = link.send(&Packet::Topic(Topic::Log(protocol::LogLine {
            level: protocol::LogLevel::Info,
            target: protocol::text::truncate("t"),
            message: protocol::text::truncate("m"),
        })));
        reply(link, id, Response::Pong);
    });
    client.ping().unwrap();
    let topic = client.next_topic(Duration::from_millis(10)).unwrap();
    assert!(matches!(topic, Some(Topic::Log(_))));
    drop(client);
    dev.join().unwrap();
}

#[test]
fn bulk_push_and_pull_round_trip() {
    let object: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let served = object.clone();
    let mut upload: Option<(BulkReceiver, Vec<u8>)> = None;
    let (mut client, dev) = device(move |link, id, req| {
        let body = match req {
            Request::PatternPull => Response::BulkOffer {
                transfer_id: 7,
                kind: ObjectKind::Pattern,
                total_len: served.len() as u32,
                crc32: object_crc32(&served),
                meta: ObjectMeta::opaque(ObjectEncoding::F32Le, "p"),
            },
            Request::BulkRead { offset, len, .. } => {
                let start = (offset as usize).min(served.len());
                let end = (start + len as usize).min(served.len());
                Response::BulkChunk {
                    transfer_id: 7,
                    offset,
                    data: chunk_data(&served[start..end]),
                }
            }
            Request::BulkBegin {
                total_len, crc32, ..
            } => {
                upload = Some((BulkReceiver::new(total_len, crc32), Vec::new()));
                Response::BulkAccepted {
                    transfer_id: 9,
                    resume_offset: 0,
                }
            }
            Request::BulkWrite { offset, data, .. } => {
                let (rx, store) = upload.as_mut().unwrap();
                match rx.write(offset, &data) {
                    Ok(a) => {
                        store.extend_from_slice(a.new_bytes);
                        Response::BulkProgress {
                            transfer_id: 9,
                            next_offset: a.next_offset,
                        }
                    }
                    Err(e) => Response::Nack(e.to_nack()),
                }
            }
            Request::BulkCommit { .. } => {
                let (rx, store) = upload.as_ref().unwrap();
                match rx.commit() {
                    Ok(()) if *store == served => Response::Ack,
                    Ok(()) => Response::Nack(Nack::new(NackCode::Internal, "stored bytes differ")),
                    Err(e) => Response::Nack(e.to_nack()),
                }
            }
            _ => Response::Ack,
        };
        reply(link, id, body);
    });
    let pulled = client.pull(Request::PatternPull, |_, _| {}).unwrap();
    assert_eq!(pulled.data, object);
    client
        .push(
            ObjectKind::Pattern,
            ObjectMeta::opaque(ObjectEncoding::F32Le, "p"),
            &object,
            RetryPolicy::default(),
            |_, _| {},
            |_, _| {},
        )
        .unwrap();
    drop(client);
    dev.join().unwrap();
}

#[test]
fn handshake_with_a_different_build_names_both_versions() {
    let (mut client, dev) = device(|link, id, _req| {
        let mut theirs = Hello::new("old-device", "0.0.9", Capabilities::NONE);
        theirs.protocol_version.major += 1;
        theirs.schema_hash ^= 0xffff;
        reply(link, id, Response::Hello(theirs));
    });
    let ours = Hello::new("host", "1.0", Capabilities::NONE);
    let err = client.handshake(&ours).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CallError::Handshake(_)), "{text}");
    assert!(
        text.contains(&protocol::PROTOCOL_VERSION.to_string()),
        "{text}"
    );
    assert!(text.contains("old-device"), "{text}");
    assert!(client.peer().is_none());
    drop(client);
    dev.join().unwrap();
}

#[test]
fn timeout_after_bounded_retries_counts_every_attempt() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = seen.clone();
    // A device that never answers.
    let (mut client, dev) = device(move |_link, _id, _req| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let err = client
        .call_with(
            Request::GetTelemetry,
            RetryPolicy::new(Duration::from_millis(40), 2),
            |_, _| {},
        )
        .unwrap_err();
    match err {
        CallError::Timeout {
            request, retries, ..
        } => assert_eq!((request, retries), ("telemetry/get", 2)),
        other => panic!("{other}"),
    }
    drop(client);
    dev.join().unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// A pull interrupted by a dropped link continues on a new connection from the last good
/// offset, with the same receiver, and the result is CRC-verified.
#[test]
fn pull_resumes_after_the_link_drops() {
    let object: Vec<u8> = (0..20_000u32).map(|i| (i % 239) as u8).collect();
    let serve = |object: Vec<u8>, reads_before_drop: Option<usize>| {
        let mut reads = 0;
        let (host_end, device_end) = memory_link();
        let handle = thread::spawn(move || {
            let mut link = FramedStream::new(device_end);
            let mut offsets = Vec::new();
            while let Ok(Some(packet)) = link.recv(Duration::from_secs(5)) {
                let Packet::Request { id, body } = packet else {
                    continue;
                };
                let body = match body {
                    Request::PatternPull => Response::BulkOffer {
                        transfer_id: 5,
                        kind: ObjectKind::Pattern,
                        total_len: object.len() as u32,
                        crc32: object_crc32(&object),
                        meta: ObjectMeta::opaque(ObjectEncoding::F32Le, "p"),
                    },
                    Request::BulkRead { offset, len, .. } => {
                        reads += 1;
                        offsets.push(offset);
                        if Some(reads) == reads_before_drop {
                            return offsets; // the link drops mid-transfer
                        }
                        let start = offset as usize;
                        let end = (start + len as usize).min(object.len());
                        Response::BulkChunk {
                            transfer_id: 5,
                            offset,
                            data: chunk_data(&object[start..end]),
                        }
                    }
                    _ => Response::Ack,
                };
                reply(&mut link, id, body);
            }
            offsets
        });
        let policy = RetryPolicy::new(Duration::from_millis(300), 1);
        (Client::new(FramedStream::new(host_end), policy), handle)
    };

    let (mut first, dev) = serve(object.clone(), Some(3));
    let offer = first.offer(Request::PatternPull).unwrap();
    let mut receiver = offer.receiver();
    let err = first
        .read_offer(&offer, &mut receiver, |_, _| {})
        .unwrap_err();
    assert!(matches!(err, CallError::Link(_)), "{err}");
    assert_eq!(dev.join().unwrap(), vec![0, 4096, 8192]);
    let resume_at = receiver.next_offset();
    assert_eq!(resume_at, 8192);

    let (mut second, dev) = serve(object.clone(), None);
    second.read_offer(&offer, &mut receiver, |_, _| {}).unwrap();
    drop(second);
    assert_eq!(
        dev.join().unwrap()[0],
        resume_at,
        "continued, not restarted"
    );
    assert_eq!(receiver.commit().unwrap(), object);
}
