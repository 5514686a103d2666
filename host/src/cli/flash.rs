//! `dipnuc flash`: upload a signed `dipnuc-edge` image (signing it first with `--key`), with a
//! progress bar and resume after a dropped link; the device verifies the signature before it
//! installs into the inactive A/B slot.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use host::client::{FlashEvent, ResumePolicy};
use host::firmware_image::{self, ImageInfo};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::connection::ConnectionArgs;
use super::exit::{self, Failure};
use super::output;

/// Update the device's dipnuc-edge binary (A/B slots, rolled back unless confirmed healthy).
///
/// FIRMWARE is either an image already signed (by an earlier `flash --key ... --save-signed`)
/// or a plain executable together with --key SECRET to sign it here. After the upload the
/// device verifies the signature, installs into the inactive slot and restarts into it; with
/// --wait this command waits for it to come back and confirms the new image.
///
/// With --fleet FILE the update is staged: the canary first, then --batch-size devices at a
/// time; each is waited for, checked (new version, frames flowing) and confirmed, and the
/// rollout halts after a stage in which a device failed or rolled back.
///
/// Examples:
///   dipnuc --fleet site.toml flash dipnuc-edge-0.2.0.dnfw --batch-size 4
///   dipnuc keygen --out release
///   dipnuc flash target/aarch64-unknown-linux-gnu/release/dipnuc-edge --key release.key \
///       --image-version 0.2.0 --tcp 192.168.1.20:7700 --wait
///   dipnuc flash dipnuc-edge-0.2.0.dnfw --port /dev/ttyUSB0
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct FlashArgs {
    /// Signed image, or plain executable with --key.
    pub firmware: PathBuf,
    /// Secret key file (from `dipnuc keygen`) to sign a plain executable with.
    #[arg(long, value_name = "SECRET")]
    pub key: Option<PathBuf>,
    /// Version string put into the signed image (with --key).
    #[arg(long, value_name = "V", default_value = env!("CARGO_PKG_VERSION"))]
    pub image_version: String,
    /// Also save the signed image to FILE (with --key).
    #[arg(long, value_name = "FILE")]
    pub save_signed: Option<PathBuf>,
    /// Wait for the device to restart into the new image and confirm it healthy.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: seconds to wait for the device to come back.
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub wait_limit: u64,
    /// With --fleet: the device flashed first, alone (default: rollout.canary, else the
    /// fleet's first device).
    #[arg(long, value_name = "NAME")]
    pub canary: Option<String>,
    /// With --fleet: devices flashed at once after the canary (default: rollout.batch_size).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// With --fleet: seconds a flashed device has to come back and deliver frames (default:
    /// rollout.health_timeout_s).
    #[arg(long, value_name = "S")]
    pub health_timeout: Option<u64>,
}

/// The signed image to send: FIRMWARE as it is, or signed here with --key.
pub fn prepare_image(a: &FlashArgs) -> anyhow::Result<(Vec<u8>, ImageInfo)> {
    let bytes =
        std::fs::read(&a.firmware).with_context(|| format!("reading {}", a.firmware.display()))?;
    let image = match &a.key {
        Some(key_path) => {
            if firmware_image::looks_signed(&bytes) {
                anyhow::bail!(
                    "{} is already a signed image; flash it without --key",
                    a.firmware.display()
                );
            }
            let key = firmware_image::read_secret_key(key_path)?;
            let img = firmware_image::sign(&bytes, &a.image_version, &key)?;
            if let Some(p) = &a.save_signed {
                std::fs::write(p, &img).with_context(|| format!("writing {}", p.display()))?;
            }
            img
        }
        None => bytes,
    };
    let info = ImageInfo::parse(&image).with_context(|| format!("{}", a.firmware.display()))?;
    Ok((image, info))
}

pub fn run(a: FlashArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    let (image, info) = prepare_image(&a)?;
    let mut dev = conn.connect()?;
    let bar = ProgressBar::with_draw_target(Some(image.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("flash [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut resumed = 0u32;
    let state = dev.flash(&image, ResumePolicy::default(), |ev| match ev {
        FlashEvent::Sent { sent, .. } => bar.set_position(u64::from(sent)),
        FlashEvent::Reconnecting { attempt, reason } => {
            resumed = attempt;
            bar.println(format!(
                "link dropped ({reason}); reconnecting (attempt {attempt})"
            ));
        }
        FlashEvent::Stage { stage, .. } => bar.set_message(stage),
    });
    bar.finish_and_clear();
    let state = state.context("flashing")?;
    let mut confirmed = false;
    if a.wait {
        eprintln!("waiting for the device to restart into {}…", info.version);
        // Give it time to go down before probing, so we do not confirm the old process.
        std::thread::sleep(Duration::from_secs(1));
        dev.wait_until_back(Duration::from_secs(a.wait_limit))
            .context("waiting for the device to come back")?;
        let now = dev.firmware_status()?;
        if now.version.as_str() != info.version {
            return Err(Failure::new(
                exit::DEVICE,
                format!(
                    "the device runs {} instead of {} (rolled back: {})",
                    now.version,
                    info.version,
                    now.last_error.as_deref().unwrap_or("no reason given")
                ),
            )
            .into());
        }
        dev.firmware_confirm()?;
        confirmed = true;
    }
    if json {
        output::json_line(&serde_json::json!({
            "version": info.version,
            "bytes": image.len(),
            "reconnects": resumed,
            "active_slot": state.active_slot,
            "pending_slot": state.pending_slot,
            "confirmed": confirmed,
        }))?;
    } else {
        output::outln!(
            "firmware {} ({} bytes) verified and installed{}",
            info.version,
            image.len(),
            if resumed > 0 {
                format!(" after {resumed} reconnects")
            } else {
                String::new()
            }
        );
        if confirmed {
            output::outln!(
                "the device runs {} and it is confirmed healthy",
                info.version
            );
        } else {
            output::outln!(
                "the device restarts into it and rolls back unless it is confirmed in time \
                 (`dipnuc flash … --wait` confirms)"
            );
        }
    }
    Ok(())
}
