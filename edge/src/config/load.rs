//! Reading configuration files: the admin's file with its board and camera profiles merged
//! underneath (the file's own keys win), then checked through the key table.

use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::sections::EdgeConfig;

impl EdgeConfig {
    /// Loads a config file, merges its profiles underneath, and validates it.
    pub fn load(path: &Path) -> Result<EdgeConfig, ConfigError> {
        let table = load_table_with_profiles(path)?;
        let cfg = EdgeConfig::from_table(&table)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates TOML text (no profile resolution beyond paths already absolute or
    /// relative to the working directory).
    pub fn from_toml_str(text: &str) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::from_toml_str_in(text, Path::new("."))
    }

    /// Parses and validates TOML text whose relative profile paths are relative to `dir` (the
    /// folder of the config file it stands for).
    pub fn from_toml_str_in(text: &str, dir: &Path) -> Result<EdgeConfig, ConfigError> {
        let table = parse_table(text, "config text")?;
        let table = merge_profiles(table, dir)?;
        let cfg = EdgeConfig::from_table(&table)?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Parses TOML text into a table; `origin` names it in the error.
pub(crate) fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
        origin: origin.to_string(),
        message: e.to_string().trim().to_string(),
    })
}

/// Reads and parses a TOML file.
pub(crate) fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_table(&text, &path.display().to_string())
}

fn load_table_with_profiles(path: &Path) -> Result<toml::Table, ConfigError> {
    let table = read_table(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    merge_profiles(table, dir)
}

/// Resolves a profile path: absolute, relative to the referencing file's folder, or relative to
/// the working directory (so `boards/cameras/lepton35.toml` works from the repository root).
fn resolve_profile(key: &str, raw: &Path, dir: &Path) -> Result<PathBuf, ConfigError> {
    if raw.is_absolute() {
        return Ok(raw.to_path_buf());
    }
    let candidates = [dir.join(raw), raw.to_path_buf()];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            ConfigError::invalid(
                key,
                format!(
                    "profile {} not found (looked in {} and the working directory)",
                    raw.display(),
                    dir.display()
                ),
            )
        })
}

/// Merges the profiles named by `table` underneath it: the file's own keys win.
fn merge_profiles(table: toml::Table, dir: &Path) -> Result<toml::Table, ConfigError> {
    let mut refs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(p) = table.get("profile") {
        let s = p
            .as_str()
            .ok_or_else(|| ConfigError::invalid("profile", "must be a path string"))?;
        refs.push(("profile".into(), PathBuf::from(s)));
    }
    if let Some(list) = table.get("profiles") {
        let arr = list
            .as_array()
            .ok_or_else(|| ConfigError::invalid("profiles", "must be a list of paths"))?;
        for v in arr {
            let s = v
                .as_str()
                .ok_or_else(|| ConfigError::invalid("profiles", "must be a list of paths"))?;
            refs.push(("profiles".into(), PathBuf::from(s)));
        }
    }
    if let Some(p) = table.get("camera").and_then(|c| c.get("profile")) {
        let s = p
            .as_str()
            .ok_or_else(|| ConfigError::invalid("camera.profile", "must be a path string"))?;
        refs.push(("camera.profile".into(), PathBuf::from(s)));
    }
    let mut base = toml::Table::new();
    for (key, raw) in refs {
        let path = resolve_profile(&key, &raw, dir)?;
        let mut profile = read_table(&path)?;
        // A profile may not pull in further profiles: keeps resolution obvious and cycle-free.
        profile.remove("profile");
        profile.remove("profiles");
        if key == "camera.profile" {
            // A camera profile is written either with a [camera] section or bare camera keys.
            let camera = match profile.remove("camera") {
                Some(toml::Value::Table(t)) => t,
                _ => profile,
            };
            let mut wrapped = toml::Table::new();
            wrapped.insert("camera".into(), toml::Value::Table(camera));
            deep_merge(&mut base, wrapped);
        } else {
            deep_merge(&mut base, profile);
        }
    }
    deep_merge(&mut base, table);
    Ok(base)
}

/// Merges `top` over `base`: tables merge key by key, anything else is replaced.
fn deep_merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => deep_merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CameraConfig, Secrets};
    use engine::nuc::Method;

    #[test]
    fn profiles_merge_under_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cameras")).unwrap();
        std::fs::write(
            dir.path().join("cameras/cam.toml"),
            "name = \"cam\"\nwidth = 320\nheight = 256\nfps = 60.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("board.toml"),
            "[device]\nboard = \"b\"\n[fit]\nmethod = \"colmean\"\n",
        )
        .unwrap();
        let main = dir.path().join("edge.toml");
        std::fs::write(
            &main,
            "profile = \"board.toml\"\n[camera]\nprofile = \"cameras/cam.toml\"\nsource = \"sim\"\nfps = 30.0\n",
        )
        .unwrap();
        let cfg = EdgeConfig::load(&main).unwrap();
        assert_eq!(cfg.camera.width, 320);
        assert_eq!(cfg.camera.name, "cam");
        assert_eq!(cfg.camera.fps, 30.0);
        assert_eq!(cfg.device.board, "b");
        assert_eq!(cfg.fit.method, Method::ColMean);

        // An export is self-contained: it imports from anywhere, profiles already merged.
        let exported = cfg.to_toml(Secrets::Include);
        assert!(!exported.contains("profile"), "{exported}");
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            EdgeConfig::from_toml_str_in(&exported, elsewhere.path()).unwrap(),
            EdgeConfig {
                profile: None,
                profiles: Vec::new(),
                camera: CameraConfig {
                    profile: None,
                    ..cfg.camera.clone()
                },
                ..cfg.clone()
            }
        );
        // Relative profile paths in imported text resolve against the config's folder.
        let text = "profile = \"board.toml\"\n[camera]\nsource = \"sim\"\n";
        assert_eq!(
            EdgeConfig::from_toml_str_in(text, dir.path())
                .unwrap()
                .device
                .board,
            "b"
        );

        std::fs::write(&main, "profile = \"missing.toml\"\n").unwrap();
        let e = EdgeConfig::load(&main).unwrap_err();
        assert_eq!(e.key(), Some("profile"), "{e}");
    }
}
