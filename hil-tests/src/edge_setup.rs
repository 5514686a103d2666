//! [`EdgeSetup`]: the configuration a test starts `dipnuc-edge` with, built as the daemon's own
//! [`EdgeConfig`] (so it is type-checked and validated by the daemon's loader) and written into
//! a work folder that also holds the pattern store, the firmware slots and the daemon's log.
//!
//! On the simulated board it is a 160×120 simulated camera with a fast CPU fit and no automatic
//! refits (the tests decide when to fit); on the rig it is `boards/hil-rig.toml` with its state
//! paths moved into the work folder.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use edge::config::{EdgeConfig, FitDevice, Secrets, SourceKind};
use engine::nuc::Method;
use host::client::{ConnectOptions, Target};

use crate::board::Board;

/// Token every simulated-board daemon requires on TCP.
pub const SIM_TOKEN: &str = "hil-test-token";

/// A daemon configuration plus the folder it lives in.
#[derive(Debug, Clone)]
pub struct EdgeSetup {
    /// Work folder: `edge.toml`, `pattern.dnp`, `firmware/`, `edge.log`.
    pub dir: PathBuf,
    /// What the daemon is started with.
    pub config: EdgeConfig,
    /// The key firmware images are signed with (its public half is in the config).
    pub firmware_key: SigningKey,
}

/// A TCP port that was free a moment ago on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port on 127.0.0.1")
}

impl EdgeSetup {
    /// The configuration for `board` in `dir`.
    pub fn for_board(board: &Board, dir: &Path) -> EdgeSetup {
        match board {
            Board::Sim => EdgeSetup::sim(dir),
            Board::Rig(rig) => {
                let mut config = EdgeConfig::load(&rig.edge_config)
                    .unwrap_or_else(|e| panic!("rig config {}: {e}", rig.edge_config.display()));
                // Profiles are merged already; the written copy must not name them again.
                config.profile = None;
                config.profiles.clear();
                config.camera.profile = None;
                EdgeSetup::finish(dir, config)
            }
        }
    }

    /// The simulated camera at 160×120, 30 fps, CP-TV fits of at most 150 steps, automatic
    /// refits off, TCP on a free loopback port with [`SIM_TOKEN`].
    pub fn sim(dir: &Path) -> EdgeSetup {
        let mut c = EdgeConfig::default();
        c.device.id = "hil-sim".into();
        c.device.board = "sim".into();
        c.camera.name = "simulated-160x120".into();
        c.camera.source = SourceKind::Sim;
        c.camera.width = 160;
        c.camera.height = 120;
        c.camera.fps = 30.0;
        c.camera.bit_depth = 14;
        c.fit.method = Method::CpTv;
        c.fit.cpu_method = Method::CpTv;
        c.fit.device = FitDevice::Cpu;
        c.fit.frames = 6;
        c.fit.min_motion_dn = 2.0;
        c.fit.collect_interval_ms = 60;
        c.fit.fit_on_start = false;
        c.fit.budget.max_steps = 150;
        c.fit.budget.max_seconds = 20.0;
        c.fit.budget.gpu_seconds_per_hour = 3600.0;
        c.fit.triggers.max_age_s = 0;
        c.fit.triggers.temp_drift_c = 0.0;
        c.fit.triggers.roughness_rise = 0.0;
        c.fit.triggers.min_interval_s = 1;
        c.link.tcp.listen = Some(format!("127.0.0.1:{}", free_port()));
        c.link.tcp.token = Some(SIM_TOKEN.into());
        c.link.serial.baud = 115_200;
        c.watchdog.capture_timeout_s = 3.0;
        c.watchdog.reconnect_interval_s = 0.2;
        c.firmware.confirm_timeout_s = 60;
        EdgeSetup::finish(dir, c)
    }

    fn finish(dir: &Path, mut config: EdgeConfig) -> EdgeSetup {
        // Deterministic per folder is not needed; a fixed test key is (images are made here).
        let firmware_key = SigningKey::from_bytes(&[0x5a; 32]);
        config.pattern.store = dir.join("pattern.dnp");
        config.firmware.slots_dir = Some(dir.join("firmware"));
        config.firmware.public_key = Some(formats::firmware::hex_encode(
            firmware_key.verifying_key().as_bytes(),
        ));
        if config.link.tcp.listen.is_none() {
            config.link.tcp.listen = Some(format!("127.0.0.1:{}", free_port()));
        }
        EdgeSetup {
            dir: dir.to_path_buf(),
            config,
            firmware_key,
        }
    }

    /// Where [`EdgeSetup::write`] puts the configuration.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("edge.toml")
    }

    /// Where the daemon's stdout/stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("edge.log")
    }

    /// The pattern store.
    pub fn pattern_store(&self) -> &Path {
        &self.config.pattern.store
    }

    /// The firmware slot folder.
    pub fn slots_dir(&self) -> PathBuf {
        self.dir.join("firmware")
    }

    /// `127.0.0.1:PORT` of the TCP link.
    pub fn tcp_addr(&self) -> String {
        self.config
            .link
            .tcp
            .listen
            .clone()
            .expect("every test setup listens on TCP")
    }

    /// Validates the configuration with the daemon's rules and writes it; returns its path.
    pub fn write(&self) -> std::io::Result<PathBuf> {
        self.config
            .validate()
            .map_err(|e| std::io::Error::other(format!("test config invalid: {e}")))?;
        std::fs::create_dir_all(&self.dir)?;
        let path = self.config_path();
        // The whole file stays on the device: the token is written too.
        std::fs::write(&path, self.config.to_toml(Secrets::Include))?;
        // What the daemon will read must load with its own loader, unchanged.
        let back = EdgeConfig::load(&path)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        assert_eq!(back, self.config, "config changed in a TOML round trip");
        Ok(path)
    }

    /// Connection options for the TCP link (token included), with test-sized timeouts.
    pub fn tcp_options(&self) -> ConnectOptions {
        self.options_for(Target::Tcp(self.tcp_addr()))
    }

    /// Connection options for another TCP address (a proxy in front of the daemon).
    pub fn tcp_options_via(&self, addr: &str) -> ConnectOptions {
        self.options_for(Target::Tcp(addr.to_string()))
    }

    /// Connection options for a serial port (with the token: a serial link may be configured
    /// to ask for it, `link.serial.require_token`).
    pub fn serial_options(&self, port: &str) -> ConnectOptions {
        let mut o = ConnectOptions::new(Target::Serial {
            port: port.to_string(),
            baud: self.config.link.serial.baud,
        })
        .with_timeouts(Duration::from_secs(3), Duration::from_millis(1500));
        o.retries = 3;
        match &self.config.link.tcp.token {
            Some(t) => o.with_token(t.clone()),
            None => o,
        }
    }

    fn options_for(&self, target: Target) -> ConnectOptions {
        let mut o = ConnectOptions::new(target)
            .with_timeouts(Duration::from_secs(2), Duration::from_millis(800));
        o.retries = 4;
        match &self.config.link.tcp.token {
            Some(t) => o.with_token(t.clone()),
            None => o,
        }
    }
}
