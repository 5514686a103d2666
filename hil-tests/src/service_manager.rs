//! The service manager's side of a daemon under test, as systemd runs it: [`UnitSettings`]
//! are the watchdog and restart settings of `boards/systemd/dipnuc-edge.service`, read from
//! the unit file itself; [`NotifySocket`] is the datagram socket `NOTIFY_SOCKET` names, where
//! every `sd_notify` message the daemon sends (`READY=1`, `WATCHDOG=1`, `STATUS=...`) is kept
//! with the time it arrived, so a test can judge the watchdog the way systemd would.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The unit file the Debian package installs.
pub const UNIT_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../boards/systemd/dipnuc-edge.service"
);

/// What systemd does with the daemon, from the unit's `[Unit]` and `[Service]` sections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitSettings {
    /// `WatchdogSec=`: killed when no `WATCHDOG=1` arrives for this long.
    pub watchdog: Duration,
    /// `RestartSec=`: pause before a restart.
    pub restart: Duration,
    /// `StartLimitBurst=`: starts allowed per `StartLimitIntervalSec=` before the unit fails.
    pub start_limit_burst: u32,
    /// `StartLimitIntervalSec=`.
    pub start_limit_interval: Duration,
}

impl UnitSettings {
    /// The settings of the packaged unit ([`UNIT_FILE`]).
    pub fn packaged() -> anyhow::Result<UnitSettings> {
        UnitSettings::load(Path::new(UNIT_FILE))
    }

    /// Reads the settings from a unit file; each must be there.
    pub fn load(path: &Path) -> anyhow::Result<UnitSettings> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let get = |key: &str| -> anyhow::Result<&str> {
            text.lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::trim)
                .with_context(|| format!("{}: no {key}=", path.display()))
        };
        let secs = |key: &str| -> anyhow::Result<Duration> {
            let v = get(key)?;
            parse_timespan(v).with_context(|| format!("{}: {key}={v}", path.display()))
        };
        Ok(UnitSettings {
            watchdog: secs("WatchdogSec")?,
            restart: secs("RestartSec")?,
            start_limit_burst: get("StartLimitBurst")?
                .parse()
                .with_context(|| format!("{}: StartLimitBurst", path.display()))?,
            start_limit_interval: secs("StartLimitIntervalSec")?,
        })
    }

    /// The same settings with every duration divided by `factor` (accelerated time).
    pub fn scaled(&self, factor: u32) -> UnitSettings {
        UnitSettings {
            watchdog: self.watchdog / factor,
            restart: self.restart / factor,
            start_limit_interval: self.start_limit_interval / factor,
            ..*self
        }
    }

    /// How long a daemon that is killed by the watchdog at every start takes to exhaust
    /// `StartLimitBurst` (the unit is then `failed`): each start lives `WatchdogSec` and waits
    /// `RestartSec` before the next.
    pub fn time_to_fail_when_never_fed(&self) -> Duration {
        (self.watchdog + self.restart) * self.start_limit_burst
    }
}

/// A systemd time span as units use it here: `10`, `10s`, `500ms`, `5min`.
fn parse_timespan(v: &str) -> anyhow::Result<Duration> {
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits.trim().parse().context("not a number of seconds")?;
    Ok(match &v[digits.len()..] {
        "" | "s" | "sec" => Duration::from_secs(n),
        "ms" | "msec" => Duration::from_millis(n),
        "min" | "m" => Duration::from_secs(n * 60),
        other => bail!("unit {other:?} not understood"),
    })
}

/// One message the daemon sent, with its arrival time.
#[derive(Debug, Clone)]
pub struct Notice {
    /// When it arrived.
    pub at: Instant,
    /// The message (`READY=1`, `WATCHDOG=1`, `STATUS=...`), one assignment per line.
    pub text: String,
}

