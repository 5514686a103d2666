//! A blocking client over a [`FramedStream`]: one call at a time, replies matched by id through
//! a [`RequestTracker`], topics queued (or handed to a callback) while waiting, and the bulk
//! pull/push loops with resume.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::bulk::{BulkError, VecReceiver, chunk_data, chunks, object_crc32};
use crate::envelope::Packet;
use crate::handshake::{HandshakeError, Hello};
use crate::io::{FramedStream, LinkError, LinkStats};
use crate::messages::{
    BULK_CHUNK, ConfigChange, ConfigKey, ConfigText, DeviceInfo, LogLevel, Nack, ObjectKind,
    ObjectMeta, Request, Response, Telemetry, Topic,
};
use crate::tracker::{Expired, ReplyOutcome, RequestTracker, RetryPolicy, TrackerStats};

/// Default bound of the topic queue; the oldest topics are dropped (and counted) beyond it.
pub const TOPIC_QUEUE: usize = 1024;

/// A call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No final reply within the timeout, after the resends allowed.
    #[error("no reply to {request} after {after:.1?} ({retries} resends)")]
    Timeout {
        /// Endpoint name of the request.
        request: &'static str,
        /// Time from the first attempt until giving up.
        after: Duration,
        /// Resends made.
        retries: u32,
    },
    /// The link failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The device refused the request.
    #[error(transparent)]
    Nack(#[from] Nack),
    /// The device answered with a response that does not fit the request.
    #[error("unexpected reply to {request}: {}", got.name())]
    Unexpected {
        /// Endpoint name of the request.
        request: &'static str,
        /// What came back.
        got: Box<Response>,
    },
    /// The handshake refused the peer.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// A bulk transfer arrived inconsistent (gap, overrun or checksum mismatch).
    #[error("bulk transfer failed: {0}")]
    Bulk(#[from] BulkError),
    /// A value does not fit its wire field.
    #[error("{what} is longer than the {limit} bytes the protocol allows")]
    TooLong {
        /// Which value.
        what: &'static str,
        /// Its capacity.
        limit: usize,
    },
}

/// Counters of a [`Client`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Link counters.
    pub link: LinkStats,
    /// Request tracker counters (retries, timeouts, late replies).
    pub tracker: TrackerStats,
    /// Topics dropped because the queue was full.
    pub topics_dropped: u64,
    /// Requests received from the peer (a device never sends them; ignored).
    pub stray_requests: u64,
}

/// An object the device offered for reading (`Response::BulkOffer`).
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Id to read with.
    pub transfer_id: u32,
    /// What it is.
    pub kind: ObjectKind,
    /// Total size in bytes.
    pub total_len: u32,
    /// CRC-32 of the whole object.
    pub crc32: u32,
    /// Its description.
    pub meta: ObjectMeta,
}

impl Offer {
    /// A receiver sized and keyed for this object, to pass to [`Client::read_offer`].
    pub fn receiver(&self) -> VecReceiver {
        VecReceiver::new(self.total_len, self.crc32)
    }
}

/// An object pulled from the device.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledObject {
    /// What it is.
    pub kind: ObjectKind,
    /// Its description.
    pub meta: ObjectMeta,
    /// The bytes, CRC-verified.
    pub data: Vec<u8>,
}

type TopicHandler = Box<dyn FnMut(&Topic) + Send>;

/// Blocking request/response client (the host side of the link).
pub struct Client<T> {
    link: FramedStream<T>,
    tracker: RequestTracker,
    policy: RetryPolicy,
    topics: VecDeque<Topic>,
    topic_capacity: usize,
    topics_dropped: u64,
    stray_requests: u64,
    on_topic: Option<TopicHandler>,
    peer: Option<Hello>,
}

