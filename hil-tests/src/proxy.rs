//! [`FaultProxy`]: a TCP proxy between the host and the edge that drops, duplicates, corrupts
//! and delays bytes and cuts connections mid-transfer, driven by a seeded RNG (a failing run is
//! reproduced by its seed) and bounded (at most `max_faults_per_connection` faults on one
//! connection and `max_cuts` cuts in all), so a transfer that reconnects eventually gets
//! through. It counts what it did ([`FaultCounts`]) for the test output.
//!
//! Faults are applied per chunk the proxy reads (at most 4 KiB): each chunk independently may be
//! corrupted (one to three bit flips), lose a run of bytes, have a run repeated, or be held back
//! a few milliseconds. Order is kept, as on a real byte stream.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the proxy does to the bytes it forwards. Probabilities are per forwarded chunk, in
/// thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// Chance that a chunk has one to three bits flipped.
    pub corrupt_per_mille: u32,
    /// Chance that a run of 1..=32 bytes of a chunk is lost.
    pub drop_per_mille: u32,
    /// Chance that a run of 1..=32 bytes of a chunk is sent twice.
    pub duplicate_per_mille: u32,
    /// Chance that a chunk is held back 1..=`max_delay_ms`.
    pub delay_per_mille: u32,
    /// Longest hold-back.
    pub max_delay_ms: u64,
    /// Cut a connection after a number of bytes (both directions together) drawn from this
    /// range; `None` = never.
    pub cut_after_bytes: Option<(u64, u64)>,
    /// Faults (not counting delays) on one connection before it is left alone.
    pub max_faults_per_connection: u32,
    /// Cuts over the proxy's life.
    pub max_cuts: u32,
}

impl FaultPlan {
    /// Forwards everything unchanged.
    pub const CLEAN: FaultPlan = FaultPlan {
        corrupt_per_mille: 0,
        drop_per_mille: 0,
        duplicate_per_mille: 0,
        delay_per_mille: 0,
        max_delay_ms: 0,
        cut_after_bytes: None,
        max_faults_per_connection: 0,
        max_cuts: 0,
    };

    /// A noisy link: corruption, loss, duplication and delays, no cuts.
    pub fn noisy() -> FaultPlan {
        FaultPlan {
            corrupt_per_mille: 15,
            drop_per_mille: 10,
            duplicate_per_mille: 10,
            delay_per_mille: 30,
            max_delay_ms: 15,
            cut_after_bytes: None,
            max_faults_per_connection: 12,
            max_cuts: 0,
        }
    }

