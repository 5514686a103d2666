//! Where the executables under test are: `DIPNUC_EDGE_BIN` / `DIPNUC_BIN` when set (prebuilt
//! or cross-built binaries on a rig), otherwise the ones `cargo build -p edge --bin
//! dipnuc-edge` and `cargo build -p host --bin dipnuc` produce in this test's own target
//! directory and profile. Building first (a no-op when up to date) means a test never runs a
//! stale daemon or CLI.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The path of the daemon binary, building it once per test run. Panics with the build log
/// when it cannot be built: every test here needs it.
pub fn edge_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate_or_build("DIPNUC_EDGE_BIN", "edge", "dipnuc-edge")) {
        Ok(p) => p.clone(),
        Err(e) => panic!("cannot get the dipnuc-edge binary: {e}"),
    }
}

/// The path of the `dipnuc` CLI, building it once per test run (see [`edge_binary`]).
pub fn dipnuc_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate_or_build("DIPNUC_BIN", "host", "dipnuc")) {
        Ok(p) => p.clone(),
        Err(e) => panic!("cannot get the dipnuc binary: {e}"),
    }
}

fn locate_or_build(env: &str, package: &str, bin_name: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{env}={} is not a file", p.display()))
        };
    }
    // <target>/<profile>/deps/hil-<hash>: the binary goes to <target>/<profile>/dipnuc-edge.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("unexpected target layout {}", profile_dir.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => "dev".to_string(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            // With edge selected too, edge's features unify as in a workspace build, so the
            // CLI built here is the one `cargo test --workspace` built (no second edge build).
            "-p",
            "edge",
            "--bin",
            bin_name,
            "--profile",
        ])
        .arg(&profile)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("running {}: {e}", PathBuf::from(&cargo).display()))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build -p {package} --bin {bin_name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bin = profile_dir.join(bin_name);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("built, but {} is missing", bin.display()))
    }
}
