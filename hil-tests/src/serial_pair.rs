//! [`SerialPair`]: a serial line between two pseudo-terminals, for running the serial link
//! without hardware. Two pty pairs (`serialport::TTYPort::pair`) are bridged master to master
//! by two threads, so both ends have a path: the daemon opens [`SerialPair::edge_port`]
//! (`link.serial.port`) and the host opens [`SerialPair::host_port`], each exactly as it would
//! open a UART. The slave handles are kept open so the masters never see a hang-up while a
//! side reopens its port.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

/// Two pty pairs and the bridge between them; stops when dropped.
pub struct SerialPair {
    edge_port: String,
    host_port: String,
    stop: Arc<AtomicBool>,
    bridged: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
    _slaves: (TTYPort, TTYPort),
}

impl SerialPair {
    /// Opens both pty pairs and starts the bridge.
    pub fn open() -> serialport::Result<SerialPair> {
        let (edge_master, edge_slave) = TTYPort::pair()?;
        let (host_master, host_slave) = TTYPort::pair()?;
        let name = |p: &TTYPort| p.name().unwrap_or_default();
        let (edge_port, host_port) = (name(&edge_slave), name(&host_slave));
        let stop = Arc::new(AtomicBool::new(false));
        let bridged = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for (mut from, to) in [
            (
                edge_master.try_clone_native()?,
                host_master.try_clone_native()?,
            ),
            (
                host_master.try_clone_native()?,
                edge_master.try_clone_native()?,
            ),
        ] {
            from.set_timeout(Duration::from_millis(20))?;
            let (stop, bridged) = (stop.clone(), bridged.clone());
            let mut to = to;
            threads.push(
                std::thread::Builder::new()
                    .name("pty-bridge".into())
                    .spawn(move || {
                        let mut buf = [0u8; 4096];
                        while !stop.load(Ordering::Relaxed) {
                            match from.read(&mut buf) {
                                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_ok() {
                                        bridged.fetch_add(n as u64, Ordering::Relaxed);
                                    }
                                }
                                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                                // EIO while no side has the slave open: wait for it.
                                Err(_) => std::thread::sleep(Duration::from_millis(10)),
                            }
                        }
                    })
                    .map_err(|e| {
                        serialport::Error::new(serialport::ErrorKind::Io(e.kind()), e.to_string())
                    })?,
            );
        }
        drop((edge_master, host_master));
        Ok(SerialPair {
            edge_port,
            host_port,
            stop,
            bridged,
            threads,
            _slaves: (edge_slave, host_slave),
        })
    }

    /// The path the daemon opens (`link.serial.port`).
    pub fn edge_port(&self) -> &str {
        &self.edge_port
    }

    /// The path the host opens.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// Bytes carried across the bridge so far (both directions).
    pub fn bytes_bridged(&self) -> u64 {
        self.bridged.load(Ordering::Relaxed)
    }
}

impl Drop for SerialPair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
