//! The configuration as a TOML document, through the key table: reading a table (unknown and
//! mistyped keys refused by name), writing one (secrets left out on request), dotted `get` and
//! `set`, and whole-config validation.

use tracing::warn;

use super::error::ConfigError;
use super::keys::{self, Apply, KEYS};
use super::sections::EdgeConfig;

/// Whether secrets are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Written (a file that stays on the device).
    Include,
    /// Left out (what goes over the link).
    Redact,
}

/// What a redacted secret reads as over the link.
pub const REDACTED: &str = "<redacted>";

/// Every leaf of `table` as `(dotted key, value)`, in document order. A TOML table is always a
/// section: no key holds a table.
pub(crate) fn leaves(table: &toml::Table) -> Vec<(String, &toml::Value)> {
    fn walk<'a>(prefix: &str, t: &'a toml::Table, out: &mut Vec<(String, &'a toml::Value)>) {
        for (k, v) in t {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(sub) => walk(&path, sub, out),
                leaf => out.push((path, leaf)),
            }
        }
    }
    let mut out = Vec::new();
    walk("", table, &mut out);
    out
}

/// Puts `value` at the dotted `key` of `table`, creating the sections on the way.
pub(crate) fn insert(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts = key.split('.').peekable();
    let mut cur = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return;
        }
        let next = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !next.is_table() {
            *next = toml::Value::Table(toml::Table::new());
        }
        cur = next.as_table_mut().expect("made a table above");
    }
}

/// Parses a TOML literal; a bare word that is not valid TOML is taken as a string, so
/// `fit.method = cp-tv` works as well as `"cp-tv"`.
pub(crate) fn parse_literal(text: &str) -> Result<toml::Value, String> {
    let doc = format!("v = {text}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => Ok(t.remove("v").expect("key v was just written")),
        Err(e) => {
            let bare = text.trim();
            if !bare.is_empty()
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:/.".contains(c))
            {
                Ok(toml::Value::String(bare.to_string()))
            } else {
                Err(format!("{text:?} is not a TOML value: {}", e.message()))
            }
        }
    }
}

/// Sets the dotted `key` of `cfg` to `value` (type and range of the key; no cross-key check).
pub(crate) fn set_key(
    cfg: &mut EdgeConfig,
    key: &str,
    value: &toml::Value,
) -> Result<(), ConfigError> {
    match keys::spec(key) {
        Some(spec) => spec
            .set(cfg, value)
            .map_err(|reason| ConfigError::invalid(key, reason)),
        None if keys::is_section(key) => Err(ConfigError::invalid(
            key,
            "is a section; set its keys one by one",
        )),
        None => Err(ConfigError::UnknownKey { key: key.into() }),
    }
}

impl EdgeConfig {
    /// The configuration in `table` over the defaults: every leaf must be a known key of the
    /// right type (retired keys are skipped with a warning). Not validated as a whole.
    pub(crate) fn from_table(table: &toml::Table) -> Result<EdgeConfig, ConfigError> {
        let mut cfg = EdgeConfig::default();
        for (key, value) in leaves(table) {
            if let Some(why) = keys::retired(&key) {
                warn!(%key, "configuration key ignored: {why}");
                continue;
            }
            set_key(&mut cfg, &key, value)?;
        }
        Ok(cfg)
    }

    /// The configuration as a TOML table: every key that is set, profiles left out (they are
    /// merged in already), secrets left out unless included.
    pub fn to_table(&self, secrets: Secrets) -> toml::Table {
        let mut table = toml::Table::new();
        for spec in KEYS {
            if spec.apply == Apply::Load || (secrets == Secrets::Redact && spec.access.is_secret())
            {
                continue;
            }
            if let Some(v) = spec.get(self) {
                insert(&mut table, spec.key, v);
            }
        }
        table
    }

