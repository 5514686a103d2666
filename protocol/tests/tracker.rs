//! Request tracker: ids, matching by id, late and unknown replies discarded, bounded retries,
//! deadline extension on `InProgress`, no blind resends of non-idempotent requests.

use std::time::{Duration, Instant};

use protocol::tracker::{CallId, Expired, ReplyOutcome, RequestTracker, RetryPolicy};
use protocol::{Packet, Request, Response};

const T: Duration = Duration::from_millis(100);

fn id_of(packet: &Packet) -> u32 {
    match packet {
        Packet::Request { id, .. } => *id,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn reply_matches_its_call_and_ids_are_unique() {
    let mut tracker = RequestTracker::new();
    let now = Instant::now();
    let (a, pa) = tracker.start(Request::Ping, RetryPolicy::new(T, 0), now);
    let (b, pb) = tracker.start(Request::GetInfo, RetryPolicy::new(T, 0), now);
    assert_ne!(id_of(&pa), id_of(&pb));
    // Replies may come out of order.
    match tracker.on_reply(id_of(&pb), Response::Ack, now) {
        ReplyOutcome::Final { call, request, .. } => {
            assert_eq!(call, b);
            assert_eq!(*request, Request::GetInfo);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        tracker.on_reply(id_of(&pa), Response::Pong, now),
        ReplyOutcome::Final { call, .. } if call == a
    ));
    assert_eq!(tracker.in_flight(), 0);
}

#[test]
fn late_reply_is_discarded_not_matched_to_the_next_request() {
    let mut tracker = RequestTracker::new();
    let t0 = Instant::now();
    let (_, first) = tracker.start(Request::CalibrateAbort, RetryPolicy::new(T, 0), t0);
    // No answer in time: the call gives up.
    let expired = tracker.expire(t0 + T);
    assert!(matches!(expired[..], [Expired::GaveUp { retries: 0, .. }]));
    // The next request is in flight when the late answer to the first arrives.
    let (second, next) = tracker.start(Request::GetTelemetry, RetryPolicy::new(T, 0), t0 + T);
    assert_eq!(
        tracker.on_reply(id_of(&first), Response::Ack, t0 + T),
        ReplyOutcome::Late { id: id_of(&first) }
    );
    assert_eq!(
        tracker.in_flight(),
        1,
        "the late reply did not complete the second call"
    );
    assert!(matches!(
        tracker.on_reply(id_of(&next), Response::Pong, t0 + T),
        ReplyOutcome::Final { call, .. } if call == second
    ));
    assert_eq!(tracker.stats().late_replies, 1);
}

#[test]
fn unknown_ids_are_discarded_and_counted() {
    let mut tracker = RequestTracker::starting_at(100);
    let now = Instant::now();
    tracker.start(Request::Ping, RetryPolicy::new(T, 0), now);
    assert_eq!(
        tracker.on_reply(5000, Response::Pong, now),
        ReplyOutcome::Unknown { id: 5000 }
    );
    assert_eq!(tracker.stats().unknown_replies, 1);
    assert_eq!(tracker.in_flight(), 1);
}

#[test]
fn timeout_with_bounded_retries() {
    let mut tracker = RequestTracker::new();
    let t0 = Instant::now();
    let (call, first) = tracker.start(Request::GetTelemetry, RetryPolicy::new(T, 3), t0);
    let mut ids = vec![id_of(&first)];
    let mut now = t0;
    // Nothing expires before the deadline.
    assert!(tracker.expire(t0 + T / 2).is_empty());
    for _ in 0..3 {
        now += T;
        match &tracker.expire(now)[..] {
            [Expired::Resend { call: c, packet }] => {
                assert_eq!(*c, call);
                ids.push(id_of(packet));
            }
            other => panic!("expected a resend, got {other:?}"),
        }
    }
    now += T;
    match &tracker.expire(now)[..] {
        [
            Expired::GaveUp {
                call: c,
                retries,
                after,
                ..
            },
        ] => {
            assert_eq!(*c, call);
            assert_eq!(*retries, 3);
            assert_eq!(*after, 4 * T);
        }
        other => panic!("expected give-up, got {other:?}"),
    }
    ids.dedup();
    assert_eq!(ids.len(), 4, "each attempt has its own id");
    assert!(tracker.expire(now + 10 * T).is_empty());
    let stats = tracker.stats();
    assert_eq!((stats.retries, stats.timeouts), (3, 1));
    // Replies to any attempt are now late.
    for id in ids {
        assert_eq!(
            tracker.on_reply(id, Response::Ack, now),
            ReplyOutcome::Late { id }
        );
    }
}

#[test]
fn reply_to_an_earlier_attempt_answers_the_call() {
    let mut tracker = RequestTracker::new();
    let t0 = Instant::now();
    let (call, first) = tracker.start(Request::Ping, RetryPolicy::new(T, 2), t0);
    assert!(matches!(
        tracker.expire(t0 + T)[..],
        [Expired::Resend { .. }]
    ));
    assert!(matches!(
        tracker.on_reply(id_of(&first), Response::Pong, t0 + T),
        ReplyOutcome::Final { call: c, .. } if c == call
    ));
    assert_eq!(tracker.in_flight(), 0);
}

#[test]
fn non_idempotent_requests_are_not_resent() {
    let mut tracker = RequestTracker::new();
    let t0 = Instant::now();
    for req in [
        Request::CalibrateStart {
            preset: Default::default(),
            max_seconds: 0,
            max_steps: 0,
        },
        Request::BulkCommit { transfer_id: 1 },
        Request::Reboot,
    ] {
        tracker.start(req, RetryPolicy::new(T, 5), t0);
    }
    let expired = tracker.expire(t0 + T);
    assert_eq!(expired.len(), 3);
    assert!(
        expired
            .iter()
            .all(|e| matches!(e, Expired::GaveUp { retries: 0, .. }))
    );
}

#[test]
fn in_progress_extends_the_deadline() {
    let mut tracker = RequestTracker::new();
    let t0 = Instant::now();
    let (call, p) = tracker.start(
        Request::BulkCommit { transfer_id: 4 },
        RetryPolicy::new(T, 0),
        t0,
    );
    let id = id_of(&p);
    let mut now = t0;
    for percent in [10u8, 50, 90] {
        now += T * 9 / 10;
        match tracker.on_reply(
            id,
            Response::InProgress {
                percent,
                stage: protocol::text::truncate("verifying"),
            },
            now,
        ) {
            ReplyOutcome::Progress {
                call: c,
                percent: p,
                ..
            } => {
                assert_eq!((c, p), (call, percent));
            }
            other => panic!("{other:?}"),
        }
        assert!(tracker.expire(now).is_empty());
        assert_eq!(tracker.deadline(call), Some(now + T));
    }
    // Well past the original deadline, the call is still alive and its answer accepted.
    assert!(now > t0 + 2 * T);
    assert!(matches!(
        tracker.on_reply(id, Response::Ack, now),
        ReplyOutcome::Final { .. }
    ));
    assert_eq!(tracker.stats().progress, 3);
}

#[test]
fn cancel_makes_later_replies_late() {
    let mut tracker = RequestTracker::new();
    let now = Instant::now();
    let (call, p) = tracker.start(Request::Ping, RetryPolicy::default(), now);
    assert_eq!(tracker.cancel(call).as_deref(), Some(&Request::Ping));
    assert_eq!(
        tracker.on_reply(id_of(&p), Response::Pong, now),
        ReplyOutcome::Late { id: id_of(&p) }
    );
    assert_eq!(tracker.cancel(CallId(999)), None);
}
