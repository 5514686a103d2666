//! `dipnuc-edge`: the daemon that runs beside the camera. It captures frames, corrects them
//! against the current noise pattern, refits the pattern on a budget and serves the host link.
//!
//! Exit status: 0 after a clean stop (SIGTERM/SIGINT), 75 when it stopped to be restarted
//! (a `Reboot` request or a firmware switch; systemd's `Restart=` starts it again), 1 on a
//! start-up error (bad configuration, camera that cannot be opened), 2 for `--check-config`
//! failures.
//!
//! The configuration file is the admin's and is never written: changes made over the link go to
//! `config-overrides.toml` in the state folder (`device.state_dir`, by default the folder of
//! `pattern.store`) and are layered over it at every start.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use edge::config::{DEFAULT_CONFIG_PATH, EdgeConfig, KEYS, Overrides, Secrets};
use edge::daemon::{Daemon, DaemonOptions};
use edge::log_forward::LogForwardLayer;
use edge::service;
use tracing::{error, info};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Exit status asking the service manager for a restart.
const EXIT_RESTART: u8 = 75;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines; without timestamps when running under systemd (journald adds them).
    Text,
    /// One JSON object per line.
    Json,
}

/// The dipnuc edge daemon: capture, per-frame noise-pattern correction, budgeted refits and
/// the host link.
///
/// Examples:
///   dipnuc-edge --config boards/sim.toml          run on the simulated camera
///   dipnuc-edge --config /etc/dipnuc/edge.toml --check-config
///   dipnuc-edge --keys                             every configuration key and who may change it
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short, default_value = DEFAULT_CONFIG_PATH, env = "DIPNUC_EDGE_CONFIG")]
    config: PathBuf,
    /// Validate the configuration (its profiles and the link overrides), print the merged
    /// result (secrets left out), and exit.
    #[arg(long)]
    check_config: bool,
    /// List every configuration key: its type, whether it applies live or after a restart,
    /// and whether the link may change it; then exit.
    #[arg(long)]
    keys: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    log: String,
}

fn init_logging(args: &Args) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&args.log));
    // journald timestamps every line itself; systemd sets JOURNAL_STREAM for its services.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let fmt = tracing_subscriber::fmt::layer().with_target(true);
    let fmt = match (args.log_format, under_journald) {
        (LogFormat::Json, _) => fmt.json().boxed(),
        (LogFormat::Text, true) => fmt.without_time().with_ansi(false).boxed(),
        (LogFormat::Text, false) => fmt.boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(LogForwardLayer::new(tracing::Level::INFO))
        .init();
}

fn main() -> ExitCode {
    engine::heap::retain_freed_memory();
    let args = Args::parse();
    if args.keys {
        print_keys();
        return ExitCode::SUCCESS;
    }
    if args.check_config {
        return match check_config(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    init_logging(&args);
    match run(&args) {
        Ok(restart) if restart => ExitCode::from(EXIT_RESTART),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-config`: the admin's file with its profiles, then the link overrides over it.
fn check_config(args: &Args) -> anyhow::Result<()> {
    let base =
        EdgeConfig::load(&args.config).with_context(|| format!("{}", args.config.display()))?;
    let path = base.overrides_path();
    let overrides = Overrides::read(&path).with_context(|| format!("{}", path.display()))?;
    let cfg = overrides
        .apply_to(&base)
        .with_context(|| format!("{} over {}", path.display(), args.config.display()))?;
    println!("{}", cfg.to_toml(Secrets::Redact));
    eprintln!("{}: configuration is valid", args.config.display());
    if !overrides.is_empty() {
        eprintln!(
            "changed over the link (in {}): {}",
            path.display(),
            overrides.keys().join(", ")
        );
    }
    Ok(())
}

/// `--keys`: the key table.
fn print_keys() {
    println!("{:<34} {:<8} {:<12} type", "key", "applies", "access");
    for k in KEYS {
        let applies = match k.apply {
            edge::config::Apply::Live => "live",
            edge::config::Apply::Restart => "restart",
            edge::config::Apply::Load => "load",
        };
        let access = match k.access {
            edge::config::Access::Link => "link",
            edge::config::Access::DeviceLocal => "device-local",
            edge::config::Access::Secret => "secret",
        };
        println!("{:<34} {applies:<8} {access:<12} {}", k.key, k.kind());
    }
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let cfg = EdgeConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let overrides_file = Some(cfg.overrides_path());
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let daemon = Daemon::start_with(
        cfg,
        DaemonOptions {
            overrides_file,
            ..DaemonOptions::default()
        },
    )
    .context("starting the daemon")?;
    // Ready once the link listens, with or without a camera (its state follows in the status).
    let status = match daemon.local_tcp_addr() {
        Some(a) => format!("running; link on tcp {a}"),
        None => "running".to_string(),
    };
    service::notify_ready(&status);
    while !stop.load(Ordering::Relaxed) && !daemon.stopping() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let restart = daemon.reboot_requested();
    info!(restart, "stopping");
    service::notify_stopping();
    daemon.shutdown();
    Ok(restart)
}
