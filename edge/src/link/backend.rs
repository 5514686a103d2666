//! [`LinkBackend`]: what the link needs from the device behind it. The link owns the protocol
//! (handshake, token gate, bulk transfers, subscriptions, sending the frame stream);
//! everything a request means for the device is the backend's. The daemon implements it;
//! tests can drive a session with their own.

use protocol::{
    FrameKind, Hello, Nack, ObjectKind, ObjectMeta, Request, Response, StreamOpened, Telemetry,
};

use super::transfers::CompleteUpload;
use crate::events::EventBus;
use crate::frame_topic::FrameStream;

/// What the backend answers.
pub enum Reply {
    /// Send this response.
    Answer(Response),
    /// Offer an object for reading: the link keeps it and answers `BulkOffer`.
    Offer {
        /// What it is.
        kind: ObjectKind,
        /// Its bytes.
        bytes: Vec<u8>,
        /// Its description.
        meta: ObjectMeta,
    },
    /// Send this response, then restart the daemon (reboot, firmware switch).
    AnswerThenRestart(Response),
}

/// The device behind the link.
pub trait LinkBackend: Send + Sync + 'static {
    /// The device's `Hello`; `auth_required` says whether this connection asks for `Auth`.
    fn hello(&self, auth_required: bool) -> Hello;

    /// Answers a request of an authenticated, compatible peer: any request but the link's own
    /// (`Hello`, `Auth`, `Ping`, the `Bulk*` transfers, the subscriptions). `interim` sends
    /// `InProgress` answers during long operations.
    fn answer(&self, req: Request, interim: &mut dyn FnMut(Response)) -> Reply;

    /// Applies a complete, checksum-verified upload (pattern push, config import, firmware).
    fn apply_upload(&self, upload: CompleteUpload, interim: &mut dyn FnMut(Response)) -> Reply;

    /// Telemetry for the heartbeat topic.
    fn heartbeat(&self) -> Telemetry;

    /// The events the fit-progress, fit-done and log topics are made from.
    fn events(&self) -> &EventBus;

    /// Opens a frame stream (`FrameSubscribe`) of `kind` at up to `max_fps`: the stream (which
    /// the connection's frame sender drains) and the answer describing it, or the refusal.
    fn open_frame_stream(
        &self,
        kind: FrameKind,
        max_fps: f32,
    ) -> Result<(FrameStream, StreamOpened), Nack>;

    /// A connection opened (`true`) or closed (`false`): the device counts its link clients.
    fn connection_changed(&self, open: bool);

    /// Whether the daemon is stopping (connections end).
    fn stopping(&self) -> bool;

    /// Restarts the daemon (after an `AnswerThenRestart` answer went out).
    fn restart(&self);
}
