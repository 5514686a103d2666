//! The link's request handling on its own: a [`Session`] in front of a stand-in backend, driven
//! over the protocol's in-memory transport, in this one thread (no TCP, no threads): the token
//! gate (an unauthenticated peer gets nothing but the handshake, whatever it sends), the
//! handshake's version check, and the link's own requests (ping, bulk transfers, the frame
//! stream) next to the ones it hands to the backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use edge::events::EventBus;
use edge::frame_topic::{FrameHub, FrameStream};
use edge::link::{AuthGate, CompleteUpload, LinkBackend, MemoryPeer, Reply, Session, Transfers};
use proptest::prelude::*;
use protocol::{
    Capabilities, FrameKind, Hello, NackCode, ObjectEncoding, ObjectKind, ObjectMeta, Request,
    Response, SnapshotKind, StreamOpened, Telemetry,
};

/// Answers `GetInfo`-like requests with `Ack`, opens frame streams on its own hub, and counts
/// every call that reached it.
#[derive(Default)]
struct Stub {
    answered: AtomicUsize,
    uploads: AtomicUsize,
    events: EventBus,
    frames: FrameHub,
}

impl LinkBackend for Stub {
    fn hello(&self, auth_required: bool) -> Hello {
        let caps = if auth_required {
            Capabilities::AUTH_REQUIRED
        } else {
            Capabilities::NONE
        };
        Hello::new("stub", "0", caps)
    }

    fn answer(&self, req: Request, _: &mut dyn FnMut(Response)) -> Reply {
        self.answered.fetch_add(1, Ordering::SeqCst);
        match req {
            Request::ConfigExport => Reply::Offer {
                kind: ObjectKind::Config,
                bytes: b"x = 1\n".to_vec(),
                meta: ObjectMeta::opaque(ObjectEncoding::TomlUtf8, "edge.toml"),
            },
            _ => Reply::Answer(Response::Ack),
        }
    }

    fn apply_upload(&self, _: CompleteUpload, _: &mut dyn FnMut(Response)) -> Reply {
        self.uploads.fetch_add(1, Ordering::SeqCst);
        Reply::Answer(Response::Ack)
    }

    fn open_frame_stream(
        &self,
        kind: FrameKind,
        max_fps: f32,
    ) -> Result<(FrameStream, StreamOpened), protocol::Nack> {
        self.answered.fetch_add(1, Ordering::SeqCst);
        let stream = self
            .frames
            .subscribe(kind, max_fps, 30.0, 1)
            .map_err(|e| protocol::Nack::new(NackCode::Busy, &e.to_string()))?;
        let opened = StreamOpened {
            stream_id: stream.id,
            kind,
            width: 4,
            height: 4,
            bit_depth: 14,
            max_fps: stream.max_fps,
        };
        Ok((stream, opened))
    }

    fn connection_changed(&self, _open: bool) {}

    fn heartbeat(&self) -> Telemetry {
        unreachable!("no topics in these tests")
    }

    fn events(&self) -> &EventBus {
        &self.events
    }

    fn stopping(&self) -> bool {
        false
    }

    fn restart(&self) {}
}

/// A peer over the in-memory transport, answers unwrapped.
struct Link(MemoryPeer);

impl Link {
    fn new(backend: Arc<Stub>, auth: AuthGate) -> Link {
        let session = Session::new(
            backend,
            Arc::new(Transfers::default()),
            auth,
            "memory".into(),
        );
        Link(MemoryPeer::new(session))
    }

    fn one(&mut self, req: Request) -> Response {
        let a = self.0.call(req).expect("the in-memory link works");
        assert!(a.interim.is_empty(), "{a:?}");
        a.last
    }
}

fn ours() -> Hello {
    Hello::new("test-host", "0", Capabilities::NONE)
}

fn token(s: &str) -> Request {
    Request::Auth {
        token: protocol::text::truncate(s),
    }
}

fn code(r: &Response) -> Option<NackCode> {
    match r {
        Response::Nack(n) => Some(n.code),
        _ => None,
    }
}

