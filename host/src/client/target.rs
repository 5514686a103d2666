//! Where a device is and how to reach it: [`Target`] (TCP address or serial port) and
//! [`ConnectOptions`] (token, timeouts).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Default serial baud rate (the edge's `link.serial.baud` default).
pub const DEFAULT_BAUD: u32 = 115_200;

/// How to reach a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// TCP, `HOST:PORT`.
    Tcp(String),
    /// A serial port (UART, USB CDC, pseudo-terminal) at a baud rate.
    Serial {
        /// Device path, e.g. `/dev/ttyUSB0`.
        port: String,
        /// Baud rate.
        baud: u32,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "tcp {addr}"),
            Target::Serial { port, baud } => write!(f, "serial {port} @ {baud} baud"),
        }
    }
}

/// Everything needed to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Where the device is.
    pub target: Target,
    /// Pre-shared token (required by TCP devices that configure one).
    pub token: Option<String>,
    /// Time allowed to open the connection and for the handshake reply.
    pub connect_timeout: Duration,
    /// Time allowed for each reply after the handshake.
    pub request_timeout: Duration,
    /// Resends of an idempotent request before giving up.
    pub retries: u32,
    /// The host config file the token may come from (named in token errors).
    pub config_file: Option<PathBuf>,
}

impl ConnectOptions {
    /// Defaults for `target`: 3 s to connect, 3 s per reply, 2 resends, no token.
    pub fn new(target: Target) -> Self {
        ConnectOptions {
            target,
            token: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(3),
            retries: 2,
            config_file: None,
        }
    }

    /// With this token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// With these timeouts (connect + handshake, and each later reply).
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    pub(crate) fn config_name(&self) -> String {
        match &self.config_file {
            Some(p) => p.display().to_string(),
            None => "the host config file".into(),
        }
    }
}
