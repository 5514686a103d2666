//! Host-side request bookkeeping: ids, deadlines, retries, and matching replies by id.
//!
//! Each attempt of a call gets a fresh id. A reply to any attempt of a call still in flight
//! answers it (the attempts asked the same thing); a reply whose id belongs to no call in
//! flight is *late* (the call already finished or gave up) or *unknown* (never issued) and is
//! discarded and counted, never taken for the answer to the next request. `InProgress`
//! replies push the deadline out by one timeout. Requests that are not idempotent
//! ([`Request::is_idempotent`]) are never resent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::envelope::Packet;
use crate::messages::{Request, Response};

/// How long to wait for a reply and how often to resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Time allowed per attempt (and per `InProgress` extension).
    pub timeout: Duration,
    /// Resends after the first attempt (ignored for non-idempotent requests).
    pub retries: u32,
}

impl Default for RetryPolicy {
    /// 2 s per attempt, 2 resends.
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(2),
            retries: 2,
        }
    }
}

impl RetryPolicy {
    /// A policy with the given per-attempt timeout and number of resends.
    pub const fn new(timeout: Duration, retries: u32) -> Self {
        RetryPolicy { timeout, retries }
    }
}

/// Identifies one call (all its attempts); it is the id of the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u32);

/// Counters of a [`RequestTracker`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Calls started.
    pub calls: u64,
    /// Resends after a timeout.
    pub retries: u64,
    /// Calls that gave up after their last attempt.
    pub timeouts: u64,
    /// `InProgress` replies seen.
    pub progress: u64,
    /// Replies for calls no longer in flight (discarded).
    pub late_replies: u64,
    /// Replies with ids never issued (discarded).
    pub unknown_replies: u64,
}

/// What a reply meant to the tracker.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyOutcome {
    /// The final answer of a call, which is now finished.
    Final {
        /// The call answered.
        call: CallId,
        /// What was asked.
        request: Box<Request>,
        /// The answer.
        response: Box<Response>,
    },
    /// The call is still running on the device; its deadline was extended.
    Progress {
        /// The call.
        call: CallId,
        /// Rough completion, 0–100.
        percent: u8,
        /// What the device is doing.
        stage: heapless::String<{ crate::messages::response::STAGE_LEN }>,
    },
    /// A reply for a call that already finished or gave up: discarded.
    Late {
        /// Its id.
        id: u32,
    },
    /// A reply with an id this tracker never issued: discarded.
    Unknown {
        /// Its id.
        id: u32,
    },
}

/// What to do about a passed deadline.
#[derive(Debug, Clone, PartialEq)]
pub enum Expired {
    /// Send this packet (the next attempt, with a fresh id).
    Resend {
        /// The call.
        call: CallId,
        /// The packet to send.
        packet: Box<Packet>,
    },
    /// The call is over without an answer.
    GaveUp {
        /// The call.
        call: CallId,
        /// What was asked.
        request: Box<Request>,
        /// Time from the first attempt until giving up.
        after: Duration,
        /// Resends that were made.
        retries: u32,
    },
}

#[derive(Debug)]
struct InFlight {
    request: Box<Request>,
    policy: RetryPolicy,
    started: Instant,
    deadline: Instant,
    retries_done: u32,
    ids: Vec<u32>,
}

/// Allocates request ids and tracks calls in flight (see the module docs).
#[derive(Debug)]
pub struct RequestTracker {
    next_id: u32,
    /// Ids issued so far wrap only after 2^32 requests; `issued_wrapped` keeps late/unknown
    /// classification honest after that.
    issued_wrapped: bool,
    calls: HashMap<CallId, InFlight>,
    by_id: HashMap<u32, CallId>,
    stats: TrackerStats,
}

impl Default for RequestTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestTracker {
    /// A tracker whose first id is 1.
    pub fn new() -> Self {
        Self::starting_at(1)
    }

    /// A tracker whose first id is `first_id` (e.g. random, so a reconnecting host does not
    /// reuse the ids of its previous session).
    pub fn starting_at(first_id: u32) -> Self {
        RequestTracker {
            next_id: first_id,
            issued_wrapped: false,
            calls: HashMap::new(),
            by_id: HashMap::new(),
            stats: TrackerStats::default(),
        }
    }