    /// The configuration as TOML text (see [`EdgeConfig::to_table`]): it stands on its own
    /// wherever it is imported or saved.
    pub fn to_toml(&self, secrets: Secrets) -> String {
        let mut text = String::new();
        let left_out: Vec<&str> = KEYS
            .iter()
            .filter(|s| secrets == Secrets::Redact && s.access.is_secret() && s.get(self).is_some())
            .map(|s| s.key)
            .collect();
        if !left_out.is_empty() {
            text.push_str(&format!(
                "# Not exported (secret, kept on the device): {}\n\n",
                left_out.join(", ")
            ));
        }
        text.push_str(
            &toml::to_string_pretty(&self.to_table(secrets)).expect("a table serialises"),
        );
        text
    }

    /// The value at a dotted key, as it is on the device (secrets included).
    pub fn get(&self, key: &str) -> Result<toml::Value, ConfigError> {
        match keys::spec(key) {
            Some(spec) => spec
                .get(self)
                .ok_or_else(|| ConfigError::Unset { key: key.into() }),
            None if keys::is_section(key) => Err(ConfigError::invalid(
                key,
                "is a section; get its keys one by one",
            )),
            None => Err(ConfigError::UnknownKey { key: key.into() }),
        }
    }

    /// The value at a dotted key as TOML literal text (`8192`, `"cp-tv"`, `[[1, 2]]`), secrets
    /// redacted: what the link may see.
    pub fn get_text(&self, key: &str) -> Result<String, ConfigError> {
        let value = self.get(key)?;
        if keys::spec(key).is_some_and(|s| s.access.is_secret()) {
            return Ok(toml::Value::String(REDACTED.into()).to_string());
        }
        Ok(value.to_string())
    }

