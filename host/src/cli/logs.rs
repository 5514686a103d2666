//! `dipnuc logs`: the device's log lines (the log topic), for a moment or `--follow`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use host::client::Topics;
use protocol::{LogLevel, Topic};
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::{interrupt, output};

/// Print the device's log lines.
///
/// Without --follow, lines arriving during --for seconds are printed; with --follow, until
/// Ctrl-C.
///
/// Examples:
///   dipnuc logs --follow --tcp 127.0.0.1:7700
///   dipnuc logs --level debug --for 5 --tcp 127.0.0.1:7700
///   dipnuc logs --follow --json --tcp 127.0.0.1:7700
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LogsArgs {
    /// Keep printing until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Least severe level shown: error, warn, info, debug, trace.
    #[arg(long, default_value = "info", value_parser = parse_level)]
    pub level: LogLevel,
    /// Without --follow: seconds to listen.
    #[arg(long = "for", value_name = "S", default_value_t = 2.0)]
    pub duration: f64,
    /// Stop after N lines.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ]
    .into_iter()
    .find(|l| l.as_str().eq_ignore_ascii_case(s))
    .ok_or_else(|| format!("unknown level {s:?} (error, warn, info, debug, trace)"))
}

#[derive(Serialize)]
struct Line<'a> {
    level: &'a str,
    target: &'a str,
    message: &'a str,
}

pub fn run(a: LogsArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    if !(a.duration.is_finite() && a.duration >= 0.0) {
        anyhow::bail!("--for must be a number of seconds, got {}", a.duration);
    }
    let mut dev = conn.connect()?;
    dev.subscribe(Topics {
        logs: Some(a.level),
        ..Topics::default()
    })?;
    let stop = interrupt::flag();
    let until = (!a.follow).then(|| Instant::now() + Duration::from_secs_f64(a.duration));
    let limit = a.count.unwrap_or(u64::MAX);
    let mut n = 0;
    while n < limit && !stop.load(Ordering::Relaxed) && until.is_none_or(|t| Instant::now() < t) {
        if let Some(Topic::Log(l)) = dev.next_topic(Duration::from_millis(200))? {
            n += 1;
            if json {
                output::json_line(&Line {
                    level: l.level.as_str(),
                    target: &l.target,
                    message: &l.message,
                })?;
            } else {
                output::outln!(
                    "{:>5} {}: {}",
                    l.level.as_str().to_uppercase(),
                    l.target,
                    l.message
                );
            }
        }
    }
    Ok(())
}
