//! Where the executables under test are: `DIPNUC_EDGE_BIN` / `DIPNUC_BIN` when set (prebuilt
//! or cross-built binaries on a rig), otherwise the ones `cargo test --workspace --no-run`
//! leaves in this test's own target directory and profile. Building first (a no-op when up to
//! date) means a test never runs a stale daemon or CLI, and building as the workspace's tests
//! build (every member selected, dev-dependencies on) resolves the same features, so inside
//! `cargo test --workspace` it rebuilds nothing: a `cargo build -p edge -p host` resolves
//! others (proptest's `rand/std`, a dev-dependency, turns on getrandom features under candle's
//! safetensors) and rebuilt the engine, daemon and CLI, three minutes of CI on 2 cores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the daemon binary, building the workspace's tests once per test run. Panics
/// with the build log when it cannot be built: every test here needs it.
pub fn edge_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate_or_build("DIPNUC_EDGE_BIN", "dipnuc-edge")) {
        Ok(p) => p.clone(),
        Err(e) => panic!("cannot get the dipnuc-edge binary: {e}"),
    }
}

/// The path of the `dipnuc` CLI (see [`edge_binary`]).
pub fn dipnuc_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(|| locate_or_build("DIPNUC_BIN", "dipnuc")) {
        Ok(p) => p.clone(),
        Err(e) => panic!("cannot get the dipnuc binary: {e}"),
    }
}

fn locate_or_build(env: &str, bin_name: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{env}={} is not a file", p.display()))
        };
    }
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let profile_dir = BUILT.get_or_init(build_workspace_tests).clone()?;
    let bin = profile_dir.join(bin_name);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("built, but {} is missing", bin.display()))
    }
}

/// Runs `cargo test --workspace --no-run` in this test's target directory and profile (which
/// builds every package's binaries for its integration tests) and returns the profile's output
/// folder, where the binaries are.
fn build_workspace_tests() -> Result<PathBuf, String> {
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
    let mut cmd = Command::new(&cargo);
    cmd.args(["test", "--quiet", "--workspace", "--no-run"]);
    // `cargo test` builds into `debug` with its own `test` profile (the dev settings).
    if profile != "dev" {
        cmd.args(["--profile", &profile]);
    }
    let out = cmd
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if !out.status.success() {
        return Err(format!(
            "cargo test --workspace --no-run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(profile_dir)
}
