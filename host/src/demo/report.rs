//! The demo's measurements and their two renderings: `report.json` (for scripts and tests)
//! and `report.md` (for people).

use std::fmt::Write as _;

use serde::Serialize;

/// Quality of one frame against the simulator's clean scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameQuality {
    /// Frame sequence number.
    pub seq: u64,
    /// PSNR in dB, data range = the clean frame's max − min, after removing the global offset
    /// (the DC level of a pattern is not identifiable from the frames).
    pub psnr_db: f64,
    /// PSNR after min-max normalising both images (as the reference notebooks report it).
    pub psnr_minmax_db: f64,
    /// Roughness ρ = (‖∇ₓI‖₁ + ‖∇ᵧI‖₁) / ‖I‖₁ (lower is smoother).
    pub roughness: f64,
}

/// Everything the demo measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoReport {
    /// Camera (simulated) frame size.
    pub width: usize,
    /// Camera height.
    pub height: usize,
    /// Link the demo talked over.
    pub link: String,
    /// Fit method and preset used.
    pub method: String,
    /// Preset used.
    pub preset: String,
    /// Fit wall-time limit given to the device, s.
    pub max_seconds: u32,
    /// How the fit ended (`completed`, `aborted`, `failed`).
    pub fit_outcome: String,
    /// Steps the fit took.
    pub fit_steps: u32,
    /// Fit wall time on the device, s.
    pub fit_seconds: f64,
    /// Final fit loss.
    pub fit_loss: f32,
    /// The raw frame before correction.
    pub raw: FrameQuality,
    /// The corrected frame.
    pub corrected: FrameQuality,
    /// Roughness of the clean scene itself (the floor correction can approach).
    pub clean_roughness: f64,
    /// RMS error of the fitted pattern against the simulator's true pattern (both
    /// mean-removed), DN.
    pub pattern_rmse_dn: f64,
    /// RMS of the true pattern (the error if nothing were corrected), DN.
    pub pattern_rms_dn: f64,
    /// Whole demo wall time, s.
    pub total_seconds: f64,
    /// Files written, relative to the output folder.
    pub files: Vec<String>,
}

impl DemoReport {
    /// The Markdown report.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# dipnuc demo\n");
        let _ = writeln!(
            s,
            "Simulated {}x{} 14-bit camera served by an in-process `dipnuc-edge` over {}; \
             calibrated on the device with **{}** (preset `{}`, limit {} s): {}, {} steps in \
             {:.1} s, final loss {:.4e}.\n",
            self.width,
            self.height,
            self.link,
            self.method,
            self.preset,
            self.max_seconds,
            self.fit_outcome,
            self.fit_steps,
            self.fit_seconds,
            self.fit_loss
        );
        let _ = writeln!(
            s,
            "| frame | seq | PSNR (dB) | PSNR min-max (dB) | roughness ρ |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for (name, q) in [("raw", &self.raw), ("corrected", &self.corrected)] {
            let _ = writeln!(
                s,
                "| {name} | {} | {:.2} | {:.2} | {:.5} |",
                q.seq, q.psnr_db, q.psnr_minmax_db, q.roughness
            );
        }
        let _ = writeln!(s, "| clean scene | | | | {:.5} |\n", self.clean_roughness);
        let _ = writeln!(
            s,
            "PSNR gain: **{:+.2} dB**; roughness {:.5} → {:.5}. Pattern error {:.1} DN RMS \
             (the true pattern is {:.1} DN RMS).\n",
            self.corrected.psnr_db - self.raw.psnr_db,
            self.raw.roughness,
            self.corrected.roughness,
            self.pattern_rmse_dn,
            self.pattern_rms_dn
        );
        let _ = writeln!(
            s,
            "PSNR is measured against the simulator's noise-free scene of the same frame, with \
             the data range of that scene and the global offset removed. Total run time {:.1} s.\n",
            self.total_seconds
        );
        let _ = writeln!(s, "Files:\n");
        for f in &self.files {
            let _ = writeln!(s, "- `{f}`");
        }
        s
    }
}