    /// A link that also breaks mid-transfer.
    pub fn noisy_with_cuts(after: (u64, u64), max_cuts: u32) -> FaultPlan {
        FaultPlan {
            cut_after_bytes: Some(after),
            max_cuts,
            ..FaultPlan::noisy()
        }
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes forwarded (after faults).
    pub bytes_forwarded: u64,
    /// Bytes with at least one flipped bit.
    pub bytes_corrupted: u64,
    /// Bytes lost.
    pub bytes_dropped: u64,
    /// Bytes sent twice.
    pub bytes_duplicated: u64,
    /// Chunks held back.
    pub delays: u64,
    /// Connections cut.
    pub cuts: u64,
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections={} bytes_forwarded={} bytes_corrupted={} bytes_dropped={} \
             bytes_duplicated={} delays={} cuts={}",
            self.connections,
            self.bytes_forwarded,
            self.bytes_corrupted,
            self.bytes_dropped,
            self.bytes_duplicated,
            self.delays,
            self.cuts
        )
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    forwarded: AtomicU64,
    corrupted: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    delays: AtomicU64,
    cuts: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    seed: u64,
    plan: Mutex<FaultPlan>,
    counters: Counters,
    stop: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

/// One proxied connection: both sockets and its fault budget.
struct Conn {
    host: TcpStream,
    edge: TcpStream,
    bytes: AtomicU64,
    faults: AtomicU32,
    cut_at: Option<u64>,
    cut: AtomicBool,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` under `plan`.
    pub fn start(upstream: SocketAddr, seed: u64, plan: FaultPlan) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            seed,
            plan: Mutex::new(plan),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(listener, s))?;
        Ok(FaultProxy {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address hosts connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the plan (applies to bytes forwarded from now on; new connections draw their
    /// cut point from it).
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.plan.lock().expect("plan lock") = plan;
    }

    /// Cuts every open connection now (counted as cuts).
    pub fn cut_all(&self) {
        let mut live = self.shared.live.lock().expect("live lock");
        for s in live.drain(..) {
            if s.shutdown(Shutdown::Both).is_ok() {
                self.shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts so far.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.shared.counters;
        FaultCounts {
            connections: c.connections.load(Ordering::Relaxed),
            bytes_forwarded: c.forwarded.load(Ordering::Relaxed),
            bytes_corrupted: c.corrupted.load(Ordering::Relaxed),
            bytes_dropped: c.dropped.load(Ordering::Relaxed),
            bytes_duplicated: c.duplicated.load(Ordering::Relaxed),
            delays: c.delays.load(Ordering::Relaxed),
            cuts: c.cuts.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.cut_all();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut index: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((host, _)) => {
                index += 1;
                if let Err(e) = start_conn(&shared, host, index) {
                    eprintln!("fault proxy: connection {index}: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => {
                eprintln!("fault proxy: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn start_conn(shared: &Arc<Shared>, host: TcpStream, index: u64) -> std::io::Result<()> {
    host.set_nonblocking(false)?;
    let edge = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(2))?;
    for s in [&host, &edge] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(50)))?;
    }
    shared.counters.connections.fetch_add(1, Ordering::Relaxed);
    let plan = *shared.plan.lock().expect("plan lock");
    let mut rng = StdRng::seed_from_u64(shared.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let cuts_left = shared.counters.cuts.load(Ordering::Relaxed) < u64::from(plan.max_cuts);
    let cut_at = match plan.cut_after_bytes {
        Some((lo, hi)) if cuts_left && hi >= lo => Some(rng.gen_range(lo..=hi)),
        _ => None,
    };
    {
        let mut live = shared.live.lock().expect("live lock");
        live.retain(|s| s.peer_addr().is_ok());
        live.push(host.try_clone()?);
        live.push(edge.try_clone()?);
    }
    let conn = Arc::new(Conn {
        host,
        edge,
        bytes: AtomicU64::new(0),
        faults: AtomicU32::new(0),
        cut_at,
        cut: AtomicBool::new(false),
    });
    for (dir, up) in [(0u64, true), (1, false)] {
        let (conn, shared) = (conn.clone(), shared.clone());
        let seed = rng.r#gen::<u64>() ^ dir;
        std::thread::Builder::new()
            .name(format!("fault-proxy-{index}-{dir}"))
            .spawn(move || pump(&conn, &shared, up, StdRng::seed_from_u64(seed)))?;
    }
    Ok(())
}

/// Forwards one direction: host → edge when `up`, edge → host otherwise.
fn pump(conn: &Conn, shared: &Shared, up: bool, mut rng: StdRng) {
    let (mut from, mut to) = match (conn.host.try_clone(), conn.edge.try_clone()) {
        (Ok(h), Ok(e)) if up => (h, e),
        (Ok(h), Ok(e)) => (e, h),
        _ => return,
    };
    let c = &shared.counters;
    let mut buf = vec![0u8; 4096];
    loop {
        if shared.stop.load(Ordering::Relaxed) || conn.cut.load(Ordering::Relaxed) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                break;
            }
        };
        let plan = *shared.plan.lock().expect("plan lock");
        let mut chunk = buf[..n].to_vec();
        let total = conn.bytes.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if let Some(at) = conn.cut_at
            && total >= at
        {
            // Forward what came before the cut point, then break the connection both ways.
            let keep = n - (total - at).min(n as u64) as usize;
            let _ = to.write_all(&chunk[..keep]);
            c.forwarded.fetch_add(keep as u64, Ordering::Relaxed);
            if !conn.cut.swap(true, Ordering::Relaxed) {
                c.cuts.fetch_add(1, Ordering::Relaxed);
            }
            let _ = conn.host.shutdown(Shutdown::Both);
            let _ = conn.edge.shutdown(Shutdown::Both);
            break;
        }
        let budget_left =
            |conn: &Conn| conn.faults.load(Ordering::Relaxed) < plan.max_faults_per_connection;
        let roll = |per_mille: u32, rng: &mut StdRng| {
            per_mille > 0 && budget_left(conn) && rng.gen_range(0..1000) < per_mille
        };
        if roll(plan.corrupt_per_mille, &mut rng) {
            conn.faults.fetch_add(1, Ordering::Relaxed);
            let flips = rng.gen_range(1..=3usize);
            for _ in 0..flips {
                let i = rng.gen_range(0..chunk.len());
                chunk[i] ^= 1 << rng.gen_range(0..8);
            }
            c.corrupted.fetch_add(flips as u64, Ordering::Relaxed);
        }
        if roll(plan.drop_per_mille, &mut rng) && !chunk.is_empty() {
            conn.faults.fetch_add(1, Ordering::Relaxed);
            let len = rng.gen_range(1..=32usize).min(chunk.len());
            let at = rng.gen_range(0..=chunk.len() - len);
            chunk.drain(at..at + len);
            c.dropped.fetch_add(len as u64, Ordering::Relaxed);
        }
        if roll(plan.duplicate_per_mille, &mut rng) && !chunk.is_empty() {
            conn.faults.fetch_add(1, Ordering::Relaxed);
            let len = rng.gen_range(1..=32usize).min(chunk.len());
            let at = rng.gen_range(0..=chunk.len() - len);
            let copy: Vec<u8> = chunk[at..at + len].to_vec();
            chunk.splice(at + len..at + len, copy);
            c.duplicated.fetch_add(len as u64, Ordering::Relaxed);
        }
        if plan.delay_per_mille > 0
            && plan.max_delay_ms > 0
            && rng.gen_range(0..1000) < plan.delay_per_mille
        {
            c.delays.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(rng.gen_range(1..=plan.max_delay_ms)));
        }
        if to.write_all(&chunk).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            break;
        }
        c.forwarded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}
