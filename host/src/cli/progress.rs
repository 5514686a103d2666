//! A progress bar fed by the estimators' progress callback (hidden when stderr is not a
//! terminal, so scripts and tests get clean output).

use std::ops::ControlFlow;

use engine::nuc::FitProgress;
use indicatif::{ProgressBar, ProgressStyle};

pub struct FitBar {
    bar: ProgressBar,
    phase: Option<engine::nuc::Method>,
}

impl FitBar {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>7} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        FitBar { bar, phase: None }
    }

    /// The callback to hand to an estimator.
    pub fn update(&mut self, p: &FitProgress) -> ControlFlow<()> {
        if self.phase != Some(p.method) {
            self.phase = Some(p.method);
            self.bar.set_prefix(p.method.to_string());
            self.bar.set_length(u64::from(p.total_steps));
        }
        self.bar.set_position(u64::from(p.step));
        self.bar
            .set_message(format!("loss {:.4e}, {:.0} ms/it", p.loss, p.ms_per_step));
        ControlFlow::Continue(())
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for FitBar {
    fn default() -> Self {
        Self::new()
    }
}