/// Requests a peer might send; every one of them would do something past the gate.
fn any_request() -> impl Strategy<Value = Request> {
    let meta = ObjectMeta::opaque(ObjectEncoding::SignedImage, "x");
    prop_oneof![
        Just(Request::Ping),
        Just(Request::GetInfo),
        Just(Request::GetTelemetry),
        Just(Request::ConfigExport),
        Just(Request::PatternPull),
        Just(Request::FirmwareConfirm),
        Just(Request::Reboot),
        Just(Request::CalibrateAbort),
        Just(Request::SnapshotRequest {
            kind: SnapshotKind::Raw
        }),
        "[a-z.]{1,20}".prop_map(|k| Request::ConfigGet {
            key: protocol::text::truncate(&k)
        }),
        Just(Request::ConfigSet {
            key: protocol::text::truncate("link.tcp.token"),
            value: protocol::text::truncate("\"mine\""),
        }),
        (1u32..2000).prop_map(move |len| Request::BulkBegin {
            kind: ObjectKind::Firmware,
            total_len: len,
            crc32: 0,
            meta: meta.clone(),
        }),
        (0u32..4).prop_map(|id| Request::BulkCommit { transfer_id: id }),
        (0u32..4).prop_map(|id| Request::BulkRead {
            transfer_id: id,
            offset: 0,
            len: 16
        }),
        Just(Request::SubscribeTopics {
            heartbeat: true,
            fit_progress: true,
            logs: true
        }),
        (0.1f32..100.0).prop_map(|max_fps| Request::FrameSubscribe {
            kind: FrameKind::Raw,
            max_fps
        }),
        "[ -~]{0,12}".prop_map(|t| token(&t)),
        Just(Request::Hello(ours())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever an unauthenticated peer sends, in any order, it gets its `Hello` answered and
    /// everything else refused as unauthorized; nothing reaches the device.
    #[test]
    fn an_unauthenticated_peer_gets_nothing_but_the_handshake(
        reqs in proptest::collection::vec(any_request(), 1..24),
    ) {
        let stub = Arc::new(Stub::default());
        let mut link = Link::new(stub.clone(), AuthGate::token("s3cret".into()));
        for req in reqs {
            let is_hello = matches!(req, Request::Hello(_));
            let r = link.one(req);
            if is_hello {
                prop_assert!(matches!(r, Response::Hello(ref h) if h.capabilities.contains(Capabilities::AUTH_REQUIRED)), "{r:?}");
            } else {
                prop_assert_eq!(code(&r), Some(NackCode::Unauthorized), "{:?}", r);
            }
        }
        prop_assert_eq!(stub.answered.load(Ordering::SeqCst), 0);
        prop_assert_eq!(stub.uploads.load(Ordering::SeqCst), 0);
        prop_assert_eq!(stub.frames.open_streams(), 0);
        // With the token the same link is served.
        prop_assert!(matches!(link.one(Request::Hello(ours())), Response::Hello(_)));
        prop_assert_eq!(link.one(token("s3cret")), Response::Ack);
        prop_assert_eq!(link.one(Request::Ping), Response::Pong);
        prop_assert_eq!(link.one(Request::GetInfo), Response::Ack);
        prop_assert_eq!(stub.answered.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_wrong_token_closes_the_gate_again() {
    let stub = Arc::new(Stub::default());
    let mut link = Link::new(stub.clone(), AuthGate::token("s3cret".into()));
    link.one(Request::Hello(ours()));
    assert_eq!(link.one(token("s3cret")), Response::Ack);
    assert_eq!(link.one(Request::GetInfo), Response::Ack);
    assert_eq!(
        code(&link.one(token("guess"))),
        Some(NackCode::Unauthorized)
    );
    assert_eq!(
        code(&link.one(Request::GetInfo)),
        Some(NackCode::Unauthorized)
    );
    assert_eq!(stub.answered.load(Ordering::SeqCst), 1);
}

#[test]
fn a_trusted_link_still_needs_a_compatible_hello() {
    let stub = Arc::new(Stub::default());
    let mut link = Link::new(stub.clone(), AuthGate::trusted());
    assert_eq!(
        code(&link.one(Request::GetInfo)),
        Some(NackCode::BadRequest)
    );
    let mut old = ours();
    old.schema_hash ^= 1;
    let Response::Hello(h) = link.one(Request::Hello(old)) else {
        panic!("our Hello goes back either way")
    };
    assert!(!h.capabilities.contains(Capabilities::AUTH_REQUIRED));
    assert_eq!(
        code(&link.one(Request::GetInfo)),
        Some(NackCode::VersionMismatch)
    );
    link.one(Request::Hello(ours()));
    assert_eq!(link.one(Request::GetInfo), Response::Ack);
    assert_eq!(stub.answered.load(Ordering::SeqCst), 1);
}

#[test]
fn the_link_answers_its_own_requests_and_hands_on_the_rest() {
    let stub = Arc::new(Stub::default());
    let mut link = Link::new(stub.clone(), AuthGate::trusted());
    link.one(Request::Hello(ours()));
    assert_eq!(link.one(Request::Ping), Response::Pong);
    // An offer from the backend becomes a transfer the host reads.
    let Response::BulkOffer {
        transfer_id,
        total_len,
        ..
    } = link.one(Request::ConfigExport)
    else {
        panic!("expected an offer")
    };
    assert_eq!(total_len, 6);
    let Response::BulkChunk { data, .. } = link.one(Request::BulkRead {
        transfer_id,
        offset: 0,
        len: 100,
    }) else {
        panic!("expected a chunk")
    };
    assert_eq!(&data[..], b"x = 1\n");
    // An upload reaches the backend only when complete and checksum-verified.
    let bytes = b"pattern bytes".to_vec();
    let Response::BulkAccepted { transfer_id, .. } = link.one(Request::BulkBegin {
        kind: ObjectKind::Pattern,
        total_len: bytes.len() as u32,
        crc32: protocol::bulk::object_crc32(&bytes),
        meta: ObjectMeta::opaque(ObjectEncoding::PatternFile, "p"),
    }) else {
        panic!("expected acceptance")
    };
    assert_eq!(
        code(&link.one(Request::BulkCommit { transfer_id })),
        Some(NackCode::BadRequest),
        "incomplete"
    );
    link.one(Request::BulkWrite {
        transfer_id,
        offset: 0,
        data: protocol::bulk::chunk_data(&bytes),
    });
    assert_eq!(link.one(Request::BulkCommit { transfer_id }), Response::Ack);
    assert_eq!(stub.uploads.load(Ordering::SeqCst), 1);
}

#[test]
fn a_frame_stream_needs_the_gate_open_and_ends_when_it_closes() {
    let stub = Arc::new(Stub::default());
    let mut link = Link::new(stub.clone(), AuthGate::token("s3cret".into()));
    let subscribe = || Request::FrameSubscribe {
        kind: FrameKind::Corrected,
        max_fps: 5.0,
    };
    link.one(Request::Hello(ours()));
    assert_eq!(code(&link.one(subscribe())), Some(NackCode::Unauthorized));
    assert_eq!(stub.frames.open_streams(), 0);
    assert_eq!(link.one(token("s3cret")), Response::Ack);
    let Response::StreamOpened(opened) = link.one(subscribe()) else {
        panic!("expected the stream")
    };
    assert_eq!((opened.kind, opened.max_fps), (FrameKind::Corrected, 5.0));
    assert_eq!(stub.frames.open_streams(), 1);
    // Subscribing again replaces this link's stream; it does not count against the limit of 1.
    assert!(matches!(link.one(subscribe()), Response::StreamOpened(_)));
    assert_eq!(stub.frames.open_streams(), 1);
    // A wrong token closes the gate, and the stream with it.
    assert_eq!(
        code(&link.one(token("guess"))),
        Some(NackCode::Unauthorized)
    );
    assert_eq!(stub.frames.open_streams(), 0);
    assert_eq!(code(&link.one(subscribe())), Some(NackCode::Unauthorized));
}
