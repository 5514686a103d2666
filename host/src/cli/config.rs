//! `dipnuc config get|set|export|import`: the device's configuration, validated on the device.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use protocol::{ConfigApply, ConfigChange};

use super::connection::ConnectionArgs;
use super::output;

/// Read and change the device's configuration (validated on the device).
///
/// Keys are dotted paths into the daemon's TOML config; values are TOML literals (a bare word
/// such as cp-tv is taken as a string). `set` says whether the change applies live or after a
/// restart, and whether the device saved it. Trust anchors, secrets and paths (the firmware
/// key, the token, state folders) can be changed only in the config file on the device;
/// secrets read as "<redacted>". `dipnuc-edge --keys` on the device lists every key.
///
/// Examples:
///   dipnuc config get fit.method --tcp 127.0.0.1:7700
///   dipnuc config set correction.offset 200 --tcp 127.0.0.1:7700
///   dipnuc config set fit.method cp-tv --tcp 127.0.0.1:7700
///   dipnuc config export edge.toml --tcp 127.0.0.1:7700
///   dipnuc config import edge.toml --tcp 127.0.0.1:7700
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the value of KEY.
    Get {
        /// Dotted key, e.g. fit.method.
        key: String,
    },
    /// Set KEY to VALUE; prints whether it applies live or after a restart and whether it was
    /// saved. A refused value names the key and the reason.
    Set {
        /// Dotted key, e.g. correction.offset.
        key: String,
        /// TOML literal (200, 0.5, true, "cp-tv"; a bare word is quoted for you).
        value: String,
    },
    /// Write the whole configuration as TOML to FILE (stdout without FILE or with -).
    Export {
        /// Output file.
        file: Option<PathBuf>,
    },
    /// Replace the configuration with FILE (validated as a whole before anything applies).
    Import {
        /// TOML file.
        file: PathBuf,
    },
}

#[derive(Serialize)]
struct KeyValue<'a> {
    key: &'a str,
    value: &'a str,
}

/// What `config set --json` prints.
#[derive(Serialize)]
struct Changed<'a> {
    key: &'a str,
    value: &'a str,
    /// `live` or `restart`.
    applies: &'static str,
    /// Saved on the device (survives a restart).
    persisted: bool,
}

/// `live` or `restart`, as `--json` spells it.
pub fn applies(a: ConfigApply) -> &'static str {
    match a {
        ConfigApply::Live => "live",
        ConfigApply::Restart => "restart",
    }
}

/// `KEY = VALUE (applied now, saved)` and the like.
pub fn describe_change(c: &ConfigChange) -> String {
    let when = match c.apply {
        ConfigApply::Live => "applied now",
        ConfigApply::Restart => "applies after a restart (dipnuc reboot)",
    };
    let saved = if c.persisted {
        "saved on the device"
    } else {
        "not saved: lost at the next restart (see the device log)"
    };
    format!("{} = {} ({when}; {saved})", c.key, c.value)
}

/// A bare word that is not a TOML literal becomes a TOML string.
pub fn as_toml_literal(value: &str) -> String {
    let parses = format!("v = {value}").parse::<toml::Table>().is_ok();
    if parses {
        value.to_string()
    } else {
        toml::Value::String(value.to_string()).to_string()
    }
}

pub fn run(a: ConfigArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    // Read the import file before connecting: a missing file is a local error.
    let import = match &a.action {
        ConfigAction::Import { file } => Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        _ => None,
    };
    let mut dev = conn.connect()?;
    match a.action {
        ConfigAction::Get { key } => {
            let value = dev
                .config_get(&key)
                .with_context(|| format!("config get {key}"))?;
            if json {
                output::json_line(&KeyValue {
                    key: &key,
                    value: &value,
                })?;
            } else {
                output::outln!("{value}");
            }
        }
        ConfigAction::Set { key, value } => {
            let literal = as_toml_literal(&value);
            let change = dev
                .config_set(&key, &literal)
                .with_context(|| format!("config set {key} = {literal}"))?;
            if json {
                output::json_line(&Changed {
                    key: &change.key,
                    value: &change.value,
                    applies: applies(change.apply),
                    persisted: change.persisted,
                })?;
            } else {
                output::outln!("{}", describe_change(&change));
            }
        }
        ConfigAction::Export { file } => {
            let text = dev.config_export().context("config export")?;
            match file {
                Some(p) if p.as_os_str() != "-" => {
                    std::fs::write(&p, &text)
                        .with_context(|| format!("writing {}", p.display()))?;
                    if json {
                        output::json_line(&serde_json::json!({ "file": p, "bytes": text.len() }))?;
                    } else {
                        eprintln!("configuration written to {}", p.display());
                    }
                }
                _ => print!("{text}"),
            }
        }
        ConfigAction::Import { file } => {
            let text = import.expect("read above");
            dev.config_import(&text)
                .with_context(|| format!("config import {}", file.display()))?;
            if !json {
                output::outln!("configuration imported from {}", file.display());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_says_when_it_applies_and_whether_it_was_saved() {
        let mut c = ConfigChange {
            key: protocol::text::truncate("fit.frames"),
            value: protocol::text::truncate("20"),
            apply: ConfigApply::Live,
            persisted: true,
        };
        assert_eq!(
            describe_change(&c),
            "fit.frames = 20 (applied now; saved on the device)"
        );
        c.apply = ConfigApply::Restart;
        c.persisted = false;
        let text = describe_change(&c);
        assert!(
            text.contains("after a restart") && text.contains("not saved"),
            "{text}"
        );
    }

    #[test]
    fn bare_words_are_quoted_literals_kept() {
        assert_eq!(as_toml_literal("cp-tv"), "\"cp-tv\"");
        assert_eq!(as_toml_literal("200"), "200");
        assert_eq!(as_toml_literal("0.5"), "0.5");
        assert_eq!(as_toml_literal("true"), "true");
        assert_eq!(as_toml_literal("\"x\""), "\"x\"");
    }
}
