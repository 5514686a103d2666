//! Discovery: two daemons announce `_dipnuc._tcp` over mDNS and `dipnuc discover --json` lists
//! both with their addresses and TXT records. It runs inside a network namespace of its own
//! (`unshare --net`, only a loopback interface with multicast switched on), so no packet
//! reaches a real network and no other mDNS responder interferes. Skipped, with the reason,
//! where such a namespace or multicast on it cannot be had.

use std::process::Command;

use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use hil_tests::edge_binary::{dipnuc_binary, edge_binary};
use hil_tests::edge_setup::free_port;

use crate::util::workdir;

/// Runs `script` with `sh` in a new user + network namespace with loopback multicast up;
/// `Err(reason)` when that namespace cannot be made here.
fn in_private_network(script: &str) -> Result<std::process::Output, String> {
    let probe = Command::new("unshare")
        .args(["--map-root-user", "--net", "sh", "-c"])
        .arg("ip link set lo up && ip link set lo multicast on")
        .output()
        .map_err(|e| format!("unshare not available ({e})"))?;
    if !probe.status.success() {
        return Err(format!(
            "no private network namespace with loopback multicast: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let setup = "ip link set lo up && ip link set lo multicast on && \
                 (ip route add 224.0.0.0/4 dev lo 2>/dev/null || true)";
    Command::new("unshare")
        .args(["--map-root-user", "--net", "sh", "-c"])
        .arg(format!("{setup} && {script}"))
        .output()
        .map_err(|e| format!("unshare: {e}"))
}

#[test]
fn discover_lists_the_announced_devices() {
    let Some(_board) = Board::for_test("discovery", Needs::Sim) else {
        return;
    };
    let dir = workdir();
    let mut configs = Vec::new();
    for (i, name) in ["north-gate", "south-yard"].into_iter().enumerate() {
        let mut s = EdgeSetup::sim(&dir.path().join(name));
        s.config.device.id = name.to_string();
        s.config.camera.fps = 9.0;
        // Ports are taken inside the namespace, where nothing else listens.
        s.config.link.tcp.listen = Some(format!("127.0.0.1:{}", 7700 + i));
        s.config.metrics.listen = (i == 0).then(|| format!("127.0.0.1:{}", free_port()));
        s.config.discovery.enabled = true;
        configs.push(s.write().expect("config written"));
    }
    let edge = edge_binary();
    let dipnuc = dipnuc_binary();
    let script = format!(
        "'{edge}' --config '{a}' >'{la}' 2>&1 & pa=$!; \
         '{edge}' --config '{b}' >'{lb}' 2>&1 & pb=$!; \
         '{dipnuc}' discover --json --count 2 --timeout 60; rc=$?; \
         kill $pa $pb; wait; exit $rc",
        edge = edge.display(),
        dipnuc = dipnuc.display(),
        a = configs[0].display(),
        b = configs[1].display(),
        la = dir.path().join("a.log").display(),
        lb = dir.path().join("b.log").display(),
    );
    let out = match in_private_network(&script) {
        Ok(o) => o,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logs = || {
        format!(
            "stderr:\n{}\ndaemon a:\n{}\ndaemon b:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.path().join("a.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default()
        )
    };
    assert!(
        out.status.success(),
        "discover failed: {stdout}\n{}",
        logs()
    );
    println!("dipnuc discover --json:\n{stdout}");
    let found: Vec<host::discover::Discovered> =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(found.len(), 2, "{stdout}");
    let north = &found[0];
    assert_eq!(north.name, "north-gate");
    assert_eq!(north.device_id, "north-gate");
    assert_eq!(north.tcp, "127.0.0.1:7700");
    assert_eq!(north.board, "sim");
    assert_eq!(north.camera, "simulated-160x120");
    assert!(!north.firmware_version.is_empty());
    assert!(north.auth, "the sim setup requires a token");
    assert!(north.metrics_port.is_some());
    assert_eq!(found[1].name, "south-yard");
    assert_eq!(found[1].tcp, "127.0.0.1:7701");
    assert_eq!(found[1].metrics_port, None);
    // The list is a fleet file as it is.
    let fleet = host::fleet::Fleet::parse(&stdout).expect("discover output is a fleet file");
    assert_eq!(fleet.devices.len(), 2);
}