    /// A copy with the dotted key set to `value` (TOML literal text; bare words are taken as
    /// strings), validated as a whole. `self` is unchanged on error.
    pub fn with_value(&self, key: &str, value: &str) -> Result<EdgeConfig, ConfigError> {
        let parsed = parse_literal(value).map_err(|reason| ConfigError::invalid(key, reason))?;
        let mut new = self.clone();
        set_key(&mut new, key, &parsed)?;
        new.validate()?;
        Ok(new)
    }

    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for spec in KEYS {
            spec.check(self)
                .map_err(|reason| ConfigError::invalid(spec.key, reason))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::nuc::Method;

    fn sim() -> EdgeConfig {
        EdgeConfig::from_toml_str(
            "[camera]\nsource = \"sim\"\nwidth = 64\nheight = 48\n[pattern]\nstore = \"/tmp/x.dnp\"\n",
        )
        .unwrap()
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            EdgeConfig::from_toml_str("[correction]\noffset = 99999\n[camera]\nsource = \"sim\"")
                .unwrap_err();
        assert_eq!(e.key(), Some("correction.offset"), "{e}");
        assert!(
            e.to_string().starts_with("correction.offset: must be"),
            "{e}"
        );

        let e = EdgeConfig::from_toml_str("[camera]\nsource = \"v4l2\"").unwrap_err();
        assert_eq!(e.key(), Some("camera.device"));

        let e = EdgeConfig::from_toml_str("[camera]\nsource = \"sim\"\nwidht = 3").unwrap_err();
        assert_eq!(e.to_string(), "camera.widht: unknown configuration key");

        for (text, key) in [
            ("[fit]\nmethod = \"magic\"", "fit.method"),
            // A bad preset is refused when it is written, not at the next fit.
            ("[fit]\npreset = \"thorough\"", "fit.preset"),
            ("[fit]\ndevice = \"gpu\"", "fit.device"),
            ("fit = 3", "fit"),
        ] {
            let e = EdgeConfig::from_toml_str(&format!("{text}\n[camera]\nsource = \"sim\""))
                .unwrap_err();
            assert_eq!(e.key(), Some(key), "{e}");
        }
        // A retired key is ignored, not refused.
        assert!(
            EdgeConfig::from_toml_str("[camera]\nsource = \"sim\"\n[gpio]\nshutter_pin = 3\n")
                .is_ok()
        );
    }

    #[test]
    fn dotted_get_and_set() {
        let cfg = sim();
        assert_eq!(cfg.get_text("camera.width").unwrap(), "64");
        assert_eq!(cfg.get_text("fit.method").unwrap(), "\"cp-tv\"");
        let c2 = cfg.with_value("fit.method", "colmean").unwrap();
        assert_eq!(c2.fit.method, Method::ColMean);
        let c3 = c2.with_value("correction.offset", "100").unwrap();
        assert_eq!(c3.correction.offset, 100);
        let e = cfg.with_value("correction.offset", "1e9").unwrap_err();
        assert_eq!(e.key(), Some("correction.offset"));
        let e = cfg.with_value("correction.offset", "\"abc\"").unwrap_err();
        assert_eq!(e.key(), Some("correction.offset"), "{e}");
        let e = cfg.with_value("fit.preset", "thorough").unwrap_err();
        assert!(e.to_string().contains("paper, fast, refine"), "{e}");
        assert!(matches!(
            cfg.with_value("camera.nope", "1"),
            Err(ConfigError::UnknownKey { .. })
        ));
        assert!(matches!(
            cfg.get("outputs.loopback"),
            Err(ConfigError::Unset { .. })
        ));
        assert!(cfg.with_value("fit.budget", "1").is_err());
        let c4 = cfg
            .with_value("outputs.loopback", "\"/dev/video9\"")
            .unwrap();
        assert_eq!(c4.get_text("outputs.loopback").unwrap(), "\"/dev/video9\"");
        let c5 = cfg
            .with_value("link.tcp.listen", "\"127.0.0.1:0\"")
            .unwrap();
        assert_eq!(c5.link.tcp.listen.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn a_public_listen_address_needs_a_token_or_an_explicit_yes() {
        let cfg = sim();
        let e = cfg
            .with_value("link.tcp.listen", "\"0.0.0.0:7700\"")
            .unwrap_err();
        assert_eq!(e.key(), Some("link.tcp.listen"), "{e}");
        assert!(e.to_string().contains("link.tcp.token"), "{e}");
        let with_token = cfg.with_value("link.tcp.token", "\"t\"").unwrap();
        assert!(
            with_token
                .with_value("link.tcp.listen", "\"0.0.0.0:7700\"")
                .is_ok()
        );
        let allowed = cfg
            .with_value("link.tcp.allow_unauthenticated", "true")
            .unwrap();
        assert!(
            allowed
                .with_value("link.tcp.listen", "\"[::]:7700\"")
                .is_ok()
        );
        assert!(cfg.with_value("link.tcp.listen", "\"[::1]:7700\"").is_ok());
    }

    #[test]
    fn floats_read_back_as_written() {
        let cfg = sim()
            .with_value("fit.triggers.roughness_rise", "0.3")
            .unwrap();
        assert_eq!(cfg.get_text("fit.triggers.roughness_rise").unwrap(), "0.3");
        assert!(
            cfg.to_toml(Secrets::Include)
                .contains("drift_per_c = 0.04\n")
        );
    }

    #[test]
    fn export_round_trips_and_redacts_secrets() {
        let cfg = sim()
            .with_value("correction.bad_pixels", "[[1, 2]]")
            .unwrap()
            .with_value("link.tcp.token", "\"s3cret\"")
            .unwrap();
        let full = cfg.to_toml(Secrets::Include);
        assert_eq!(EdgeConfig::from_toml_str(&full).unwrap(), cfg);
        let redacted = cfg.to_toml(Secrets::Redact);
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(
            redacted.starts_with("# Not exported (secret, kept on the device): link.tcp.token")
        );
        assert_eq!(cfg.get_text("link.tcp.token").unwrap(), "\"<redacted>\"");
        assert_eq!(cfg.get("link.tcp.token").unwrap().as_str(), Some("s3cret"));
    }
}
