//! The current noise pattern: swapped atomically while frames keep flowing (readers on the
//! frame path take no lock, `arc-swap`), persisted so that a power cut never leaves a broken
//! file (temp file + fsync + rename + fsync of the folder; CRC in the file), reloaded at start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use formats::pattern::{PatternFileError, StoredPattern};

/// Why a pattern could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// Reading or writing the file failed.
    #[error("pattern file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid pattern.
    #[error("pattern file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: PatternFileError,
    },
    /// The pattern does not fit the camera.
    #[error("pattern is {got_w}x{got_h} but the camera delivers {want_w}x{want_h}; refused")]
    WrongSize {
        /// Pattern width.
        got_w: u32,
        /// Pattern height.
        got_h: u32,
        /// Camera width.
        want_w: u32,
        /// Camera height.
        want_h: u32,
    },
}

/// Reads and verifies a pattern file.
pub fn load_pattern(path: &Path) -> Result<StoredPattern, PatternError> {
    let bytes = std::fs::read(path).map_err(|source| PatternError::Io {
        path: path.into(),
        source,
    })?;
    StoredPattern::decode(&bytes).map_err(|source| PatternError::Invalid {
        path: path.into(),
        source,
    })
}

/// Writes a pattern file atomically: after a crash at any point the path holds either the
/// previous complete file or the new complete file.
pub fn save_pattern(path: &Path, pattern: &StoredPattern) -> Result<(), PatternError> {
    formats::atomic::write_atomically(path, &pattern.encode()).map_err(|source| PatternError::Io {
        path: path.into(),
        source,
    })
}

/// The pattern in use, shared by the capture loop (reader), the refit worker and the link
/// (writers).
pub struct PatternCache {
    current: ArcSwapOption<StoredPattern>,
    path: PathBuf,
    size: (u32, u32),
    save_lock: Mutex<()>,
}

impl PatternCache {
    /// An empty cache persisting to `path`, for frames of `size`.
    pub fn new(path: PathBuf, size: (u32, u32)) -> PatternCache {
        PatternCache {
            current: ArcSwapOption::empty(),
            path,
            size,
            save_lock: Mutex::new(()),
        }
    }

    /// Loads the stored pattern if there is one. A missing file is not an error (`Ok(false)`);
    /// a corrupt or wrong-size file is refused and left in place (the cache stays empty).
    pub fn load_stored(&self) -> Result<bool, PatternError> {
        if !self.path.exists() {
            return Ok(false);
        }
        let p = load_pattern(&self.path)?;
        self.check_size(&p)?;
        self.current.store(Some(Arc::new(p)));
        Ok(true)
    }

    fn check_size(&self, p: &StoredPattern) -> Result<(), PatternError> {
        if (p.width, p.height) != self.size || p.data.len() != p.width as usize * p.height as usize
        {
            return Err(PatternError::WrongSize {
                got_w: p.width,
                got_h: p.height,
                want_w: self.size.0,
                want_h: self.size.1,
            });
        }
        Ok(())
    }

    /// The current pattern (lock-free).
    pub fn current(&self) -> Option<Arc<StoredPattern>> {
        self.current.load_full()
    }

    /// Where the pattern is persisted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs a new pattern: checked for size, swapped in (frames use it from the next one
    /// on), then persisted. On a save error the new pattern stays in use and the error is
    /// returned so the caller can report it.
    pub fn install(&self, p: StoredPattern) -> Result<Arc<StoredPattern>, PatternError> {
        self.check_size(&p)?;
        let p = Arc::new(p);
        self.current.store(Some(p.clone()));
        let _guard = self.save_lock.lock().unwrap_or_else(|e| e.into_inner());
        save_pattern(&self.path, &p)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::pattern::PatternMeta;

    fn pat(w: u32, h: u32, v: f32) -> StoredPattern {
        StoredPattern {
            width: w,
            height: h,
            data: vec![v; (w * h) as usize],
            meta: PatternMeta::default(),
        }
    }

    #[test]
    fn install_persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/p.dnp");
        let cache = PatternCache::new(path.clone(), (4, 3));
        assert!(!cache.load_stored().unwrap());
        cache.install(pat(4, 3, 1.5)).unwrap();
        let again = PatternCache::new(path, (4, 3));
        assert!(again.load_stored().unwrap());
        assert_eq!(again.current().unwrap().data[0], 1.5);
    }

    #[test]
    fn wrong_size_and_corrupt_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.dnp");
        let cache = PatternCache::new(path.clone(), (4, 3));
        let e = cache.install(pat(5, 3, 0.0)).unwrap_err();
        assert!(e.to_string().contains("5x3"), "{e}");
        save_pattern(&path, &pat(5, 3, 0.0)).unwrap();
        assert!(matches!(
            cache.load_stored(),
            Err(PatternError::WrongSize { .. })
        ));
        std::fs::write(&path, b"DIPNUCPT garbage").unwrap();
        assert!(matches!(
            cache.load_stored(),
            Err(PatternError::Invalid { .. })
        ));
        assert!(cache.current().is_none());
    }
}
