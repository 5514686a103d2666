//! Ctrl-C as a flag: the first press sets it (commands then abort the device operation and
//! exit cleanly); a second press exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process-wide Ctrl-C flag (installs the handler on first use).
pub fn flag() -> Arc<AtomicBool> {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let installed = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(super::exit::INTERRUPTED));
            }
        });
        if let Err(e) = installed {
            tracing::warn!(error = %e, "cannot install the Ctrl-C handler");
        }
        flag
    })
    .clone()
}
