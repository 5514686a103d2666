//! `dipnuc info`: who the device is (ids, versions, camera, capabilities).

use clap::Args;
use serde::Serialize;

use super::connection::ConnectionArgs;
use super::output;

/// Show the device's identity: id, firmware, board, camera, frame size, capabilities.
///
/// Examples:
///   dipnuc info --tcp 192.168.1.20:7700
///   dipnuc info --port /dev/ttyUSB0 --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InfoArgs {}

#[derive(Serialize)]
struct InfoJson<'a> {
    #[serde(flatten)]
    info: &'a protocol::DeviceInfo,
    capability_names: Vec<&'static str>,
    protocol_version: String,
    schema_hash: String,
}

pub fn run(_a: InfoArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    let mut dev = conn.connect()?;
    let info = dev.info()?;
    let peer = dev.peer();
    if json {
        return output::json(&InfoJson {
            info: &info,
            capability_names: info.capabilities.names().collect(),
            protocol_version: peer.protocol_version.to_string(),
            schema_hash: format!("{:016x}", peer.schema_hash),
        });
    }
    output::table(&[
        ("device", info.device_id.to_string()),
        ("firmware", info.firmware_version.to_string()),
        (
            "slot",
            ["A", "B"]
                .get(usize::from(info.active_slot))
                .unwrap_or(&"?")
                .to_string(),
        ),
        ("board", info.board.to_string()),
        ("camera", info.camera.to_string()),
        (
            "frame",
            format!("{}x{}, {} bit", info.width, info.height, info.bit_depth),
        ),
        ("capabilities", info.capabilities.to_string()),
        ("uptime", output::age(info.uptime_s)),
        (
            "protocol",
            format!(
                "{} (schema {:016x})",
                peer.protocol_version, peer.schema_hash
            ),
        ),
        ("link", dev.target().to_string()),
    ])?;
    Ok(())
}
