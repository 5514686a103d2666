//! `dipnuc telemetry`: one reading, or a live table from the 1 Hz heartbeat (`--follow`),
//! optionally logged as CSV (`--csv FILE`) or JSON lines (`--json`) for long runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use host::client::Topics;
use protocol::{Telemetry, Topic};

use super::connection::ConnectionArgs;
use super::{interrupt, output};

/// Show telemetry: camera, fps, dropped frames, latency, pattern age, last fit, temperatures.
///
/// Examples:
///   dipnuc telemetry --tcp 127.0.0.1:7700
///   dipnuc telemetry --follow --tcp 127.0.0.1:7700
///   dipnuc telemetry --follow --csv run.csv --tcp 127.0.0.1:7700
///   dipnuc telemetry --follow --json --tcp 127.0.0.1:7700 > run.jsonl
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TelemetryArgs {
    /// Keep printing a row per heartbeat (1 Hz) until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Also append each row to FILE as CSV (header written when the file is new).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Stop after N rows.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

const CSV_HEADER: &str = "uptime_ms,fps,frames_total,frames_dropped,frame_latency_us,\
pattern_age_s,fit_state,last_fit_method,last_fit_loss,last_fit_ms,cpu_load_pct,gpu_load_pct,\
sensor_temp_c,soc_temp_c,disk_free_mb,roughness,camera,since_last_frame_ms";

fn o<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_row(t: &Telemetry) -> String {
    format!(
        "{},{:.2},{},{},{},{},{:?},{},{},{},{:.1},{},{},{},{},{},{:?},{}",
        t.uptime_ms,
        t.fps,
        t.frames_total,
        t.frames_dropped,
        t.frame_latency_us,
        o(t.pattern_age_s),
        t.fit_state,
        o(t.last_fit.as_ref().map(|f| f.method.clone())),
        o(t.last_fit.as_ref().map(|f| f.loss)),
        o(t.last_fit.as_ref().map(|f| f.duration_ms)),
        t.cpu_load_pct,
        o(t.gpu_load_pct),
        o(t.sensor_temp_c),
        o(t.soc_temp_c),
        t.disk_free_mb,
        o(t.roughness),
        t.camera,
        o(t.since_last_frame_ms),
    )
}

const TABLE_HEADER: &str = "  UPTIME  CAMERA        FPS   FRAMES  DROP  LAT ms  PAT AGE  FIT       \
LAST LOSS  CPU%  SENSOR°C  SOC°C";

fn table_row(t: &Telemetry) -> String {
    format!(
        "{:>8}  {:<11} {:>6.1} {:>8} {:>5} {:>7.2} {:>8}  {:<8} {:>10} {:>5.0} {:>9} {:>6}",
        output::age(t.uptime_ms / 1000),
        output::camera(t),
        t.fps,
        t.frames_total,
        t.frames_dropped,
        f64::from(t.frame_latency_us) / 1000.0,
        output::opt(t.pattern_age_s.map(|s| output::age(u64::from(s)))),
        format!("{:?}", t.fit_state).to_lowercase(),
        output::opt(t.last_fit.as_ref().map(|f| format!("{:.3e}", f.loss))),
        t.cpu_load_pct,
        output::opt(t.sensor_temp_c.map(|c| format!("{c:.2}"))),
        output::opt(t.soc_temp_c.map(|c| format!("{c:.1}"))),
    )
}

pub fn run(a: TelemetryArgs, conn: &ConnectionArgs, json: bool) -> anyhow::Result<()> {
    let mut csv = match &a.csv {
        Some(p) => {
            let new = !p.exists() || std::fs::metadata(p).map(|m| m.len() == 0).unwrap_or(true);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?;
            if new {
                writeln!(f, "{CSV_HEADER}").with_context(|| format!("writing {}", p.display()))?;
            }
            Some((p.clone(), f))
        }
        None => None,
    };
    let mut dev = conn.connect()?;
    let mut emit = |t: &Telemetry, first: bool| -> anyhow::Result<()> {
        if let Some((p, f)) = csv.as_mut() {
            writeln!(f, "{}", csv_row(t)).with_context(|| format!("writing {}", p.display()))?;
            f.flush()?;
        }
        if json {
            output::json_line(t)?;
        } else {
            if first {
                output::outln!("{TABLE_HEADER}");
            }
            output::outln!("{}", table_row(t));
        }
        Ok(())
    };
    let limit = a.count.unwrap_or(if a.follow { u64::MAX } else { 1 });
    if limit == 0 {
        return Ok(());
    }
    emit(&dev.telemetry()?, true)?;
    if !a.follow && limit == 1 {
        return Ok(());
    }
    dev.subscribe(Topics {
        heartbeat: true,
        ..Topics::default()
    })?;
    let stop = interrupt::flag();
    let mut rows = 1;
    while rows < limit && !stop.load(Ordering::Relaxed) {
        if let Some(Topic::Heartbeat(t)) = dev.next_topic(Duration::from_millis(250))? {
            emit(&t, false)?;
            rows += 1;
        }
    }
    Ok(())
}
