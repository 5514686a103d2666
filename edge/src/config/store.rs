//! [`ConfigStore`]: what the link may do with the configuration. It holds the admin's file as
//! loaded (never written), the configuration as configured (that file with the link's changes
//! over it, saved in the overrides file in the state folder), and the live configuration the
//! running daemon uses: a change to a live key is copied into it at once, a change to a
//! restart key waits for the next start. Reads redact secrets; changes to device-local keys
//! (trust anchors, secrets, paths) are refused; every change is validated as a whole before
//! anything applies.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{error, info, warn};

use super::document::{Secrets, leaves, set_key};
use super::error::ConfigError;
use super::keys::{self, Apply, KEYS};
use super::live::LiveConfig;
use super::load::parse_table;
use super::overrides::Overrides;
use super::sections::EdgeConfig;

/// What a `config set` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    /// The key.
    pub key: String,
    /// The value now configured, as TOML literal text (secrets never: they cannot be set).
    pub value: String,
    /// `Live` when the running daemon uses it now; `Restart` when it applies at the next start
    /// (a restart key, or a live key that depends on a restart change still pending).
    pub apply: Apply,
    /// Whether it was saved to the overrides file (survives a restart).
    pub persisted: bool,
}

/// What a `config import` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigImport {
    /// Keys whose configured value differs from the running one until a restart.
    pub restart_keys: Vec<&'static str>,
    /// Whether it was saved to the overrides file.
    pub persisted: bool,
}

/// The configuration as the link sees and changes it.
pub struct ConfigStore {
    live: LiveConfig,
    base: EdgeConfig,
    configured: Mutex<EdgeConfig>,
    overrides_path: Option<PathBuf>,
}

impl ConfigStore {
    /// The admin's configuration `base` (validated) with the overrides saved in
    /// `overrides_path` layered over it; `None` keeps link changes in memory only. An overrides
    /// file that no longer applies (a key refused, a value the admin's file now contradicts)
    /// is set aside as `<file>.rejected` and the admin's configuration is used.
    pub fn open(base: EdgeConfig, overrides_path: Option<PathBuf>) -> ConfigStore {
        let mut effective = base.clone();
        if let Some(path) = &overrides_path {
            match Overrides::read(path).and_then(|o| Ok((o.apply_to(&base)?, o))) {
                Ok((cfg, o)) => {
                    if !o.is_empty() {
                        info!(path = %path.display(), keys = ?o.keys(),
                              "configuration changes made over the link applied");
                    }
                    effective = cfg;
                }
                Err(e) => {
                    let aside = path.with_extension("toml.rejected");
                    error!(path = %path.display(), error = %e, aside = %aside.display(),
                           "link overrides refused; using the admin's configuration");
                    if let Err(e) = std::fs::rename(path, &aside) {
                        warn!(error = %e, "cannot set the refused overrides aside");
                    }
                }
            }
        }
        ConfigStore {
            live: LiveConfig::new(effective.clone()),
            base,
            configured: Mutex::new(effective),
            overrides_path,
        }
    }

    /// The live configuration, for the parts of the daemon that read it.
    pub fn live(&self) -> &LiveConfig {
        &self.live
    }

    /// The configuration the running daemon uses.
    pub fn current(&self) -> Arc<EdgeConfig> {
        self.live.load()
    }

    fn lock(&self) -> MutexGuard<'_, EdgeConfig> {
        self.configured.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration as configured: the admin's file with the link's changes; what the
    /// daemon runs with after its next start.
    pub fn configured(&self) -> EdgeConfig {
        self.lock().clone()
    }

    /// Keys whose value comes from the link rather than the admin's file.
    pub fn overridden_keys(&self) -> Vec<String> {
        Overrides::between(&self.base, &self.lock()).keys()
    }

    /// `config get`: the configured value as TOML literal text; a secret reads as
    /// `"<redacted>"`.
    pub fn get(&self, key: &str) -> Result<String, ConfigError> {
        self.lock().get_text(key)
    }

