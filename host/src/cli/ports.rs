//! `dipnuc ports`: serial ports with USB VID:PID, serial number and product.

use anyhow::Context;
use clap::Args;

use super::output;

/// List serial ports (with USB vendor:product ids, serial numbers and product names).
///
/// Examples:
///   dipnuc ports
///   dipnuc ports --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PortsArgs {}

pub fn run(_a: PortsArgs, json: bool) -> anyhow::Result<()> {
    let ports = host::ports::list().context("listing serial ports")?;
    if json {
        return output::json(&ports);
    }
    if ports.is_empty() {
        output::outln!("no serial ports found");
        return Ok(());
    }
    output::outln!(
        "{:<24} {:<9} {:<10} {:<16} PRODUCT",
        "PORT",
        "TYPE",
        "VID:PID",
        "SERIAL"
    );
    for p in &ports {
        let product = match (&p.manufacturer, &p.product) {
            (Some(m), Some(pr)) => format!("{m} {pr}"),
            (None, Some(pr)) => pr.clone(),
            (Some(m), None) => m.clone(),
            (None, None) => "-".into(),
        };
        output::outln!(
            "{:<24} {:<9} {:<10} {:<16} {}",
            p.name,
            p.kind,
            output::opt(p.usb_id()),
            p.serial_number.as_deref().unwrap_or("-"),
            product
        );
    }
    Ok(())
}
