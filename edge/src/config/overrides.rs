//! The changes made over the link, kept in their own file in the state folder and layered over
//! the admin's configuration file, which the daemon never writes (it is the Debian conffile,
//! with the admin's comments and profiles). Only keys the link may change can be in it.

use std::path::Path;

use super::document::{insert, leaves, set_key};
use super::error::ConfigError;
use super::keys::{self, Apply, KEYS};
use super::load::read_table;
use super::sections::EdgeConfig;

const HEADER: &str = "\
# Changes made over the link (`dipnuc config set`, `dipnuc config import`), layered over the
# admin's configuration file. Written by dipnuc-edge; delete this file (and restart) to return
# to the admin's values.
";

/// Link-changeable keys whose value differs from the admin's file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overrides {
    table: toml::Table,
}

impl Overrides {
    /// The keys of `effective` that differ from `base`, for every key the link may change.
    pub fn between(base: &EdgeConfig, effective: &EdgeConfig) -> Overrides {
        let mut table = toml::Table::new();
        for spec in KEYS {
            if !spec.access.link_may_change() || spec.apply == Apply::Load {
                continue;
            }
            let new = spec.get(effective);
            if new != spec.get(base)
                && let Some(v) = new
            {
                insert(&mut table, spec.key, v);
            }
        }
        Overrides { table }
    }

    /// Reads an overrides file (none yet: no overrides). A key the link may not change is
    /// refused: the file must not become a way around the admin's file.
    pub fn read(path: &Path) -> Result<Overrides, ConfigError> {
        if !path.exists() {
            return Ok(Overrides::default());
        }
        let table = read_table(path)?;
        for (key, _) in leaves(&table) {
            match keys::spec(&key) {
                _ if keys::retired(&key).is_some() => {}
                Some(s) if s.access.link_may_change() => {}
                Some(_) => return Err(ConfigError::DeviceLocal { key }),
                None => return Err(ConfigError::UnknownKey { key }),
            }
        }
        Ok(Overrides { table })
    }

    /// `base` with the overrides applied, validated as a whole.
    pub fn apply_to(&self, base: &EdgeConfig) -> Result<EdgeConfig, ConfigError> {
        let mut cfg = base.clone();
        for (key, value) in leaves(&self.table) {
            if keys::retired(&key).is_none() {
                set_key(&mut cfg, &key, value)?;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The overridden keys.
    pub fn keys(&self) -> Vec<String> {
        leaves(&self.table).into_iter().map(|(k, _)| k).collect()
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Saves the overrides (atomically); with none, removes the file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if self.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let body = toml::to_string_pretty(&self.table).expect("a table serialises");
        formats::atomic::write_atomically(path, format!("{HEADER}\n{body}").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_link_keys_differing_from_the_base_are_kept_and_read_back() {
        let mut base = EdgeConfig::default();
        base.camera.source = crate::config::SourceKind::Sim;
        let mut eff = base.with_value("correction.offset", "12").unwrap();
        eff.pattern.store = "/elsewhere.dnp".into(); // device-local: never an override
        let o = Overrides::between(&base, &eff);
        assert_eq!(o.keys(), ["correction.offset"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/overrides.toml");
        o.save(&path).unwrap();
        let back = Overrides::read(&path).unwrap();
        assert_eq!(back, o);
        assert_eq!(back.apply_to(&base).unwrap().correction.offset, 12);
        Overrides::default().save(&path).unwrap();
        assert!(!path.exists());

        std::fs::write(&path, "[firmware]\npublic_key = \"00\"\n").unwrap();
        let e = Overrides::read(&path).unwrap_err();
        assert!(matches!(e, ConfigError::DeviceLocal { .. }), "{e}");
    }
}
