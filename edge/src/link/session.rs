//! [`Session`]: the protocol of one connection (TCP or serial). Until the peer's `Hello` is
//! compatible and, where the transport asks for it, the token presented, it answers nothing
//! but `Hello` and `Auth`. Then it answers the link's own requests (ping, bulk transfers,
//! subscriptions, the frame stream, whose frames the backend supplies) and hands every other
//! request to the [`LinkBackend`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use protocol::{Nack, NackCode, Request, Response};
use tracing::{info, warn};

use super::auth::AuthGate;
use super::backend::{LinkBackend, Reply};
use super::subscriptions::Subscriptions;
use super::transfers::{Transfers, UploadRefused};

/// What the connection does after sending the final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing.
    Nothing,
    /// Restart the daemon (reboot, firmware switch).
    Restart,
}

/// One connection's state.
pub struct Session {
    backend: Arc<dyn LinkBackend>,
    transfers: Arc<Transfers>,
    auth: AuthGate,
    compatible: Option<bool>,
    subs: Arc<Subscriptions>,
    peer: String,
}

/// A refusal.
pub fn nack(code: NackCode, detail: impl AsRef<str>) -> Response {
    Response::Nack(Nack::new(code, detail.as_ref()))
}

impl Session {
    /// A session with `backend` behind it; `transfers` is shared by every connection (a
    /// transfer survives a dropped link); `peer` names the peer in logs.
    pub fn new(
        backend: Arc<dyn LinkBackend>,
        transfers: Arc<Transfers>,
        auth: AuthGate,
        peer: String,
    ) -> Session {
        Session {
            backend,
            transfers,
            auth,
            compatible: None,
            subs: Arc::new(Subscriptions::default()),
            peer,
        }
    }

    /// The subscriptions, shared with the topic sender.
    pub fn subscriptions(&self) -> &Arc<Subscriptions> {
        &self.subs
    }

    /// The device behind the link.
    pub fn backend(&self) -> &Arc<dyn LinkBackend> {
        &self.backend
    }

    /// Who the peer is (for logs).
    pub fn peer(&self) -> &str {
        &self.peer
    }

    fn update_open(&self) {
        let open = self.auth.open() && self.compatible == Some(true);
        self.subs.open.store(open, Ordering::Relaxed);
        if !open && self.subs.frames.used() {
            // A gate closed again (wrong token, incompatible Hello) ends the frame stream too.
            self.subs.frames.set(None);
        }
    }

    /// Answers one request. `interim` sends `InProgress` answers for long operations.
    pub fn handle(&mut self, req: Request, interim: &mut dyn FnMut(Response)) -> (Response, After) {
        match req {
            Request::Hello(peer) => {
                let ours = self.backend.hello(self.auth.required());
                let ok = ours.check(&peer);
                if let Err(e) = &ok {
                    warn!(peer = %self.peer, error = %e, "link handshake refused");
                }
                self.compatible = Some(ok.is_ok());
                self.update_open();
                // Our Hello goes back either way: the host names both versions in its error.
                return (Response::Hello(ours), After::Nothing);
            }
            Request::Auth { token } => {
                let resp = if !self.auth.required() {
                    Response::Ack
                } else if self.auth.present(&token) {
                    info!(peer = %self.peer, "link client authenticated");
                    Response::Ack
                } else {
                    warn!(peer = %self.peer, "link client presented a wrong token");
                    nack(NackCode::Unauthorized, "wrong token")
                };
                self.update_open();
                return (resp, After::Nothing);
            }
            _ => {}
        }
        if !self.auth.open() {
            return (
                nack(
                    NackCode::Unauthorized,
                    "authenticate first (Auth with the device's token)",
                ),
                After::Nothing,
            );
        }
        match self.compatible {
            None => (
                nack(NackCode::BadRequest, "send Hello first"),
                After::Nothing,
            ),
            Some(false) => (
                nack(
                    NackCode::VersionMismatch,
                    "protocol mismatch; see the Hello exchange",
                ),
                After::Nothing,
            ),
            Some(true) => self.dispatch(req, interim),
        }
    }

