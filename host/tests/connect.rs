//! Each connection failure gives its own clear error and exit code.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use protocol::io::FramedStream;
use protocol::{Capabilities, Hello, Packet, ProtocolVersion, Request, Response};

use crate::util::{TOKEN, TestDaemon, dipnuc, fails, json, ok};

#[test]
fn refused_connection_names_the_address() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let err = fails(dipnuc().args(["status", "--tcp", &addr]), 3);
    assert!(
        err.contains(&addr) && err.contains("connection refused"),
        "{err}"
    );
}

#[test]
fn silent_listener_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Accepts and then says nothing, until the CLI has given up.
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let _ = wait_done.recv();
        drop(s);
    });
    let err = fails(
        dipnuc().args(["info", "--tcp", &addr, "--timeout", "0.5"]),
        3,
    );
    done.send(()).unwrap();
    assert!(err.contains("no reply to hello"), "{err}");
    assert!(err.contains("dipnuc-edge link"), "{err}");
    t.join().unwrap();
}

#[test]
fn bad_and_missing_token_are_refused() {
    let d = TestDaemon::start();
    let err = fails(
        dipnuc().args(["status", "--tcp", &d.addr, "--token", "wrong"]),
        4,
    );
    assert!(err.contains("refused the token"), "{err}");
    let err = fails(dipnuc().args(["status", "--tcp", &d.addr]), 4);
    assert!(err.contains("requires a token"), "{err}");
    // From the environment, then from the host config file.
    ok(dipnuc()
        .args(["status", "--tcp", &d.addr])
        .env("DIPNUC_TOKEN", TOKEN));
    let cfg = d.path("host.toml");
    std::fs::write(&cfg, format!("token = {TOKEN:?}\ntcp = {:?}\n", d.addr)).unwrap();
    let out = ok(dipnuc()
        .args(["info", "--json"])
        .env("DIPNUC_HOST_CONFIG", &cfg));
    assert_eq!(json(&out)["device_id"], "test-sim");
}

#[test]
fn protocol_mismatch_names_both_versions() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // A peer built from another protocol: answers Hello with version 9.3 and another hash, and
    // keeps the connection open until the CLI has read it.
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut link = FramedStream::tcp(s).unwrap();
        while let Ok(p) = link.recv(Duration::from_secs(5)) {
            if let Some(Packet::Request {
                id,
                body: Request::Hello(_),
            }) = p
            {
                let mut hello = Hello::new("future-device", "9.3.0", Capabilities::NONE);
                hello.protocol_version = ProtocolVersion { major: 9, minor: 3 };
                hello.schema_hash ^= 0xdead_beef;
                let reply = Packet::Response {
                    id,
                    body: Response::Hello(hello),
                };
                link.send(&reply).unwrap();
                link.get_mut().flush().unwrap();
                let _ = wait_done.recv();
                return;
            }
        }
    });
    let err = fails(dipnuc().args(["info", "--tcp", &addr]), 4);
    done.send(()).unwrap();
    assert!(err.contains("protocol mismatch"), "{err}");
    assert!(
        err.contains(&format!("protocol {}", protocol::PROTOCOL_VERSION))
            && err.contains("protocol 9.3"),
        "{err}"
    );
    t.join().unwrap();
}

#[test]
fn missing_serial_port_is_no_device() {
    let err = fails(dipnuc().args(["info", "--port", "/dev/ttyDIPNUC-none"]), 3);
    assert!(
        err.contains("/dev/ttyDIPNUC-none") && err.contains("no such serial port"),
        "{err}"
    );
}

#[test]
fn no_target_is_a_usage_error() {
    let err = fails(dipnuc().args(["status"]), 2);
    assert!(err.contains("--tcp"), "{err}");
}
