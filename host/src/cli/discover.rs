//! `dipnuc discover`: the devices on the local network that announce `_dipnuc._tcp` (mDNS).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use host::discover::browse;

use super::exit::{self, Failure};
use super::output::{self, outln};

/// List the dipnuc devices on the local network (mDNS/DNS-SD `_dipnuc._tcp`).
///
/// Devices announce themselves when their config has `[discovery] enabled = true` (the
/// packaged /etc/dipnuc/edge.toml does). The JSON list is a fleet file for `--fleet`.
///
/// Examples:
///   dipnuc discover
///   dipnuc discover --json > fleet.json && dipnuc --fleet fleet.json status
///   dipnuc discover --count 4 --timeout 30      wait until 4 devices answered
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DiscoverArgs {
    /// Seconds to listen for answers.
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    pub timeout: f64,
    /// Stop as soon as N devices answered (exit 1 when fewer answered in time).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
}

pub fn run(a: DiscoverArgs, json: bool) -> anyhow::Result<()> {
    if !(a.timeout.is_finite() && a.timeout > 0.0) {
        anyhow::bail!(
            "--timeout must be a positive number of seconds, got {}",
            a.timeout
        );
    }
    let found =
        browse(Duration::from_secs_f64(a.timeout), a.count).context("discovering devices")?;
    if json {
        output::json(&found)?;
    } else if found.is_empty() {
        eprintln!("no dipnuc devices answered within {} s", a.timeout);
    } else {
        let rows: Vec<[String; 6]> = found
            .iter()
            .map(|d| {
                [
                    d.name.clone(),
                    d.tcp.clone(),
                    d.firmware_version.clone(),
                    d.board.clone(),
                    d.camera.clone(),
                    if d.auth { "token" } else { "open" }.to_string(),
                ]
            })
            .collect();
        output::columns(
            &["NAME", "ADDRESS", "FIRMWARE", "BOARD", "CAMERA", "LINK"],
            &rows,
        )?;
        if found.iter().any(|d| d.addresses.len() > 1) {
            for d in found.iter().filter(|d| d.addresses.len() > 1) {
                let all: Vec<String> = d.addresses.iter().map(|a| a.to_string()).collect();
                outln!("{}: also at {}", d.name, all[1..].join(", "));
            }
        }
    }
    if let Some(n) = a.count
        && found.len() < n
    {
        return Err(Failure::new(
            exit::DEVICE,
            format!(
                "{} of {n} devices answered within {} s",
                found.len(),
                a.timeout
            ),
        )
        .into());
    }
    Ok(())
}
