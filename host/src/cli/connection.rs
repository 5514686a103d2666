//! Connection options shared by every command that talks to a device, in two stages:
//! [`ConnectionArgs`] is what was typed (clap, no I/O); [`ConnectionArgs::resolve`] reads the
//! host config file and the environment and yields the client's [`ConnectOptions`].

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use host::client::{ConnectOptions, DEFAULT_BAUD, Device, Target};
use host::host_config::{self, HostConfig};

/// How to reach the device (global: may be given before or after the subcommand).
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Device on a TCP link, HOST:PORT.
    #[arg(long, global = true, value_name = "HOST:PORT", conflicts_with = "port")]
    pub tcp: Option<String>,
    /// Device on a serial port (UART, USB CDC), e.g. /dev/ttyUSB0.
    #[arg(long, global = true, value_name = "PATH")]
    pub port: Option<String>,
    /// Baud rate of the serial port [default: 115200].
    #[arg(long, global = true, value_name = "N")]
    pub baud: Option<u32>,
    /// Pre-shared token of a TCP device (else $DIPNUC_TOKEN, else `token` in host.toml).
    #[arg(long, global = true, env = "DIPNUC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds to wait for each reply.
    #[arg(long, global = true, value_name = "S", default_value_t = 3.0)]
    pub timeout: f64,
}

impl ConnectionArgs {
    /// Stage two: command line, then environment, then the host config file.
    pub fn resolve(&self) -> anyhow::Result<ConnectOptions> {
        let path = host_config::default_path();
        let file = match &path {
            Some(p) => HostConfig::load(p)?,
            None => HostConfig::default(),
        };
        let target = match (&self.tcp, &self.port) {
            (Some(addr), _) => Target::Tcp(addr.clone()),
            (None, Some(port)) => Target::Serial {
                port: port.clone(),
                baud: self.baud.or(file.baud).unwrap_or(DEFAULT_BAUD),
            },
            (None, None) => match (&file.tcp, &file.port) {
                (Some(addr), _) => Target::Tcp(addr.clone()),
                (None, Some(port)) => Target::Serial {
                    port: port.clone(),
                    baud: self.baud.or(file.baud).unwrap_or(DEFAULT_BAUD),
                },
                (None, None) => anyhow::bail!(
                    "no device given: pass --tcp HOST:PORT or --port PATH (or set `tcp`/`port` in {})",
                    path.as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "host.toml".into())
                ),
            },
        };
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            anyhow::bail!(
                "--timeout must be a positive number of seconds, got {}",
                self.timeout
            );
        }
        let t = Duration::from_secs_f64(self.timeout);
        let mut opts = ConnectOptions::new(target).with_timeouts(t, t);
        opts.token = self.token.clone().or(file.token).filter(|t| !t.is_empty());
        opts.config_file = path;
        Ok(opts)
    }

    /// The options a fleet's devices share: timeouts and the token from the command line,
    /// the environment or the host config file (each device brings its own target, and may
    /// bring its own token).
    pub fn fleet_base(&self) -> anyhow::Result<ConnectOptions> {
        if self.tcp.is_some() || self.port.is_some() {
            anyhow::bail!("--fleet names the devices: drop --tcp/--port");
        }
        let path = host_config::default_path();
        let file = match &path {
            Some(p) => HostConfig::load(p)?,
            None => HostConfig::default(),
        };
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            anyhow::bail!(
                "--timeout must be a positive number of seconds, got {}",
                self.timeout
            );
        }
        let t = Duration::from_secs_f64(self.timeout);
        let mut opts = ConnectOptions::new(Target::Tcp(String::new())).with_timeouts(t, t);
        opts.token = self.token.clone().or(file.token).filter(|t| !t.is_empty());
        opts.config_file = path;
        Ok(opts)
    }

    /// Resolves and connects.
    pub fn connect(&self) -> anyhow::Result<Device> {
        let opts = self.resolve()?;
        Device::connect(&opts).with_context(|| format!("connecting to {}", opts.target))
    }
}