    /// `config export`: the configuration as configured, as self-contained TOML, secrets left
    /// out.
    pub fn export(&self) -> String {
        self.lock().to_toml(Secrets::Redact)
    }

    /// `config set`: validated as a whole, saved to the overrides file, applied now when the
    /// key is live. A device-local key is refused.
    pub fn set(&self, key: &str, value: &str) -> Result<ConfigChange, ConfigError> {
        let spec = keys::spec(key);
        if let Some(spec) = spec
            && (!spec.access.link_may_change() || spec.apply == Apply::Load)
        {
            return Err(ConfigError::DeviceLocal { key: key.into() });
        }
        let mut configured = self.lock();
        let new = configured.with_value(key, value)?;
        let value = new.get_text(key)?;
        let (persisted, live) = self.commit(&mut configured, new);
        let apply = match spec.map(|s| s.apply) {
            Some(Apply::Live) if live => Apply::Live,
            _ => Apply::Restart,
        };
        info!(%key, %value, ?apply, persisted, "configuration changed over the link");
        Ok(ConfigChange {
            key: key.into(),
            value,
            apply,
            persisted,
        })
    }

    /// `config import`: TOML text holding the keys the link may change, over the admin's file
    /// (keys it leaves out take the admin's value). Device-local keys may appear only with the
    /// device's own value (an export carries them); secrets may not appear at all.
    pub fn import(&self, text: &str) -> Result<ConfigImport, ConfigError> {
        let table = parse_table(text, "imported config")?;
        let mut configured = self.lock();
        let mut new = self.base.clone();
        for (key, value) in leaves(&table) {
            if let Some(why) = keys::retired(&key) {
                warn!(%key, "imported key ignored: {why}");
                continue;
            }
            match keys::spec(&key) {
                Some(spec) if spec.access.link_may_change() && spec.apply != Apply::Load => {
                    set_key(&mut new, &key, value)?;
                }
                Some(spec) if spec.access.is_secret() => {
                    return Err(ConfigError::DeviceLocal { key });
                }
                Some(spec) => {
                    let mut probe = configured.clone();
                    set_key(&mut probe, &key, value)?;
                    if spec.get(&probe) != spec.get(&configured) {
                        return Err(ConfigError::DeviceLocal { key });
                    }
                }
                None => set_key(&mut new, &key, value)?,
            }
        }
        new.validate()?;
        let (persisted, _) = self.commit(&mut configured, new);
        let running = self.live.load();
        let restart_keys = KEYS
            .iter()
            .filter(|s| s.apply != Apply::Load && s.get(&configured) != s.get(&running))
            .map(|s| s.key)
            .collect();
        info!(
            persisted,
            ?restart_keys,
            "configuration imported over the link"
        );
        Ok(ConfigImport {
            restart_keys,
            persisted,
        })
    }