    fn dispatch(&mut self, req: Request, interim: &mut dyn FnMut(Response)) -> (Response, After) {
        let r = match req {
            Request::Ping => Response::Pong,
            Request::BulkRead {
                transfer_id,
                offset,
                len,
            } => match self.transfers.read(transfer_id, offset, len) {
                None => nack(NackCode::NotFound, format!("no transfer {transfer_id}")),
                Some(Err(e)) => nack(NackCode::BadRequest, e),
                Some(Ok(bytes)) => Response::BulkChunk {
                    transfer_id,
                    offset,
                    data: protocol::bulk::chunk_data(&bytes),
                },
            },
            Request::BulkBegin {
                kind,
                total_len,
                crc32,
                meta,
            } => match self.transfers.begin(kind, total_len, crc32, meta) {
                Ok((transfer_id, resume_offset)) => Response::BulkAccepted {
                    transfer_id,
                    resume_offset,
                },
                Err(e @ UploadRefused::Busy) => nack(NackCode::Busy, e.to_string()),
                Err(e @ UploadRefused::TooLarge { .. }) => nack(NackCode::TooLarge, e.to_string()),
                Err(e @ UploadRefused::Unsupported(_)) => {
                    nack(NackCode::Unsupported, e.to_string())
                }
            },
            Request::BulkWrite {
                transfer_id,
                offset,
                data,
            } => match self.transfers.write(transfer_id, offset, &data) {
                None => nack(NackCode::NotFound, format!("no upload {transfer_id}")),
                Some(Err(e)) => Response::Nack(e.to_nack()),
                Some(Ok(next_offset)) => Response::BulkProgress {
                    transfer_id,
                    next_offset,
                },
            },
            Request::BulkCommit { transfer_id } => {
                match self.transfers.take_complete(transfer_id) {
                    None => nack(NackCode::NotFound, format!("no upload {transfer_id}")),
                    Some(Err(e)) => Response::Nack(e.to_nack()),
                    Some(Ok(upload)) => {
                        let reply = self.backend.apply_upload(upload, interim);
                        return self.deliver(reply);
                    }
                }
            }
            Request::BulkStatus { transfer_id } => match self.transfers.status(transfer_id) {
                Some(next_offset) => Response::BulkProgress {
                    transfer_id,
                    next_offset,
                },
                None => nack(NackCode::NotFound, format!("no transfer {transfer_id}")),
            },
            Request::BulkCancel { transfer_id } => {
                if self.transfers.cancel(transfer_id) {
                    Response::Ack
                } else {
                    nack(NackCode::NotFound, format!("no transfer {transfer_id}"))
                }
            }
            Request::LogSubscribe { min_level } => {
                self.subs.subscribe_logs(min_level);
                Response::Ack
            }
            Request::SubscribeTopics {
                heartbeat,
                fit_progress,
                logs,
            } => {
                self.subs.choose(heartbeat, fit_progress, logs);
                Response::Ack
            }
            Request::FrameSubscribe { kind, max_fps } => {
                // This link's earlier stream goes first, so it does not count against the limit.
                self.subs.frames.set(None);
                match self.backend.open_frame_stream(kind, max_fps) {
                    Ok((stream, opened)) => {
                        info!(peer = %self.peer, stream = stream.id, ?kind,
                              max_fps = stream.max_fps, "frame stream opened");
                        self.subs.frames.set(Some(stream));
                        Response::StreamOpened(opened)
                    }
                    Err(refused) => Response::Nack(refused),
                }
            }
            Request::FrameUnsubscribe => {
                self.subs.frames.set(None);
                Response::Ack
            }
            other => {
                let reply = self.backend.answer(other, interim);
                return self.deliver(reply);
            }
        };
        (r, After::Nothing)
    }

    fn deliver(&mut self, reply: Reply) -> (Response, After) {
        match reply {
            Reply::Answer(r) => (r, After::Nothing),
            Reply::AnswerThenRestart(r) => {
                info!(peer = %self.peer, "restarting after this answer");
                (r, After::Restart)
            }
            Reply::Offer { kind, bytes, meta } => {
                let (transfer_id, total_len, crc32) =
                    self.transfers.offer(kind, bytes, meta.clone());
                (
                    Response::BulkOffer {
                        transfer_id,
                        kind,
                        total_len,
                        crc32,
                        meta,
                    },
                    After::Nothing,
                )
            }
        }
    }
}
