//! [`RefitScheduler`]: the handle of the scheduler thread (see the module docs of `refit`):
//! frames in without blocking, requests and aborts answered by the thread, the status it
//! publishes, and shutdown.

use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::estimator::EstimatorFactory;
use super::request::{FitRequest, RefitError, RefitState, RefitStatus};
use super::worker::{Command, RefitShared, Worker};
use crate::frame::RawFrame;

/// Handle of the scheduler thread.
pub struct RefitScheduler {
    commands: Sender<Command>,
    frames: SyncSender<Arc<RawFrame>>,
    status: Arc<Mutex<RefitStatus>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RefitScheduler {
    /// Starts the scheduler thread.
    pub fn start(
        shared: RefitShared,
        factory: EstimatorFactory,
    ) -> std::io::Result<RefitScheduler> {
        let (ctx, crx) = mpsc::channel();
        let (ftx, frx) = mpsc::sync_channel(2);
        let status = Arc::new(Mutex::new(RefitStatus {
            state: RefitState::Idle,
            last: None,
            frames_held: 0,
        }));
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("dipnuc-refit".into())
            .spawn(move || Worker::new(shared, factory, st).run(crx, frx))?;
        Ok(RefitScheduler {
            commands: ctx,
            frames: ftx,
            status,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Offers a captured frame for the fit set (never blocks; dropped when the scheduler is busy).
    pub fn offer_frame(&self, frame: &Arc<RawFrame>) {
        let _ = self.frames.try_send(frame.clone());
    }

    /// Asks for a fit; returns the id it will have. It starts as soon as enough frames are
    /// collected.
    pub fn request(&self, req: FitRequest) -> Result<u32, RefitError> {
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Command::Request(req, tx))
            .map_err(|_| RefitError::Stopped)?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| RefitError::Stopped)?
    }

    /// Aborts the running or pending fit; returns whether there was one.
    pub fn abort(&self) -> bool {
        let (tx, rx) = mpsc::channel();
        if self.commands.send(Command::Abort(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
    }

    /// The current status.
    pub fn status(&self) -> RefitStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Aborts any fit and stops the thread (waits for the fit to return and for a pattern
    /// save in progress to finish). Later calls do nothing.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for RefitScheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}