    /// Saves what differs from the admin's file, makes `new` the configured configuration,
    /// and copies its live keys into the running one. Returns whether it was saved (a failed
    /// save is logged; the change applies anyway) and whether the live keys could apply now
    /// (not when they depend on a restart change still pending, e.g. bad pixels inside a new
    /// frame size: then they wait for the restart too).
    fn commit(&self, configured: &mut EdgeConfig, new: EdgeConfig) -> (bool, bool) {
        let persisted = match &self.overrides_path {
            Some(path) => match Overrides::between(&self.base, &new).save(path) {
                Ok(()) => true,
                Err(e) => {
                    warn!(path = %path.display(), error = %e,
                          "configuration change applied but not saved");
                    false
                }
            },
            None => false,
        };
        let mut running = (*self.live.load()).clone();
        for spec in KEYS.iter().filter(|s| s.apply == Apply::Live) {
            spec.copy(&mut running, &new);
        }
        let live = match running.validate() {
            Ok(()) => {
                self.live.store(running);
                true
            }
            Err(e) => {
                warn!(error = %e, "live keys wait for the restart changes they depend on");
                false
            }
        };
        *configured = new;
        (persisted, live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EdgeConfig {
        EdgeConfig::from_toml_str(
            "[camera]\nsource = \"sim\"\nwidth = 64\nheight = 48\nfps = 50.0\n[pattern]\nstore = \"/tmp/x.dnp\"\n\
             [link.tcp]\nlisten = \"127.0.0.1:0\"\ntoken = \"s3cret\"\n[fit]\nmethod = \"colmean\"\n",
        )
        .unwrap()
    }

    #[test]
    fn set_reports_how_it_applies_and_refuses_device_local_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.toml");
        let store = ConfigStore::open(base(), Some(path.clone()));
        let c = store.set("fit.frames", "20").unwrap();
        assert_eq!(
            (c.value.as_str(), c.apply, c.persisted),
            ("20", Apply::Live, true)
        );
        let c = store.set("camera.fps", "25").unwrap();
        assert_eq!(c.apply, Apply::Restart);
        assert_eq!(store.get("camera.fps").unwrap(), "25.0", "configured");
        assert_eq!(
            store.current().camera.fps,
            50.0,
            "running: until the restart"
        );
        assert_eq!(store.current().fit.frames, 20, "a live key applies at once");
        // A live key that depends on a pending restart change waits for it too.
        store.set("camera.width", "128").unwrap();
        let c = store.set("correction.bad_pixels", "[[100, 1]]").unwrap();
        assert_eq!(c.apply, Apply::Restart);
        assert!(store.current().correction.bad_pixels.is_empty());
        for key in [
            "firmware.public_key",
            "firmware.slots_dir",
            "link.tcp.token",
            "pattern.store",
            "device.state_dir",
            "profile",
        ] {
            let e = store.set(key, "\"/x\"").unwrap_err();
            assert!(matches!(e, ConfigError::DeviceLocal { .. }), "{key}: {e}");
            assert!(e.to_string().contains("config file on the device"), "{e}");
        }
        assert_eq!(store.get("link.tcp.token").unwrap(), "\"<redacted>\"");
        assert!(!store.export().contains("s3cret"));
        // The overrides survive a restart.
        let again = ConfigStore::open(base(), Some(path));
        assert_eq!(again.current().fit.frames, 20);
        assert_eq!(again.current().camera.fps, 25.0);
        assert_eq!(again.current().correction.bad_pixels, [[100, 1]]);
        assert_eq!(
            again.overridden_keys(),
            [
                "camera.width",
                "camera.fps",
                "correction.bad_pixels",
                "fit.frames"
            ]
        );
    }

    #[test]
    fn overrides_that_no_longer_apply_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.toml");
        // A device-local key (written by hand or by an older build) is never taken from it.
        std::fs::write(&path, "[firmware]\nslots_dir = \"/tmp/evil\"\n").unwrap();
        let store = ConfigStore::open(base(), Some(path.clone()));
        assert_eq!(store.configured(), base());
        assert!(!path.exists());
        assert!(
            dir.path().join("overrides.toml.rejected").exists(),
            "kept, not lost"
        );
    }

    #[test]
    fn an_import_of_an_export_reproduces_the_effective_config() {
        let store = ConfigStore::open(base(), None);
        store.set("correction.offset", "5").unwrap();
        let before = store.configured();
        let exported = store.export();
        store.set("correction.offset", "9").unwrap();
        store.import(&exported).unwrap();
        assert_eq!(store.configured(), before);
        assert_eq!(*store.current(), before, "all of it live");

        // A partial import falls back to the admin's values; a device-local key that differs
        // and any secret are refused, and nothing changes.
        store.import("[correction]\nenabled = false\n").unwrap();
        assert_eq!(store.current().correction.offset, 0);
        assert_eq!(store.current().fit.method, engine::nuc::Method::ColMean);
        let now = store.current();
        for text in [
            "[firmware]\npublic_key = \"00\"\n",
            "[link.tcp]\ntoken = \"s3cret\"\n",
            "[correction]\noffset = 99999\n",
        ] {
            assert!(store.import(text).is_err(), "{text}");
            assert_eq!(store.current(), now);
        }
    }
}
