//! The demo's measurements and their two renderings: `report.json` (for scripts and tests)
//! and `report.md` (for people).

use std::fmt::Write as _;

use serde::Serialize;

use super::watch::StreamSample;
use edge::report_chart::{Band, LineChart, Series};

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
    /// The same raw frame corrected with the first-stage pattern the device served while the
    /// network refined it (CP-TV under TV-DIP); `None` for one-stage methods.
    pub first_stage: Option<FrameQuality>,
    /// Method of that first stage.
    pub first_stage_method: Option<String>,
    /// The raw and corrected streams sampled during the calibration.
    pub timeline: Vec<StreamSample>,
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
        let first = self.first_stage.as_ref().map(|q| {
            (
                format!(
                    "{} (first stage)",
                    self.first_stage_method.as_deref().unwrap_or("")
                ),
                q,
            )
        });
        let rows = std::iter::once(("raw".to_string(), &self.raw))
            .chain(first)
            .chain(std::iter::once((
                format!("{} (corrected)", self.method),
                &self.corrected,
            )));
        for (name, q) in rows {
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
        if let Some(f) = &self.first_stage {
            let _ = writeln!(
                s,
                "The device served the {} stage at once and blended {} in when the network was \
                 done: **{:+.2} dB** over the first stage on the same frame.\n",
                self.first_stage_method.as_deref().unwrap_or("first"),
                self.method,
                self.corrected.psnr_db - f.psnr_db
            );
        }
        let _ = writeln!(
            s,
            "![PSNR over time](psnr_over_time.png)\n\n`side_by_side.png`: raw | {}{} | clean, \
             on one colour scale.\n",
            self.first_stage_method
                .as_deref()
                .map_or(String::new(), |m| format!("{m} | ")),
            self.method
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

/// PSNR of the raw and corrected streams over the calibration, with the pattern in use shaded.
pub fn psnr_chart(samples: &[StreamSample], method: &str) -> LineChart {
    let mut bands: Vec<Band> = Vec::new();
    for w in samples.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        match bands.last_mut() {
            Some(band) if band.label == a.pattern => band.to = b.t_s as f32,
            _ => bands.push(Band {
                from: a.t_s as f32,
                to: b.t_s as f32,
                label: a.pattern.clone(),
            }),
        }
    }
    LineChart {
        title: format!("dipnuc demo: PSNR while the device calibrates with {method}"),
        x_label: "seconds since the calibration request".into(),
        y_label: "PSNR dB".into(),
        series: vec![
            Series {
                label: "raw".into(),
                points: samples
                    .iter()
                    .map(|p| (p.t_s as f32, p.raw_psnr_db as f32))
                    .collect(),
            },
            Series {
                label: "corrected".into(),
                points: samples
                    .iter()
                    .map(|p| (p.t_s as f32, p.corrected_psnr_db as f32))
                    .collect(),
            },
        ],
        bands,
    }
}