impl<T> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("policy", &self.policy)
            .field("queued_topics", &self.topics.len())
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<T: Read + Write> Client<T> {
    /// A client over `link` using `policy` for every call that does not name its own.
    pub fn new(link: FramedStream<T>, policy: RetryPolicy) -> Self {
        Client {
            link,
            tracker: RequestTracker::new(),
            policy,
            topics: VecDeque::new(),
            topic_capacity: TOPIC_QUEUE,
            topics_dropped: 0,
            stray_requests: 0,
            on_topic: None,
            peer: None,
        }
    }

    /// Uses `tracker` (e.g. one starting at a random id) instead of the default.
    pub fn with_tracker(mut self, tracker: RequestTracker) -> Self {
        self.tracker = tracker;
        self
    }

    /// Sends every topic to `handler` as it arrives instead of queueing it.
    pub fn on_topic(&mut self, handler: impl FnMut(&Topic) + Send + 'static) {
        self.on_topic = Some(Box::new(handler));
    }

    /// Bounds the topic queue (default [`TOPIC_QUEUE`]).
    pub fn set_topic_capacity(&mut self, capacity: usize) {
        self.topic_capacity = capacity.max(1);
    }

    /// The default retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Changes the default retry policy.
    pub fn set_policy(&mut self, policy: RetryPolicy) {
        self.policy = policy;
    }

    /// The peer's `Hello`, once [`handshake`](Self::handshake) succeeded.
    pub fn peer(&self) -> Option<&Hello> {
        self.peer.as_ref()
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            link: self.link.stats(),
            tracker: self.tracker.stats(),
            topics_dropped: self.topics_dropped,
            stray_requests: self.stray_requests,
        }
    }

    /// The link.
    pub fn link_mut(&mut self) -> &mut FramedStream<T> {
        &mut self.link
    }

    /// Unwraps the link.
    pub fn into_link(self) -> FramedStream<T> {
        self.link
    }

    /// Sends our `Hello`, checks the device's, and remembers it. A device built from another
    /// message set is refused with [`CallError::Handshake`] naming both versions and hashes.
    pub fn handshake(&mut self, ours: &Hello) -> Result<Hello, CallError> {
        match self.call(Request::Hello(ours.clone()))? {
            Response::Hello(peer) => {
                ours.check(&peer)?;
                self.peer = Some(peer.clone());
                Ok(peer)
            }
            other => Err(unexpected("hello", other)),
        }
    }

    /// Sends `request` and waits for its final response with the default policy. A `Nack` is
    /// returned as [`CallError::Nack`].
    pub fn call(&mut self, request: Request) -> Result<Response, CallError> {
        self.call_with(request, self.policy, |_, _| {})
    }

    /// Like [`call`](Self::call) with an explicit policy and a callback for `InProgress`
    /// replies (`percent`, `stage`).
    pub fn call_with(
        &mut self,
        request: Request,
        policy: RetryPolicy,
        mut on_progress: impl FnMut(u8, &str),
    ) -> Result<Response, CallError> {
        let name = request.name();
        let (call, packet) = self.tracker.start(request, policy, Instant::now());
        if let Err(e) = self.link.send(&packet) {
            self.tracker.cancel(call);
            return Err(e.into());
        }
        loop {
            let now = Instant::now();
            let deadline = self.tracker.deadline(call).unwrap_or(now);
            let wait = deadline.saturating_duration_since(now);
            let received = match self.link.recv(wait) {
                Ok(p) => p,
                Err(e) => {
                    self.tracker.cancel(call);
                    return Err(e.into());
                }
            };
            match received {
                Some(Packet::Response { id, body }) => {
                    match self.tracker.on_reply(id, body, Instant::now()) {
                        ReplyOutcome::Final {
                            call: done,
                            response,
                            ..
                        } if done == call => {
                            return match *response {
                                Response::Nack(nack) => Err(CallError::Nack(nack)),
                                other => Ok(other),
                            };
                        }
                        ReplyOutcome::Progress {
                            call: running,
                            percent,
                            stage,
                        } if running == call => on_progress(percent, &stage),
                        // Late, unknown, or for another call: already counted by the tracker.
                        _ => {}
                    }
                }
                Some(Packet::Topic(topic)) => self.deliver(topic),
                Some(Packet::Request { .. }) => self.stray_requests += 1,
                None => {}
            }
            for expired in self.tracker.expire(Instant::now()) {
                match expired {
                    Expired::Resend { packet, .. } => {
                        if let Err(e) = self.link.send(&packet) {
                            self.tracker.cancel(call);
                            return Err(e.into());
                        }
                    }
                    Expired::GaveUp {
                        call: gone,
                        after,
                        retries,
                        ..
                    } if gone == call => {
                        return Err(CallError::Timeout {
                            request: name,
                            after,
                            retries,
                        });
                    }
                    Expired::GaveUp { .. } => {}
                }
            }
        }
    }

    fn deliver(&mut self, topic: Topic) {
        if let Some(handler) = self.on_topic.as_mut() {
            handler(&topic);
            return;
        }
        if self.topics.len() >= self.topic_capacity {
            self.topics.pop_front();
            self.topics_dropped += 1;
        }
        self.topics.push_back(topic);
    }

    /// The next topic: a queued one, or one arriving within `timeout`. Replies that arrive
    /// meanwhile (late ones) are discarded and counted.
    pub fn next_topic(&mut self, timeout: Duration) -> Result<Option<Topic>, CallError> {
        if let Some(t) = self.topics.pop_front() {
            return Ok(Some(t));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.link.recv(wait)? {
                Some(Packet::Topic(topic)) => {
                    if let Some(handler) = self.on_topic.as_mut() {
                        handler(&topic);
                    }
                    return Ok(Some(topic));
                }
                Some(Packet::Response { id, body }) => {
                    self.tracker.on_reply(id, body, Instant::now());
                }
                Some(Packet::Request { .. }) => self.stray_requests += 1,
                None => return Ok(None),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Takes every queued topic.
    pub fn drain_topics(&mut self) -> Vec<Topic> {
        self.topics.drain(..).collect()
    }

    // --- typed endpoints ---

    /// `auth`: authenticate with the pre-shared token.
    pub fn auth(&mut self, token: &str) -> Result<(), CallError> {
        let token = crate::text::exact(token).ok_or(CallError::TooLong {
            what: "token",
            limit: crate::messages::TOKEN_LEN,
        })?;
        expect_ack("auth", self.call(Request::Auth { token })?)
    }

    /// `ping`: round trip time.
    pub fn ping(&mut self) -> Result<Duration, CallError> {
        let t0 = Instant::now();
        match self.call(Request::Ping)? {
            Response::Pong => Ok(t0.elapsed()),
            other => Err(unexpected("ping", other)),
        }
    }

    /// `info/get`.
    pub fn info(&mut self) -> Result<DeviceInfo, CallError> {
        match self.call(Request::GetInfo)? {
            Response::Info(info) => Ok(info),
            other => Err(unexpected("info/get", other)),
        }
    }

    /// `telemetry/get`.
    pub fn telemetry(&mut self) -> Result<Telemetry, CallError> {
        match self.call(Request::GetTelemetry)? {
            Response::Telemetry(t) => Ok(t),
            other => Err(unexpected("telemetry/get", other)),
        }
    }

    /// `config/get`: the value of `key` as TOML literal text.
    pub fn config_get(&mut self, key: &str) -> Result<ConfigText, CallError> {
        let key = config_key(key)?;
        match self.call(Request::ConfigGet { key })? {
            Response::ConfigValue { value, .. } => Ok(value),
            other => Err(unexpected("config/get", other)),
        }
    }

    /// `config/set`: sets `key` to the TOML literal `value`; returns what the device did (the
    /// value now configured, live or after a restart, saved or not).
    pub fn config_set(&mut self, key: &str, value: &str) -> Result<ConfigChange, CallError> {
        let key = config_key(key)?;
        let value = crate::text::exact(value).ok_or(CallError::TooLong {
            what: "config value",
            limit: crate::messages::CONFIG_VALUE_LEN,
        })?;
        match self.call(Request::ConfigSet { key, value })? {
            Response::ConfigChanged(change) => Ok(change),
            other => Err(unexpected("config/set", other)),
        }
    }

    /// `topics/subscribe` (and `log/subscribe` when `logs` is set).
    pub fn subscribe(
        &mut self,
        heartbeat: bool,
        fit_progress: bool,
        logs: Option<LogLevel>,
    ) -> Result<(), CallError> {
        if let Some(min_level) = logs {
            expect_ack(
                "log/subscribe",
                self.call(Request::LogSubscribe { min_level })?,
            )?;
        }
        let request = Request::SubscribeTopics {
            heartbeat,
            fit_progress,
            logs: logs.is_some(),
        };
        expect_ack("topics/subscribe", self.call(request)?)
    }

    /// Sends `request` (which must answer `BulkOffer`: a snapshot, pattern pull or config
    /// export) and returns the offer.
    pub fn offer(&mut self, request: Request) -> Result<Offer, CallError> {
        let name = request.name();
        match self.call(request)? {
            Response::BulkOffer {
                transfer_id,
                kind,
                total_len,
                crc32,
                meta,
            } => Ok(Offer {
                transfer_id,
                kind,
                total_len,
                crc32,
                meta,
            }),
            other => Err(unexpected(name, other)),
        }
    }

    /// Reads the rest of an offered object into `receiver`, from `receiver.next_offset()` on.
    /// Lost chunks are re-read by the tracker's retries; after a dropped link, call it again
    /// on a new client with the same `receiver` to continue where it stopped (the device keeps
    /// offers for a while). `progress(received, total)` is called after each chunk.
    pub fn read_offer(
        &mut self,
        offer: &Offer,
        receiver: &mut VecReceiver,
        mut progress: impl FnMut(u32, u32),
    ) -> Result<(), CallError> {
        let total_len = offer.total_len;
        while receiver.next_offset() < total_len {
            let offset = receiver.next_offset();
            let len = (total_len - offset).min(BULK_CHUNK as u32) as u16;
            let request = Request::BulkRead {
                transfer_id: offer.transfer_id,
                offset,
                len,
            };
            match self.call(request)? {
                Response::BulkChunk {
                    transfer_id,
                    offset: got,
                    data,
                } if transfer_id == offer.transfer_id && !data.is_empty() => {
                    receiver.write(got, &data)?;
                }
                other => return Err(unexpected("bulk/read", other)),
            }
            progress(receiver.next_offset(), total_len);
        }
        Ok(())
    }

    /// [`offer`](Self::offer) + [`read_offer`](Self::read_offer) + CRC check: the whole object.
    pub fn pull(
        &mut self,
        request: Request,
        progress: impl FnMut(u32, u32),
    ) -> Result<PulledObject, CallError> {
        let offer = self.offer(request)?;
        let mut receiver = offer.receiver();
        self.read_offer(&offer, &mut receiver, progress)?;
        let data = receiver.commit().map_err(|(e, _)| e)?;
        Ok(PulledObject {
            kind: offer.kind,
            meta: offer.meta,
            data,
        })
    }

    /// Uploads `data` as an object of `kind`: `BulkBegin` (the device answers the offset to
    /// resume from when it already holds part of this object), `BulkWrite`s, then `BulkCommit`
    /// with `commit_policy` (commits may take long: firmware verification sends `InProgress`).
    /// `progress(sent, total)` is called after each chunk and `on_stage` for `InProgress`.
    pub fn push(
        &mut self,
        kind: ObjectKind,
        meta: ObjectMeta,
        data: &[u8],
        commit_policy: RetryPolicy,
        mut progress: impl FnMut(u32, u32),
        on_stage: impl FnMut(u8, &str),
    ) -> Result<(), CallError> {
        let total_len = u32::try_from(data.len()).map_err(|_| CallError::TooLong {
            what: "bulk object",
            limit: u32::MAX as usize,
        })?;
        let crc32 = object_crc32(data);
        let begin = Request::BulkBegin {
            kind,
            total_len,
            crc32,
            meta,
        };
        let (transfer_id, resume_offset) = match self.call(begin)? {
            Response::BulkAccepted {
                transfer_id,
                resume_offset,
            } => (transfer_id, resume_offset),
            other => return Err(unexpected("bulk/begin", other)),
        };
        let mut next = resume_offset.min(total_len);
        progress(next, total_len);
        while next < total_len {
            let (offset, chunk) = match chunks(data, next).next() {
                Some(c) => c,
                None => break,
            };
            let write = Request::BulkWrite {
                transfer_id,
                offset,
                data: chunk_data(chunk),
            };
            match self.call(write)? {
                Response::BulkProgress {
                    transfer_id: t,
                    next_offset,
                } if t == transfer_id => {
                    if next_offset <= offset || next_offset > total_len {
                        return Err(CallError::Bulk(BulkError::Gap {
                            offset: next_offset,
                            next_offset: offset,
                        }));
                    }
                    next = next_offset;
                }
                other => return Err(unexpected("bulk/write", other)),
            }
            progress(next, total_len);
        }
        match self.call_with(Request::BulkCommit { transfer_id }, commit_policy, on_stage)? {
            Response::Ack => Ok(()),
            other => Err(unexpected("bulk/commit", other)),
        }
    }
}

fn config_key(key: &str) -> Result<ConfigKey, CallError> {
    crate::text::exact(key).ok_or(CallError::TooLong {
        what: "config key",
        limit: crate::messages::CONFIG_KEY_LEN,
    })
}

fn expect_ack(request: &'static str, response: Response) -> Result<(), CallError> {
    match response {
        Response::Ack => Ok(()),
        other => Err(unexpected(request, other)),
    }
}

fn unexpected(request: &'static str, got: Response) -> CallError {
    CallError::Unexpected {
        request,
        got: Box::new(got),
    }
}