    fn allocate(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if self.next_id == 0 {
            self.issued_wrapped = true;
        }
        id
    }

    /// Registers a new call and returns its id and the packet to send now.
    pub fn start(
        &mut self,
        request: Request,
        policy: RetryPolicy,
        now: Instant,
    ) -> (CallId, Packet) {
        let id = self.allocate();
        let call = CallId(id);
        let packet = Packet::Request {
            id,
            body: request.clone(),
        };
        self.calls.insert(
            call,
            InFlight {
                request: Box::new(request),
                policy,
                started: now,
                deadline: now + policy.timeout,
                retries_done: 0,
                ids: vec![id],
            },
        );
        self.by_id.insert(id, call);
        self.stats.calls += 1;
        (call, packet)
    }

    /// Classifies a reply and updates the call it belongs to.
    pub fn on_reply(&mut self, id: u32, response: Response, now: Instant) -> ReplyOutcome {
        let Some(&call) = self.by_id.get(&id) else {
            return if self.was_issued(id) {
                self.stats.late_replies += 1;
                ReplyOutcome::Late { id }
            } else {
                self.stats.unknown_replies += 1;
                ReplyOutcome::Unknown { id }
            };
        };
        if let Response::InProgress { percent, stage } = response {
            self.stats.progress += 1;
            if let Some(flight) = self.calls.get_mut(&call) {
                flight.deadline = flight.deadline.max(now + flight.policy.timeout);
            }
            return ReplyOutcome::Progress {
                call,
                percent,
                stage,
            };
        }
        match self.finish(call) {
            Some(flight) => ReplyOutcome::Final {
                call,
                request: flight.request,
                response: Box::new(response),
            },
            // Unreachable: by_id and calls are kept in step. Treat as late rather than panic.
            None => {
                self.stats.late_replies += 1;
                ReplyOutcome::Late { id }
            }
        }
    }

    fn was_issued(&self, id: u32) -> bool {
        // Ids are issued in increasing order from the first id; after a wrap every id counts.
        self.issued_wrapped || id < self.next_id
    }

    fn finish(&mut self, call: CallId) -> Option<InFlight> {
        let flight = self.calls.remove(&call)?;
        for id in &flight.ids {
            self.by_id.remove(id);
        }
        Some(flight)
    }

    /// Abandons a call (e.g. the user interrupted); later replies to it count as late.
    pub fn cancel(&mut self, call: CallId) -> Option<Box<Request>> {
        self.finish(call).map(|f| f.request)
    }

    /// Forgets every call in flight (after the link dropped); returns how many there were.
    pub fn cancel_all(&mut self) -> usize {
        let n = self.calls.len();
        self.calls.clear();
        self.by_id.clear();
        n
    }

    /// The earliest deadline among calls in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.calls.values().map(|f| f.deadline).min()
    }

    /// Deadline of one call, if it is in flight.
    pub fn deadline(&self, call: CallId) -> Option<Instant> {
        self.calls.get(&call).map(|f| f.deadline)
    }

    /// Handles every call whose deadline has passed at `now`: a resend with a fresh id while
    /// retries remain (idempotent requests only), else giving up.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let mut due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        due.sort();
        let mut out = Vec::with_capacity(due.len());
        for call in due {
            let Some(flight) = self.calls.get(&call) else {
                continue;
            };
            let may_retry =
                flight.request.is_idempotent() && flight.retries_done < flight.policy.retries;
            if may_retry {
                let id = self.allocate();
                let Some(flight) = self.calls.get_mut(&call) else {
                    continue;
                };
                flight.retries_done += 1;
                flight.deadline = now + flight.policy.timeout;
                flight.ids.push(id);
                let packet = Box::new(Packet::Request {
                    id,
                    body: (*flight.request).clone(),
                });
                self.by_id.insert(id, call);
                self.stats.retries += 1;
                out.push(Expired::Resend { call, packet });
            } else if let Some(flight) = self.finish(call) {
                self.stats.timeouts += 1;
                out.push(Expired::GaveUp {
                    call,
                    after: now.saturating_duration_since(flight.started),
                    retries: flight.retries_done,
                    request: flight.request,
                });
            }
        }
        out
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }
}
