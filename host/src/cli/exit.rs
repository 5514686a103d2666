//! Exit codes (documented in `dipnuc --help`): what kind of failure ended the command, so
//! scripts can tell "device unreachable" from "device said no".

use host::client::ClientError;

/// The device refused the request, or the operation failed on the device.
pub const DEVICE: u8 = 1;
/// Bad usage or a local problem (arguments, files).
pub const USAGE: u8 = 2;
/// The device could not be reached (no device, timeout, dropped link).
pub const COMMS: u8 = 3;
/// The handshake was refused (protocol mismatch, bad or missing token).
pub const HANDSHAKE: u8 = 4;
/// Interrupted with Ctrl-C (a running fit was aborted on the device).
pub const INTERRUPTED: u8 = 130;

/// The help text listing the codes.
pub const HELP: &str = "Exit codes:
  0    success
  1    the device refused the request or the operation failed on the device;
       with --fleet: any device failed (see its row)
  2    usage error or local problem (arguments, files)
  3    the device could not be reached (no device, timeout, dropped link)
  4    the handshake was refused (protocol mismatch, bad or missing token)
  130  interrupted (Ctrl-C; a running fit is aborted on the device)";

/// A failure that carries its own exit code (e.g. a fit that failed on the device).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What happened.
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// The exit code for an error chain: the first client error or [`Failure`] in it decides.
pub fn code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.code;
        }
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return match c {
                ClientError::Comms(_) => COMMS,
                ClientError::Device(_) => DEVICE,
                ClientError::Handshake(_) => HANDSHAKE,
                ClientError::Invalid(_) => USAGE,
            };
        }
    }
    USAGE
}
