//! [`EdgeProcess`]: the real `dipnuc-edge` binary as a child process, with its output in a log
//! file, optionally under a stand-in service manager (notify socket and watchdog), readiness
//! detection (a full host handshake over TCP), SIGTERM / SIGKILL, and the
//! memory and liveness probes the crash and load tests need. Dropping it kills the daemon.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use host::client::Device;

use crate::edge_binary::edge_binary;
use crate::edge_setup::EdgeSetup;
use crate::service_manager::NotifySocket;

/// The launcher the systemd unit runs (it picks the active firmware slot).
pub const LAUNCHER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../boards/systemd/dipnuc-edge-launch"
);

/// A running daemon.
#[derive(Debug)]
pub struct EdgeProcess {
    child: Child,
    log_path: PathBuf,
    setup: EdgeSetup,
}

/// How a daemon process is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// The freshly built binary, directly.
    Direct,
    /// Through `boards/systemd/dipnuc-edge-launch`, like the service: the active A/B slot's
    /// binary, or the built binary when the slot holds none.
    Launcher,
}

impl EdgeProcess {
    /// Writes the setup's config, starts the built binary and waits until a host can connect.
    pub fn start(setup: &EdgeSetup) -> anyhow::Result<EdgeProcess> {
        EdgeProcess::start_as(setup, Launch::Direct)
    }

    /// Like [`EdgeProcess::start`], choosing how the binary is found.
    pub fn start_as(setup: &EdgeSetup, launch: Launch) -> anyhow::Result<EdgeProcess> {
        let mut p = EdgeProcess::spawn(setup, launch)?;
        p.wait_ready(Duration::from_secs(20))?;
        Ok(p)
    }

    /// Starts the built binary as systemd would with `WatchdogSec=watchdog`: `NOTIFY_SOCKET`
    /// names `notify` and `WATCHDOG_USEC` is set; then waits until a host can connect.
    pub fn start_supervised(
        setup: &EdgeSetup,
        notify: &NotifySocket,
        watchdog: Duration,
    ) -> anyhow::Result<EdgeProcess> {
        let mut p = EdgeProcess::spawn_in(setup, Launch::Direct, Some((notify.path(), watchdog)))?;
        p.wait_ready(Duration::from_secs(20))?;
        Ok(p)
    }

    /// Starts without waiting for readiness.
    pub fn spawn(setup: &EdgeSetup, launch: Launch) -> anyhow::Result<EdgeProcess> {
        EdgeProcess::spawn_in(setup, launch, None)
    }

    /// Starts without waiting, outside a service manager or under one (its notify socket and
    /// watchdog interval).
    fn spawn_in(
        setup: &EdgeSetup,
        launch: Launch,
        service: Option<(&Path, Duration)>,
    ) -> anyhow::Result<EdgeProcess> {
        let config = setup.write().context("writing the daemon config")?;
        let log_path = setup.log_path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut cmd = match launch {
            Launch::Direct => Command::new(edge_binary()),
            Launch::Launcher => {
                let mut c = Command::new("sh");
                c.arg(LAUNCHER)
                    .env("DIPNUC_SLOTS", setup.slots_dir())
                    .env("DIPNUC_EDGE_BASE", edge_binary());
                c
            }
        };
        cmd.arg("--config")
            .arg(&config)
            .arg("--log")
            .arg("info")
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        if let Some((socket, watchdog)) = service {
            cmd.env("NOTIFY_SOCKET", socket)
                .env("WATCHDOG_USEC", watchdog.as_micros().to_string());
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().context("starting dipnuc-edge")?;
        Ok(EdgeProcess {
            child,
            log_path,
            setup: setup.clone(),
        })
    }

    /// Waits until the daemon answers a handshake on TCP; fails early when it exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let opts = self
            .setup
            .tcp_options()
            .with_timeouts(Duration::from_millis(500), Duration::from_millis(500));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "dipnuc-edge exited during start-up ({status}); log:\n{}",
                    self.log_tail(40)
                );
            }
            match Device::connect(&opts) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > timeout => bail!(
                    "dipnuc-edge not reachable on {} after {timeout:?}: {e}; log:\n{}",
                    self.setup.tcp_addr(),
                    self.log_tail(40)
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `timeout` for a clean exit (SIGKILL after it).
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        match self.wait_exit(timeout) {
            Some(s) => Ok(s),
            None => {
                self.kill9();
                bail!(
                    "dipnuc-edge did not stop within {timeout:?} of SIGTERM; log:\n{}",
                    self.log_tail(30)
                )
            }
        }
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory of the daemon, KiB (`VmRSS` in /proc).
    pub fn vm_rss_kib(&self) -> Option<u64> {
        vm_rss_kib(self.pid())
    }

    /// The daemon's whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The setup it was started with.
    pub fn setup(&self) -> &EdgeSetup {
        &self.setup
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        if self.is_running() {
            self.kill9();
        }
    }
}

/// `VmRSS` of a process in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
