//! 16-bit PNG snapshots: encoding (also used for link snapshots) and a background writer that
//! saves corrected frames periodically, keeping the newest `keep` files, without ever making
//! the frame loop wait for the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use tracing::warn;

/// Encodes a grey 16-bit frame as PNG bytes.
pub fn encode_png16(width: u32, height: u32, data: &[u16]) -> Result<Vec<u8>, String> {
    let mut out = std::io::Cursor::new(Vec::new());
    let img = image::ImageBuffer::<image::Luma<u16>, &[u16]>::from_raw(width, height, data)
        .ok_or_else(|| format!("{} values do not make a {width}x{height} frame", data.len()))?;
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// Writes a 16-bit PNG atomically (temp file + rename).
pub fn write_png16(path: &Path, width: u32, height: u32, data: &[u16]) -> Result<(), String> {
    let bytes = encode_png16(width, height, data)?;
    formats::atomic::write_atomically(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

struct Job {
    name: String,
    width: u32,
    height: u32,
    data: Arc<Vec<u16>>,
}

/// Saves snapshots in a thread of its own.
pub struct SnapshotWriter {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotWriter {
    /// A writer into `dir` (created if needed) keeping the newest `keep` snapshots.
    pub fn start(dir: PathBuf, keep: usize) -> std::io::Result<SnapshotWriter> {
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = sync_channel::<Job>(1);
        let thread = std::thread::Builder::new()
            .name("dipnuc-snapshot".into())
            .spawn(move || {
                for job in rx {
                    let path = dir.join(&job.name);
                    if let Err(e) = write_png16(&path, job.width, job.height, &job.data) {
                        warn!(error = %e, "snapshot not written");
                    }
                    prune(&dir, keep);
                }
            })?;
        Ok(SnapshotWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a snapshot; skipped (returns false) while the previous one is still being written.
    pub fn submit(&self, name: String, width: u32, height: u32, data: Arc<Vec<u16>>) -> bool {
        self.tx.as_ref().is_some_and(|tx| {
            tx.try_send(Job {
                name,
                width,
                height,
                data,
            })
            .is_ok()
        })
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // Closing the channel lets the thread finish the write in progress, then exit.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "png")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("snapshot-"))
        })
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for old in &files[..files.len() - keep] {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png16_round_trips_and_old_snapshots_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u16> = (0..12).map(|v| v * 1000).collect();
        let w = SnapshotWriter::start(dir.path().to_path_buf(), 2).unwrap();
        for i in 0..4 {
            while !w.submit(format!("snapshot-{i}.png"), 4, 3, Arc::new(data.clone())) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        drop(w);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["snapshot-2.png", "snapshot-3.png"]);
        let img = image::open(dir.path().join("snapshot-3.png"))
            .unwrap()
            .into_luma16();
        assert_eq!(img.into_raw(), data);
    }
}
