//! The real `dipnuc-edge` binary: `--check-config` names a bad key; with a simulated camera it
//! serves the link on the configured port, stops cleanly on SIGTERM (exit 0) and exits with 75
//! ("restart me") after a `Reboot` request.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protocol::client::Client;
use protocol::io::FramedStream;
use protocol::tracker::RetryPolicy;
use protocol::{Capabilities, Hello, Request, Response};

const BIN: &str = env!("CARGO_BIN_EXE_dipnuc-edge");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("edge.toml");
    std::fs::write(
        &path,
        format!(
            "[camera]\nsource = \"sim\"\nwidth = 32\nheight = 24\nfps = 30.0\n[fit]\nfit_on_start = false\n\
             [pattern]\nstore = \"{}\"\n[link.tcp]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.join("p.dnp").display()
        ),
    )
    .unwrap();
    path
}

fn spawn(config: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn connect(port: u16) -> Client<TcpStream> {
    let start = Instant::now();
    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "daemon not listening: {e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let mut c = Client::new(FramedStream::tcp(stream).unwrap(), RetryPolicy::default());
    c.handshake(&Hello::new("bin-test", "0", Capabilities::NONE))
        .unwrap();
    c
}

fn wait_exit(child: &mut Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "daemon did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.toml");
    std::fs::write(
        &path,
        "[camera]\nsource = \"sim\"\n[correction]\noffset = 70000\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("correction.offset: must be"), "{err}");
}

#[test]
fn serves_the_link_and_stops_on_sigterm_or_restarts_on_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);

    let mut child = spawn(&config);
    let mut c = connect(port);
    let start = Instant::now();
    while c.telemetry().unwrap().frames_total == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no frames");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_exit(&mut child), 0, "clean stop on SIGTERM");

    let mut child = spawn(&config);
    let mut c = connect(port);
    assert_eq!(c.call(Request::Reboot).unwrap(), Response::Ack);
    assert_eq!(wait_exit(&mut child), 75, "restart requested");
}
