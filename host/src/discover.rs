//! Finding devices on the local network: browses mDNS/DNS-SD for `_dipnuc._tcp` (what every
//! edge with `[discovery] enabled = true` announces) and reads each answer's TXT record
//! (`edge::discovery::txt`). Pure Rust (`mdns-sd`), no Avahi needed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use edge::discovery::{SERVICE_TYPE, txt};
use mdns_sd::{ServiceDaemon, ServiceEvent};
use serde::{Deserialize, Serialize};

/// Why browsing failed (not: "nothing found", which is an empty list).
#[derive(Debug, thiserror::Error)]
#[error("mDNS browse: {0}")]
pub struct DiscoverError(String);

impl From<mdns_sd::Error> for DiscoverError {
    fn from(e: mdns_sd::Error) -> Self {
        DiscoverError(e.to_string())
    }
}

/// A device that answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    /// The DNS-SD instance name (the device id unless configured otherwise).
    pub name: String,
    /// Device id (TXT `id`).
    pub device_id: String,
    /// Firmware version it runs (TXT `fw`).
    pub firmware_version: String,
    /// Board (TXT `board`).
    pub board: String,
    /// Camera (TXT `camera`).
    pub camera: String,
    /// Its mDNS host name.
    pub host: String,
    /// Addresses it announced, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// TCP port of its link.
    pub port: u16,
    /// `ADDRESS:PORT` to connect to (`--tcp`), from the first address.
    pub tcp: String,
    /// Whether the link requires a token.
    pub auth: bool,
    /// Port of its Prometheus endpoint, when it has one.
    pub metrics_port: Option<u16>,
}

fn socket_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Browses for up to `timeout`, or until `expect` devices have answered; returns them sorted
/// by name.
pub fn browse(timeout: Duration, expect: Option<usize>) -> Result<Vec<Discovered>, DiscoverError> {
    let daemon = ServiceDaemon::new()?;
    let events = daemon.browse(SERVICE_TYPE)?;
    let deadline = Instant::now() + timeout;
    let mut found: BTreeMap<String, Discovered> = BTreeMap::new();
    while expect.is_none_or(|n| found.len() < n) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s)) => {
                let prop = |k: &str| s.get_property_val_str(k).unwrap_or_default().to_string();
                let mut addresses: Vec<IpAddr> =
                    s.get_addresses().iter().map(|a| a.to_ip_addr()).collect();
                addresses.sort_by_key(|a| (a.is_ipv6(), *a));
                let Some(first) = addresses.first().copied() else {
                    continue;
                };
                let name = s
                    .fullname
                    .strip_suffix(&format!(".{SERVICE_TYPE}"))
                    .unwrap_or(&s.fullname)
                    .replace("\\", "");
                found.insert(
                    s.fullname.clone(),
                    Discovered {
                        name,
                        device_id: prop(txt::ID),
                        firmware_version: prop(txt::FIRMWARE),
                        board: prop(txt::BOARD),
                        camera: prop(txt::CAMERA),
                        host: s.host.clone(),
                        tcp: socket_text(first, s.port),
                        addresses,
                        port: s.port,
                        auth: prop(txt::AUTH) == "1",
                        metrics_port: prop(txt::METRICS).parse().ok(),
                    },
                );
            }
            Ok(ServiceEvent::ServiceRemoved(_, fullname)) => {
                found.remove(&fullname);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.stop_browse(SERVICE_TYPE);
    if let Ok(rx) = daemon.shutdown() {
        let _ = rx.recv_timeout(Duration::from_secs(1));
    }
    let mut list: Vec<Discovered> = found.into_values().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}
