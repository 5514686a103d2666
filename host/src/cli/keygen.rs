//! `dipnuc keygen`: an Ed25519 key pair for signing firmware images.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::output;

/// Make an Ed25519 key pair for signing firmware (PREFIX.key secret, PREFIX.pub public).
///
/// Put the public key in the device's config as firmware.public_key; keep the secret key off
/// the device.
///
/// Examples:
///   dipnuc keygen
///   dipnuc keygen --out keys/release
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct KeygenArgs {
    /// Path prefix of the two files.
    #[arg(long, value_name = "PREFIX", default_value = "dipnuc-firmware")]
    pub out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: KeygenArgs, json: bool) -> anyhow::Result<()> {
    let secret_path = a.out.with_extension("key");
    let public_path = a.out.with_extension("pub");
    for p in [&secret_path, &public_path] {
        if p.exists() && !a.force {
            anyhow::bail!("{} exists; pass --force to overwrite it", p.display());
        }
    }
    if let Some(dir) = secret_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (secret, public) = host::firmware_image::generate_key_pair();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&secret_path)
        .with_context(|| format!("creating {}", secret_path.display()))?;
    writeln!(f, "{secret}").with_context(|| format!("writing {}", secret_path.display()))?;
    std::fs::write(&public_path, format!("{public}\n"))
        .with_context(|| format!("writing {}", public_path.display()))?;
    if json {
        output::json_line(&serde_json::json!({
            "secret_key_file": secret_path,
            "public_key_file": public_path,
            "public_key": public,
        }))?;
    } else {
        output::outln!("secret key: {} (keep it private)", secret_path.display());
        output::outln!("public key: {}", public_path.display());
        output::outln!("device config: [firmware] public_key = \"{public}\"");
    }
    Ok(())
}
