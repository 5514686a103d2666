//! The `dipnuc` command line: one file per subcommand, shared option groups beside them
//! (`connection` for how to reach a device, `output` for JSON/text, `exit` for exit codes).

pub mod calibrate;
pub mod config;
pub mod connection;
pub mod demo;
pub mod discover;
pub mod eval;
pub mod exit;
pub mod fit_args;
pub mod flash;
pub mod fleet;
pub mod info;
pub mod interrupt;
pub mod keygen;
pub mod logs;
pub mod output;
pub mod pattern;
pub mod ports;
pub mod process;
pub mod progress;
pub mod record;
pub mod snapshot;
pub mod status;
pub mod telemetry;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "Examples:
  dipnuc demo                                   simulated camera end to end, no hardware
  dipnuc ports                                  serial ports with USB ids
  dipnuc status --tcp 192.168.1.20:7700         health of a device on the network
  dipnuc calibrate --wait --port /dev/ttyUSB0   fit a new pattern, with progress
  dipnuc telemetry --follow --csv run.csv       live table, logged as CSV
  dipnuc record --kind raw --seconds 60 --out run1 --tcp 192.168.1.20:7700
  dipnuc discover --json > site.json            devices announcing themselves (mDNS)
  dipnuc --fleet site.json status               every device of a fleet at once

Connection: --tcp HOST:PORT or --port PATH [--baud N]; the token comes from --token,
$DIPNUC_TOKEN or `token` in ~/.config/dipnuc/host.toml ($DIPNUC_HOST_CONFIG).";

/// dipnuc: shutterless non-uniformity correction for thermal cameras.
#[derive(Debug, Parser)]
#[command(
    name = "dipnuc",
    version,
    about,
    propagate_version = true,
    after_help = format!("{EXAMPLES}\n\n{}", exit::HELP)
)]
pub struct Cli {
    #[command(flatten)]
    pub conn: connection::ConnectionArgs,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Run the command on every device of FILE (fleet TOML, or `discover --json` output):
    /// status, info, config get|set, pattern pull DIR, flash (staged).
    #[arg(long, global = true, value_name = "FILE")]
    pub fleet: Option<std::path::PathBuf>,
    /// With --fleet: devices worked on at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 8)]
    pub parallel: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Ports(ports::PortsArgs),
    Info(info::InfoArgs),
    Status(status::StatusArgs),
    Config(config::ConfigArgs),
    Calibrate(calibrate::CalibrateArgs),
    Telemetry(telemetry::TelemetryArgs),
    Logs(logs::LogsArgs),
    Snapshot(snapshot::SnapshotArgs),
    Pattern(pattern::PatternArgs),
    Keygen(keygen::KeygenArgs),
    Flash(flash::FlashArgs),
    Record(record::RecordArgs),
    Discover(discover::DiscoverArgs),
    Demo(demo::DemoArgs),
    Process(process::ProcessArgs),
    Eval(eval::EvalArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (conn, json) = (&cli.conn, cli.json);
    if let Some(fleet) = &cli.fleet {
        return fleet::run(cli.command, fleet, cli.parallel, conn, json);
    }
    match cli.command {
        Command::Ports(a) => ports::run(a, json),
        Command::Info(a) => info::run(a, conn, json),
        Command::Status(a) => status::run(a, conn, json),
        Command::Config(a) => config::run(a, conn, json),
        Command::Calibrate(a) => calibrate::run(a, conn, json),
        Command::Telemetry(a) => telemetry::run(a, conn, json),
        Command::Logs(a) => logs::run(a, conn, json),
        Command::Snapshot(a) => snapshot::run(a, conn, json),
        Command::Pattern(a) => pattern::run(a, conn, json),
        Command::Keygen(a) => keygen::run(a, json),
        Command::Flash(a) => flash::run(a, conn, json),
        Command::Record(a) => record::run(a, conn, json),
        Command::Discover(a) => discover::run(a, json),
        Command::Demo(a) => demo::run(a, json),
        Command::Process(a) => process::run(a),
        Command::Eval(a) => eval::run(a, json),
    }
}
