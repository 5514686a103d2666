//! Test setup: [`TestDaemon`] (a real edge daemon on the simulated camera, in-process, TCP on
//! a free loopback port) and [`dipnuc`] (the real CLI binary, isolated from the user's host
//! config).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use edge::config::EdgeConfig;
use edge::daemon::{Daemon, DaemonHandle, DaemonOptions};
use host::client::{ConnectOptions, Device, Target};

pub const TOKEN: &str = "test-token-123";

/// A running daemon and its work folder.
pub struct TestDaemon {
    pub handle: Option<DaemonHandle>,
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub token: Option<String>,
}

/// The daemon configuration the tests use: 160×120 simulated camera, a fast CPU fit, no
/// automatic refits, TCP on a free port. `extra` is appended TOML (more sections).
pub fn config(dir: &Path, token: Option<&str>, extra: &str) -> EdgeConfig {
    let token_line = token.map(|t| format!("token = {t:?}")).unwrap_or_default();
    let text = format!(
        r#"
[device]
id = "test-sim"
board = "sim"

[camera]
name = "simulated-160x120"
source = "sim"
width = 160
height = 120
fps = 30.0
bit_depth = 14

[fit]
method = "cp-tv"
cpu_method = "cp-tv"
preset = "fast"
device = "cpu"
frames = 4
collect_interval_ms = 100
fit_on_start = false

[fit.budget]
gpu_seconds_per_hour = 3600.0

[fit.triggers]
max_age_s = 0
temp_drift_c = 0.0
roughness_rise = 0.0

[pattern]
store = {store:?}

[link.tcp]
listen = "127.0.0.1:0"
{token_line}
{extra}
"#,
        store = dir.join("pattern.dnp").display().to_string(),
    );
    EdgeConfig::from_toml_str(&text).expect("test config is valid")
}

impl TestDaemon {
    /// Starts a daemon requiring `TOKEN`.
    pub fn start() -> TestDaemon {
        TestDaemon::start_with(Some(TOKEN), "")
    }

    /// Starts a daemon with an optional token and extra TOML.
    pub fn start_with(token: Option<&str>, extra: &str) -> TestDaemon {
        forward_logs();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), token, extra);
        // As the service runs it: link changes saved in the state folder (the temp folder).
        let opts = DaemonOptions {
            overrides_file: Some(cfg.overrides_path()),
            ..DaemonOptions::default()
        };
        let handle = Daemon::start_with(cfg, opts).expect("daemon starts");
        let addr = handle.local_tcp_addr().expect("tcp").to_string();
        let d = TestDaemon {
            handle: Some(handle),
            addr,
            dir,
            token: token.map(String::from),
        };
        d.wait_for_frames();
        d
    }

    pub fn options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new(Target::Tcp(self.addr.clone()));
        o.token = self.token.clone();
        o
    }

    pub fn device(&self) -> Device {
        Device::connect(&self.options()).expect("connect")
    }

    /// Waits until the camera delivered a frame (snapshots need one).
    fn wait_for_frames(&self) {
        let start = Instant::now();
        let core = self.handle.as_ref().unwrap().core().clone();
        while core.latest_frame().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no frame from the simulator"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A `dipnuc` command aimed at this daemon.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = dipnuc();
        c.args(args).args(["--tcp", &self.addr]);
        if let Some(t) = &self.token {
            c.args(["--token", t]);
        }
        c
    }

    /// Runs a fit through the library and waits for it.
    pub fn fit(&self) {
        let mut dev = self.device();
        dev.subscribe_fit().unwrap();
        let id = dev.calibrate_start(&Default::default()).unwrap();
        let never = std::sync::atomic::AtomicBool::new(false);
        let end = dev
            .follow_fit(id, Duration::from_secs(60), &never, |_| {})
            .unwrap();
        assert!(host::client::fit_completed(&end), "{end:?}");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

/// Installs the daemon's log forwarding layer (as `dipnuc-edge` does), so the log topic
/// carries the in-process daemon's `tracing` events.
fn forward_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::registry()
            .with(edge::log_forward::LogForwardLayer::new(
                tracing::Level::INFO,
            ))
            .try_init();
    });
}

/// The `dipnuc` binary with no user host config and no token in the environment.
pub fn dipnuc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dipnuc"));
    c.env("DIPNUC_HOST_CONFIG", "/nonexistent/dipnuc-test-host.toml")
        .env_remove("DIPNUC_TOKEN")
        .env_remove("RUST_LOG");
    c
}

/// Finished command: stdout, stderr, exit code.
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

pub fn run(cmd: &mut Command) -> Ran {
    let out: Output = cmd.output().expect("dipnuc runs");
    Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs and asserts success; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let r = run(cmd);
    assert_eq!(
        r.code, 0,
        "failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// Runs and asserts exit code `code`; returns stderr.
pub fn fails(cmd: &mut Command, code: i32) -> String {
    let r = run(cmd);
    assert_eq!(
        r.code, code,
        "expected exit {code}:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r.stderr
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}
