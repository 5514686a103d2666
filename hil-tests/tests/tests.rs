//! The HIL suite: one test binary (`cargo test -p hil-tests`). Every test starts the real
//! `dipnuc-edge` binary and drives it with the real host library; each declares the boards it
//! can run on (`Board::for_test`), and `DIPNUC_RIG=boards/hil-rig.toml` moves the suite from the
//! simulated camera to the rig. Counts from fault, crash and load tests are printed as
//! `hil-counts <test>: key=value ...` (see them with `-- --nocapture`).

// Shared test plumbing: work folders, connecting, calibrating, printing counts.
mod util;

// Board profiles and deployment files, checked with the daemon's own config loader.
mod boards;
// Handshake, config round trip, calibrate, snapshots, pattern pull/push over TCP and serial.
mod e2e;
// A fault-injecting proxy on the link: transfers complete verified or fail clearly.
mod faults;
// kill -9 of the daemon during a pattern save and during a firmware install.
mod crash;
// Signed firmware update through the service launcher, A/B trial, confirm and rollback.
mod firmware;
// Several clients polling while capture runs at full rate: no drops, bounded memory.
mod load;
// Rig only: camera power cycle and shutter ground truth.
mod rig;
// The Prometheus endpoint, scraped by a real Prometheus server.
mod metrics;
// mDNS announcement and `dipnuc discover`, in a private network namespace.
mod discovery;
// `dipnuc --fleet`: commands on several daemons, a staged rollout that halts.
mod fleet;
// `dipnuc record` over TCP and serial: no gaps, every frame accounted for; the TCP rate.
mod record;
