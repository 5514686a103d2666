//! What can go wrong talking to a device, split the way a caller reacts to it:
//! [`ClientError::Comms`] (the link: no device, timeout, dropped connection — retry or check
//! the cable), [`ClientError::Device`] (the device refused: a `Nack` naming the key or reason —
//! fix the request), [`ClientError::Handshake`] (wrong device, protocol or token — fix the
//! setup), and [`ClientError::Invalid`] (the request could not even be formed here).

use std::time::Duration;

use protocol::client::CallError;
use protocol::io::LinkError;
use protocol::{HandshakeError, Nack, NackCode};

/// A failure of the link itself.
#[derive(Debug, thiserror::Error)]
pub enum CommsError {
    /// Nothing answers at the address or port (connection refused, no such serial port).
    #[error("no device at {target}: {reason}")]
    NoDevice {
        /// `tcp 127.0.0.1:7700` or `serial /dev/ttyUSB0`.
        target: String,
        /// What the operating system said, with a hint.
        reason: String,
    },
    /// The device did not answer in time.
    #[error("{target}: no reply to {request} within {after:.1?} ({retries} resends){hint}")]
    Timeout {
        /// Where we were talking to.
        target: String,
        /// The endpoint that got no answer.
        request: &'static str,
        /// How long we waited in total.
        after: Duration,
        /// Resends made.
        retries: u32,
        /// Extra advice (e.g. for a silent peer during the handshake).
        hint: &'static str,
    },
    /// The link failed while in use (closed by the peer, I/O error).
    #[error("{target}: {source}")]
    Link {
        /// Where we were talking to.
        target: String,
        /// The link error.
        #[source]
        source: LinkError,
    },
    /// The device answered something that does not fit the request, or a transfer arrived
    /// inconsistent (the bug is on one of the two sides).
    #[error("{target}: protocol error: {detail}")]
    Protocol {
        /// Where we were talking to.
        target: String,
        /// What was wrong.
        detail: String,
    },
}

/// Why the connection was refused during the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailure {
    /// The device speaks another protocol version or message set.
    #[error("{target}: {source}")]
    Incompatible {
        /// Where we were talking to.
        target: String,
        /// Both versions and hashes.
        #[source]
        source: HandshakeError,
    },
    /// The device refused our `Hello` itself (it checked the versions first).
    #[error("{target}: the device refused this host's protocol: {detail}")]
    Refused {
        /// Where we were talking to.
        target: String,
        /// The device's reason.
        detail: String,
    },
    /// The token was refused.
    #[error(
        "{target}: the device refused the token ({detail}); check --token, DIPNUC_TOKEN or \
         `token` in {config}"
    )]
    BadToken {
        /// Where we were talking to.
        target: String,
        /// The device's reason.
        detail: String,
        /// The host config file that may hold the token.
        config: String,
    },
    /// The device requires a token and none was given.
    #[error(
        "{target}: the device requires a token; pass --token, set DIPNUC_TOKEN or put \
         `token = \"…\"` in {config}"
    )]
    TokenRequired {
        /// Where we were talking to.
        target: String,
        /// The host config file that may hold the token.
        config: String,
    },
}

/// Any failure of a device call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The link failed.
    #[error(transparent)]
    Comms(#[from] CommsError),
    /// The device refused the request; the detail names the key or reason.
    #[error(transparent)]
    Device(Nack),
    /// The handshake failed (wrong protocol, bad or missing token). Boxed: it carries both
    /// ends' identities and would make every `Result` of the client large.
    #[error(transparent)]
    Handshake(Box<HandshakeFailure>),
    /// The request cannot be sent as given (too long for its wire field, bad local input).
    #[error("{0}")]
    Invalid(String),
}

impl From<HandshakeFailure> for ClientError {
    fn from(e: HandshakeFailure) -> Self {
        ClientError::Handshake(Box::new(e))
    }
}

impl ClientError {
    /// The device's refusal code, when the device refused.
    pub fn nack_code(&self) -> Option<NackCode> {
        match self {
            ClientError::Device(n) => Some(n.code),
            _ => None,
        }
    }

    /// True for link failures after which reconnecting may help (dropped, timed out).
    pub fn is_link_drop(&self) -> bool {
        matches!(
            self,
            ClientError::Comms(CommsError::Link { .. } | CommsError::Timeout { .. })
        )
    }

    /// Maps a protocol call error, naming the target.
    pub(crate) fn from_call(e: CallError, target: &str) -> ClientError {
        let target = target.to_string();
        match e {
            CallError::Timeout {
                request,
                after,
                retries,
            } => CommsError::Timeout {
                target,
                request,
                after,
                retries,
                hint: "",
            }
            .into(),
            CallError::Link(source) => CommsError::Link { target, source }.into(),
            CallError::Nack(n) => ClientError::Device(n),
            CallError::Unexpected { request, got } => CommsError::Protocol {
                target,
                detail: format!("unexpected reply to {request}: {}", got.name()),
            }
            .into(),
            CallError::Handshake(source) => {
                HandshakeFailure::Incompatible { target, source }.into()
            }
            CallError::Bulk(b) => CommsError::Protocol {
                target,
                detail: format!("bulk transfer failed: {b}"),
            }
            .into(),
            CallError::TooLong { what, limit } => ClientError::Invalid(format!(
                "{what} is longer than the {limit} bytes the protocol allows"
            )),
        }
    }
}

/// Result of a device call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
