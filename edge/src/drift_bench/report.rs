//! The drift bench's outputs: Markdown tables (PSNR per segment and method, then the loop's
//! other figures) and the PSNR-over-time chart.

use std::fmt::Write as _;

use super::CaseResult;
use crate::report_chart::{Band, LineChart, Series};
use crate::source::drift::Scenario;

/// PSNR per segment for each method of one budget, with TV-DIP's lead over CP-TV.
pub fn psnr_table(scenario: &Scenario, results: &[&CaseResult]) -> String {
    let mut s = String::new();
    let _ = write!(s, "| segment |");
    for r in results {
        let _ = write!(s, " {} |", r.case.method_name());
    }
    let dip = results
        .iter()
        .position(|r| r.case.method_name() == "tv-dip");
    let cp = results.iter().position(|r| r.case.method_name() == "cp-tv");
    let lead = dip.zip(cp);
    if lead.is_some() {
        let _ = write!(s, " tv-dip − cp-tv |");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "|---|{}",
        "---:|".repeat(results.len() + usize::from(lead.is_some()))
    );
    for (i, seg) in scenario.segments.iter().enumerate() {
        let (a, b) = scenario.segment_span(i);
        let _ = write!(s, "| {} ({:.1}–{:.1} min) |", seg.name, a / 60.0, b / 60.0);
        for r in results {
            let _ = write!(s, " {:.2} |", r.segments[i].psnr());
        }
        if let Some((d, c)) = lead {
            let _ = write!(
                s,
                " {:+.2} |",
                results[d].segments[i].psnr() - results[c].segments[i].psnr()
            );
        }
        let _ = writeln!(s);
    }
    let _ = write!(s, "| **whole run** |");
    for r in results {
        let _ = write!(s, " **{:.2}** |", mean_psnr(r));
    }
    if let Some((d, c)) = lead {
        let _ = write!(
            s,
            " **{:+.2}** |",
            mean_psnr(results[d]) - mean_psnr(results[c])
        );
    }
    let _ = writeln!(s);
    s
}

/// Frame-weighted mean PSNR over the whole run.
pub fn mean_psnr(r: &CaseResult) -> f64 {
    let frames: u64 = r.segments.iter().map(|s| s.frames).sum();
    r.segments
        .iter()
        .map(|s| s.psnr() * s.frames as f64)
        .sum::<f64>()
        / frames.max(1) as f64
}

/// Residual non-uniformity, flicker, ghosting, compute and fits per segment and method.
pub fn loop_table(scenario: &Scenario, results: &[&CaseResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| method | segment | residual NU (DN rms) | flicker max (DN) | ghost (scene leak %) | compute (s) | fits |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for r in results {
        for (i, seg) in scenario.segments.iter().enumerate() {
            let g = &r.segments[i];
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.2} | {:.1} | {:.1} | {} |",
                r.case.method_name(),
                seg.name,
                g.nu(),
                g.flicker_max,
                100.0 * g.leak_max,
                g.compute_s,
                g.fits
            );
        }
        let compute: f64 = r.segments.iter().map(|g| g.compute_s).sum();
        let fits: u32 = r.segments.iter().map(|g| g.fits).sum();
        let _ = writeln!(
            s,
            "| {} | **whole run** ({:.0} s real) | | | | **{compute:.1}** | **{fits}** |",
            r.case.method_name(),
            r.wall_s
        );
    }
    s
}

/// The PSNR-over-time chart of the results, segments shaded.
pub fn chart(title: &str, scenario: &Scenario, results: &[&CaseResult]) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "simulated minutes".into(),
        y_label: "PSNR dB".into(),
        series: results
            .iter()
            .map(|r| Series {
                label: r.case.method_name().into(),
                points: r.timeline.iter().map(|&(t, p)| (t, p as f32)).collect(),
            })
            .collect(),
        bands: (0..scenario.segments.len())
            .map(|i| {
                let (a, b) = scenario.segment_span(i);
                Band {
                    from: a / 60.0,
                    to: b / 60.0,
                    label: scenario.segments[i].name.into(),
                }
            })
            .collect(),
    }
}
