//! Announcing the device on the local network: mDNS/DNS-SD service `_dipnuc._tcp` (what
//! `dipnuc discover` browses), through `mdns-sd` (pure Rust, its own thread, no Avahi).
//!
//! The service points at the TCP link. Its TXT record carries the device id (`id`), firmware
//! version (`fw`), board (`board`) and camera (`camera`), whether the link wants a token
//! (`auth`) and the metrics port when there is one (`metrics`). It is announced where the link
//! can be reached: on every interface when the link listens on `0.0.0.0`/`::`, on the one
//! interface of the address otherwise (loopback included, for a board-local agent and tests).
//! Dropping the [`Announcer`] says goodbye, so browsers forget the device at once.

use std::net::SocketAddr;
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use tracing::{debug, info};

/// The DNS-SD service type of a dipnuc edge link.
pub const SERVICE_TYPE: &str = "_dipnuc._tcp.local.";

/// The TXT keys, as `dipnuc discover` reads them.
pub mod txt {
    /// Device id (`device.id`).
    pub const ID: &str = "id";
    /// Firmware version running.
    pub const FIRMWARE: &str = "fw";
    /// Board name (`device.board`).
    pub const BOARD: &str = "board";
    /// Camera name (`camera.name`).
    pub const CAMERA: &str = "camera";
    /// `1` when the link requires a token.
    pub const AUTH: &str = "auth";
    /// Port of the Prometheus endpoint, when enabled.
    pub const METRICS: &str = "metrics";
}

/// Why the device could not be announced.
#[derive(Debug, thiserror::Error)]
#[error("mDNS announcement: {0}")]
pub struct DiscoveryError(String);

impl From<mdns_sd::Error> for DiscoveryError {
    fn from(e: mdns_sd::Error) -> Self {
        DiscoveryError(e.to_string())
    }
}

/// The running announcement; dropping it withdraws it.
pub struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
}

/// A DNS label from free text: ASCII letters, digits and `-`, at most 63 bytes.
fn dns_label(s: &str) -> String {
    let label: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let label = label.trim_matches('-').to_string();
    if label.is_empty() {
        "dipnuc".into()
    } else {
        label
    }
}

/// What the device announces.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// DNS-SD instance name (`discovery.instance`, or the device id).
    pub instance: String,
    /// Device id.
    pub device_id: String,
    /// Firmware version running.
    pub firmware: String,
    /// Board name.
    pub board: String,
    /// Camera name.
    pub camera: String,
    /// Whether the TCP link asks for the token.
    pub auth: bool,
    /// The address the TCP link is bound to.
    pub tcp: SocketAddr,
    /// The address the metrics endpoint is bound to, if any.
    pub metrics: Option<SocketAddr>,
}

impl Announcer {
    /// Announces `a` until the returned announcer is dropped.
    pub fn start(a: &Announcement) -> Result<Announcer, DiscoveryError> {
        let mut props = vec![
            (txt::ID, a.device_id.clone()),
            (txt::FIRMWARE, a.firmware.clone()),
            (txt::BOARD, a.board.clone()),
            (txt::CAMERA, a.camera.clone()),
            (txt::AUTH, if a.auth { "1" } else { "0" }.to_string()),
        ];
        if let Some(m) = a.metrics {
            props.push((txt::METRICS, m.port().to_string()));
        }
        let (instance, tcp) = (&a.instance, a.tcp);
        let host = format!("{}.local.", dns_label(instance));
        let daemon = ServiceDaemon::new()?;
        let ip = tcp.ip();
        let service = if ip.is_unspecified() {
            ServiceInfo::new(SERVICE_TYPE, instance, &host, "", tcp.port(), &props[..])?
                .enable_addr_auto()
        } else {
            // Only where the link is reachable.
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Addr(ip))?;
            ServiceInfo::new(SERVICE_TYPE, instance, &host, ip, tcp.port(), &props[..])?
        };
        let fullname = service.get_fullname().to_string();
        daemon.register(service)?;
        info!(service = %fullname, %tcp, "announced over mDNS");
        Ok(Announcer { daemon, fullname })
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        // Goodbye packets first (they go out from the daemon's thread), then stop it.
        if let Ok(rx) = self.daemon.unregister(&self.fullname) {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
        debug!(service = %self.fullname, "mDNS announcement withdrawn");
    }
}

#[cfg(test)]
mod tests {
    use super::dns_label;

    #[test]
    fn labels_are_dns_safe() {
        assert_eq!(dns_label("cam 01/north"), "cam-01-north");
        assert_eq!(dns_label("..."), "dipnuc");
        assert_eq!(dns_label(&"x".repeat(80)).len(), 63);
    }
}
