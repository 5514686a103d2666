//! Offline processing of frame folders: fit one pattern and write corrected frames
//! (`process`), and measure a method against clean ground truth (`eval`).

mod error;
mod eval;
mod folder;
mod process;

pub use error::OfflineError;
pub use eval::{EvalOptions, EvalReport, FrameMetrics, Metrics, eval};
pub use folder::{Folder, load_folder};
pub use process::{ProcessOptions, ProcessReport, process};
