//! [`Supervised`]: a daemon kept running the way the systemd unit keeps it (`Restart=
//! on-failure`): started through the service launcher, and started again whenever it exits
//! non-zero (exit 75 after a firmware install or a rollback), until the test drops it. Fleet
//! rollouts restart devices without the test's help, so this stands in for systemd.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::edge_process::{EdgeProcess, Launch};
use crate::edge_setup::EdgeSetup;

/// A daemon under supervision; dropping it stops the supervisor and kills the daemon.
pub struct Supervised {
    process: Arc<Mutex<EdgeProcess>>,
    stop: Arc<AtomicBool>,
    restarts: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Starts the daemon through the launcher, waits until it answers, and supervises it.
    pub fn start(setup: &EdgeSetup) -> anyhow::Result<Supervised> {
        let first = EdgeProcess::start_as(setup, Launch::Launcher)?;
        let process = Arc::new(Mutex::new(first));
        let stop = Arc::new(AtomicBool::new(false));
        let restarts = Arc::new(AtomicU64::new(0));
        let thread = {
            let (process, stop, restarts) = (process.clone(), stop.clone(), restarts.clone());
            let setup = setup.clone();
            std::thread::Builder::new()
                .name("supervisor".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                        let mut p = process.lock().unwrap_or_else(|e| e.into_inner());
                        let Some(status) = p.wait_exit(Duration::ZERO) else {
                            continue;
                        };
                        if status.success() || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        // systemd waits RestartSec; a short pause is enough here.
                        std::thread::sleep(Duration::from_millis(200));
                        match EdgeProcess::spawn(&setup, Launch::Launcher) {
                            Ok(next) => {
                                *p = next;
                                restarts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("supervisor: cannot restart the daemon: {e:#}");
                                break;
                            }
                        }
                    }
                })?
        };
        Ok(Supervised {
            process,
            stop,
            restarts,
            thread: Some(thread),
        })
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// The daemon's log (every run appends to it).
    pub fn log_tail(&self, n: usize) -> String {
        self.process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log_tail(n)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kill9();
    }
}
