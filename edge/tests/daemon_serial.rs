//! The link server on a serial port, exercised through a pseudo-terminal pair: the daemon opens
//! the slave side like a UART, the test speaks the protocol on the master side. No token is
//! asked for on serial unless `link.serial.require_token` says so.

#![cfg(unix)]

use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::Daemon;
use protocol::client::Client;
use protocol::io::{FramedStream, POLL_INTERVAL};
use protocol::tracker::RetryPolicy;
use protocol::{Capabilities, Hello};
use serialport::{SerialPort, TTYPort};

#[test]
fn handshake_and_telemetry_over_a_pty() {
    let (mut master, slave) = TTYPort::pair().expect("pseudo-terminal pair");
    let name = slave.name().expect("pty name");
    // The daemon opens the port itself (exclusively, like a real UART).
    drop(slave);
    master.set_timeout(POLL_INTERVAL).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[camera]
source = "sim"
width = 32
height = 24
fps = 50.0
[fit]
fit_on_start = false
[pattern]
store = "{}"
[link.serial]
port = "{name}"
baud = 115200
[link.tcp]
token = "only-for-tcp"
"#,
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let daemon = Daemon::start(cfg).unwrap();
    // The daemon (in this process) opens the port on a thread of its own; until it has, the
    // master side reads as a broken pipe. Wait until one of our descriptors is the port.
    let start = Instant::now();
    while !this_process_has_open(&name) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "daemon never opened {name}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Client::new(
        FramedStream::new(master),
        RetryPolicy {
            timeout: Duration::from_secs(2),
            retries: 3,
        },
    );
    let peer = client
        .handshake(&Hello::new("pty-host", "0", Capabilities::NONE))
        .unwrap();
    assert!(
        !peer.capabilities.contains(Capabilities::AUTH_REQUIRED),
        "the TCP token is not asked for on serial"
    );
    let start = Instant::now();
    while client.telemetry().unwrap().frames_total == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no frames");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(client.config_get("camera.width").unwrap().as_str(), "32");
    daemon.shutdown();
}

#[test]
fn the_serial_link_can_require_the_token() {
    let (mut master, slave) = TTYPort::pair().expect("pseudo-terminal pair");
    let name = slave.name().expect("pty name");
    drop(slave);
    master.set_timeout(POLL_INTERVAL).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = EdgeConfig::from_toml_str(&format!(
        r#"
[camera]
source = "sim"
width = 32
height = 24
fps = 50.0
[fit]
fit_on_start = false
[pattern]
store = "{}"
[link.serial]
port = "{name}"
baud = 115200
require_token = true
[link.tcp]
token = "serial-too"
"#,
        dir.path().join("p.dnp").display()
    ))
    .unwrap();
    let daemon = Daemon::start(cfg).unwrap();
    let start = Instant::now();
    while !this_process_has_open(&name) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "daemon never opened {name}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Client::new(
        FramedStream::new(master),
        RetryPolicy {
            timeout: Duration::from_secs(2),
            retries: 3,
        },
    );
    let peer = client
        .handshake(&Hello::new("pty-host", "0", Capabilities::NONE))
        .unwrap();
    assert!(peer.capabilities.contains(Capabilities::AUTH_REQUIRED));
    match client.telemetry() {
        Err(protocol::client::CallError::Nack(n)) => {
            assert_eq!(n.code, protocol::NackCode::Unauthorized)
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    client.auth("serial-too").unwrap();
    let start = Instant::now();
    while client.telemetry().unwrap().frames_total == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no frames");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.shutdown();
}

/// Whether one of this process's file descriptors is `path` (`/proc/self/fd`).
fn this_process_has_open(path: &str) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .any(|target| target == std::path::Path::new(path))
        })
        .unwrap_or(false)
}
