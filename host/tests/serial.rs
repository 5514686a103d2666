//! The serial transport: the daemon serves one pseudo-terminal, `dipnuc --port` opens
//! another, and a relay joins their master sides (a null-modem cable in software).

use std::io::{Read, Write};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use crate::util::{TestDaemon, json, ok};

fn relay(mut a: TTYPort, mut b: TTYPort) {
    a.set_timeout(Duration::from_millis(10)).unwrap();
    b.set_timeout(Duration::from_millis(10)).unwrap();
    let (mut a2, mut b2) = (a.try_clone_native().unwrap(), b.try_clone_native().unwrap());
    std::thread::spawn(move || copy(&mut a, &mut b));
    std::thread::spawn(move || copy(&mut b2, &mut a2));
}

/// Copies bytes for the rest of the test process. A master reads EIO while nobody has its
/// slave open (between the CLI's runs), so errors are waited out, not fatal.
fn copy(from: &mut TTYPort, to: &mut TTYPort) {
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(n) if n > 0 => {
                let _ = to.write_all(&buf[..n]);
            }
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn info_status_and_snapshot_over_a_serial_port() {
    let (daemon_master, daemon_slave) = TTYPort::pair().expect("pty pair");
    let (host_master, host_slave) = TTYPort::pair().expect("pty pair");
    let daemon_port = daemon_slave.name().unwrap();
    let host_port = host_slave.name().unwrap();
    // The daemon and the CLI open the slave paths themselves.
    drop(daemon_slave);
    drop(host_slave);
    relay(daemon_master, host_master);
    let extra = format!("[link.serial]\nport = {daemon_port:?}\nbaud = 115200\n");
    let d = TestDaemon::start_with(None, &extra);
    // The daemon (in this process) opens its port on a thread of its own: wait until it has.
    let start = std::time::Instant::now();
    while !this_process_has_open(&daemon_port) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "daemon never opened {daemon_port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = json(&ok(
        crate::util::dipnuc().args(["info", "--json", "--port", &host_port])
    ));
    assert_eq!(info["device_id"], "test-sim");
    let status =
        json(&ok(crate::util::dipnuc().args([
            "status", "--json", "--port", &host_port, "--baud", "115200",
        ])));
    assert!(status["telemetry"]["frames_total"].as_u64().unwrap() > 0);
    let out = d.path("serial.png");
    ok(crate::util::dipnuc().args([
        "snapshot",
        "--kind",
        "raw",
        "--out",
        out.to_str().unwrap(),
        "--port",
        &host_port,
    ]));
    assert_eq!(image::open(&out).unwrap().width(), 160);
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