impl Notice {
    /// Whether the message sets `key` (e.g. `WATCHDOG=1` for `("WATCHDOG", "1")`).
    pub fn has(&self, key: &str, value: &str) -> bool {
        self.text
            .lines()
            .any(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')) == Some(value))
    }

    /// The value the message gives `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

type Log = Arc<(Mutex<Vec<Notice>>, Condvar)>;

/// The notification socket of a daemon under test (see the module docs). Dropping it stops
/// the receiving thread.
#[derive(Debug)]
pub struct NotifySocket {
    path: PathBuf,
    log: Log,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NotifySocket {
    /// Binds `dir/notify.sock` and starts recording.
    pub fn bind(dir: &Path) -> anyhow::Result<NotifySocket> {
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path)
            .with_context(|| format!("binding notify socket {}", path.display()))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let log: Log = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::Builder::new()
                .name("notify-socket".into())
                .spawn(move || {
                    let mut buf = vec![0u8; 4096];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok(n) = sock.recv(&mut buf) {
                            let notice = Notice {
                                at: Instant::now(),
                                text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                            };
                            let (messages, arrived) = &*log;
                            messages.lock().unwrap().push(notice);
                            arrived.notify_all();
                        }
                    }
                })?
        };
        Ok(NotifySocket {
            path,
            log,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket path (what `NOTIFY_SOCKET` is set to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message so far, in arrival order.
    pub fn notices(&self) -> Vec<Notice> {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until a message satisfies `pred` (also one that arrived before the call).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Notice) -> bool) -> Option<Notice> {
        let (messages, arrived) = &*self.log;
        let deadline = Instant::now() + timeout;
        let mut m = messages.lock().unwrap();
        loop {
            if let Some(n) = m.iter().find(|n| pred(n)) {
                return Some(n.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            m = arrived.wait_timeout(m, left).unwrap().0;
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What systemd's watchdog made of a run: the longest silence between `READY=1` or a
/// `WATCHDOG=1` and the next `WATCHDOG=1` (or `until`), how many silences reached `WatchdogSec`
/// (each a kill), and what systemd would have done about them: a silence of `s` kills the
/// daemon after `WatchdogSec`, and a restarted one that stays silent again after each
/// `RestartSec` + `WatchdogSec`; `StartLimitBurst` restarts leave the unit `failed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchdogVerdict {
    /// `WATCHDOG=1` messages received.
    pub pings: usize,
    /// The longest silence, and when it began.
    pub longest_silence: Duration,
    pub longest_silence_from: Option<Instant>,
    /// Silences of `WatchdogSec` or more.
    pub expiries: usize,
    /// Restarts systemd would have made.
    pub restarts: u32,
    /// Whether the unit would have ended `failed`.
    pub unit_failed: bool,
}

/// Judges `notices` against the unit's settings from the first `READY=1` until `until`, as
/// systemd does: the watchdog runs from readiness and is reset by every `WATCHDOG=1`.
pub fn judge_watchdog(notices: &[Notice], unit: &UnitSettings, until: Instant) -> WatchdogVerdict {
    let ready = notices.iter().position(|n| n.has("READY", "1"));
    let mut marks: Vec<Instant> = match ready {
        Some(i) => std::iter::once(notices[i].at)
            .chain(
                notices[i + 1..]
                    .iter()
                    .filter(|n| n.has("WATCHDOG", "1"))
                    .map(|n| n.at),
            )
            .collect(),
        None => Vec::new(),
    };
    let pings = marks.len().saturating_sub(1);
    if !marks.is_empty() {
        marks.push(until.max(*marks.last().expect("not empty")));
    }
    let (mut longest, mut expiries, mut restarts) = (Duration::ZERO, 0, 0u32);
    let mut longest_from = None;
    for w in marks.windows(2) {
        let silence = w[1] - w[0];
        if silence >= longest {
            (longest, longest_from) = (silence, Some(w[0]));
        }
        if silence >= unit.watchdog {
            expiries += 1;
            let after_first = (silence - unit.watchdog).as_secs_f64();
            let cycle = (unit.restart + unit.watchdog).as_secs_f64();
            restarts += 1 + (after_first / cycle) as u32;
        }
    }
    WatchdogVerdict {
        pings,
        longest_silence: longest,
        longest_silence_from: longest_from,
        expiries,
        restarts,
        unit_failed: restarts >= unit.start_limit_burst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_unit_has_every_setting() {
        let u = UnitSettings::packaged().unwrap();
        assert!(u.watchdog > Duration::ZERO && u.start_limit_burst > 0);
        assert_eq!(u.scaled(10).watchdog, u.watchdog / 10);
    }

    #[test]
    fn time_spans_and_missing_keys() {
        assert_eq!(parse_timespan("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timespan("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_timespan("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timespan("5min").unwrap(), Duration::from_secs(300));
        assert!(parse_timespan("soon").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.service");
        std::fs::write(&p, "[Service]\nWatchdogSec=10\nRestartSec=2\n").unwrap();
        let e = UnitSettings::load(&p).unwrap_err().to_string();
        assert!(e.contains("StartLimitBurst"), "{e}");
    }

    #[test]
    fn silences_are_judged_from_readiness() {
        let t0 = Instant::now();
        let n = |ms: u64, text: &str| Notice {
            at: t0 + Duration::from_millis(ms),
            text: text.into(),
        };
        let log = [
            n(0, "WATCHDOG=1"), // before READY: not counted
            n(100, "READY=1\nSTATUS=capturing"),
            n(600, "WATCHDOG=1"),
            n(1900, "WATCHDOG=1"),
            n(2000, "STATUS=camera absent"),
        ];
        let unit = UnitSettings {
            watchdog: Duration::from_secs(1),
            restart: Duration::from_millis(200),
            start_limit_burst: 10,
            start_limit_interval: Duration::from_secs(30),
        };
        let v = judge_watchdog(&log, &unit, t0 + Duration::from_millis(2500));
        assert_eq!((v.pings, v.expiries, v.restarts), (2, 1, 1));
        assert_eq!(v.longest_silence, Duration::from_millis(1300));
        assert!(!v.unit_failed);
        assert_eq!(log[4].get("STATUS"), Some("camera absent"));
        // Silent for 13.5 s after READY: killed at 1 s, then every 1.2 s: 11 restarts, failed.
        let v = judge_watchdog(&log[1..2], &unit, t0 + Duration::from_millis(13_600));
        assert_eq!((v.pings, v.expiries, v.restarts), (0, 1, 11));
        assert!(v.unit_failed);
    }
}
