//! The link server on a serial port, exercised through a pseudo-terminal pair: the daemon opens
//! the slave side like a UART, the test speaks the protocol on the master side. No token is
//! asked for on serial unless `link.serial.require_token` says so.

#![cfg(unix)]

use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::{Daemon, DaemonHandle};
use protocol::client::Client;
use protocol::io::{FramedStream, POLL_INTERVAL};
use protocol::tracker::RetryPolicy;
use protocol::{Capabilities, Hello};
use serialport::{SerialPort, TTYPort};

/// A daemon on the simulated 32×24 camera serving the slave side of a fresh pty pair, with
/// `link` appended to its config, and a client on the master side that has done the
/// handshake; the daemon's `Hello` comes with it.
fn serve_on_a_pty(link: &str) -> (DaemonHandle, Client<TTYPort>, Hello, tempfile::TempDir) {
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
{}
"#,
        dir.path().join("p.dnp").display(),
        link.replace("{name}", &name)
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
    (daemon, client, peer, dir)
}

/// Waits until telemetry counts a frame.
fn wait_for_frames(client: &mut Client<TTYPort>) {
    let start = Instant::now();
    while client.telemetry().unwrap().frames_total == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no frames");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn handshake_and_telemetry_over_a_pty() {
    let (daemon, mut client, peer, _dir) = serve_on_a_pty(
        r#"
[link.serial]
port = "{name}"
baud = 115200
[link.tcp]
token = "only-for-tcp"
"#,
    );
    assert!(
        !peer.capabilities.contains(Capabilities::AUTH_REQUIRED),
        "the TCP token is not asked for on serial"
    );
    wait_for_frames(&mut client);
    assert_eq!(client.config_get("camera.width").unwrap().as_str(), "32");
    daemon.shutdown();
}

#[test]
fn the_serial_link_can_require_the_token() {
    let (daemon, mut client, peer, _dir) = serve_on_a_pty(
        r#"
[link.serial]
port = "{name}"
baud = 115200
require_token = true
[link.tcp]
token = "serial-too"
"#,
    );
    assert!(peer.capabilities.contains(Capabilities::AUTH_REQUIRED));
    match client.telemetry() {
        Err(protocol::client::CallError::Nack(n)) => {
            assert_eq!(n.code, protocol::NackCode::Unauthorized)
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    client.auth("serial-too").unwrap();
    wait_for_frames(&mut client);
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
