//! Catching a daemon inside a file write. Every file the daemon saves goes through
//! `formats::atomic::write_atomically`: the bytes go to a hidden temporary beside the target,
//! which is synced and then renamed over it. [`WriteWatch`] watches the folders of one or more
//! targets (inotify) and wakes the moment one's temporary is opened or written to, so a crash
//! test can kill the daemon right then, rather than after a guessed delay; afterwards the
//! temporary tells whether the kill landed inside the write window: it is still there when the
//! rename that ends the write never happened.

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

/// The point of the write at which the test acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePhase {
    /// The temporary was just opened for writing (created, or truncated when an earlier
    /// crash left one behind), nothing written yet.
    Opened,
    /// Bytes are being written to the temporary (or synced).
    Writing,
}

/// A watch on the atomic writes of some targets (see the module docs).
#[derive(Debug)]
pub struct WriteWatch {
    fd: OwnedFd,
    /// Each target's temporary, with the watch on its folder.
    temporaries: Vec<(i32, PathBuf)>,
}

impl WriteWatch {
    /// Watches the folders of `targets`, which must exist.
    pub fn new(targets: &[&Path]) -> anyhow::Result<WriteWatch> {
        let fd =
            inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).context("inotify_init")?;
        let mut temporaries = Vec::new();
        for target in targets {
            let temporary = formats::atomic::temp_path(target);
            let dir = temporary.parent().context("target has a folder")?;
            let wd = inotify::add_watch(&fd, dir, WatchFlags::OPEN | WatchFlags::MODIFY)
                .with_context(|| format!("watching {}", dir.display()))?;
            temporaries.push((wd, temporary));
        }
        Ok(WriteWatch { fd, temporaries })
    }

    /// Blocks until a target's temporary reaches `phase` and returns its path (check it with
    /// `exists()` after acting); fails after `timeout`.
    pub fn wait(&self, phase: WritePhase, timeout: Duration) -> anyhow::Result<PathBuf> {
        let want = match phase {
            WritePhase::Opened => ReadFlags::OPEN,
            WritePhase::Writing => ReadFlags::MODIFY,
        };
        let deadline = Instant::now() + timeout;
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .with_context(|| format!("no write of the watched files within {timeout:?}"))?;
            let ts = Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            poll(&mut fds, Some(&ts)).context("poll on inotify")?;
            let mut events = inotify::Reader::new(&self.fd, &mut buf);
            loop {
                match events.next() {
                    Ok(ev) => {
                        if !ev.events().contains(want) {
                            continue;
                        }
                        let Some(name) = ev.file_name() else { continue };
                        let name = name.to_string_lossy();
                        // Folders may repeat a name (slot-a/x, slot-b/x): match the watch too.
                        let hit = self.temporaries.iter().find(|(wd, t)| {
                            *wd == ev.wd()
                                && t.file_name().is_some_and(|n| n.to_string_lossy() == name)
                        });
                        if let Some((_, t)) = hit {
                            return Ok(t.clone());
                        }
                    }
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(e) => bail!("reading inotify events: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_the_temporary_of_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let (a, b) = (dir.path().join("a/x.bin"), dir.path().join("b/x.bin"));
        let w = WriteWatch::new(&[&a, &b]).unwrap();
        // Other files in the folders do not count.
        std::fs::write(dir.path().join("a/other"), b"x").unwrap();
        assert!(
            w.wait(WritePhase::Opened, Duration::from_millis(50))
                .is_err()
        );
        let target = b.clone();
        let writer = std::thread::spawn(move || {
            formats::atomic::write_atomically(&target, b"bytes").unwrap();
        });
        let hit = w
            .wait(WritePhase::Writing, Duration::from_secs(30))
            .unwrap();
        assert_eq!(hit, formats::atomic::temp_path(&b));
        writer.join().unwrap();
        assert!(!hit.exists(), "a finished write leaves no temporary");
    }
}
