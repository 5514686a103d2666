//! Fitting speed and memory: forward, backward and one whole Adam step of the skip network
//! (`SkipNet`, reference topology, 5 levels, 4 skip channels, 32 input channels) for each row
//! (frame size × channels), next to PyTorch on the CPU running the identical network in the same
//! run with the same thread count (`scripts/torch_dip_bench.py`, which makes its own virtualenv
//! under `target/torch-venv` and installs torch from PyPI the first time).
//!
//! Every row runs in a fresh process (this binary re-executes itself; PyTorch in its own
//! interpreter) so that the peak resident memory (VmHWM) is that row's alone; `est MB` is
//! `nuc::memory::estimate_fit` for the row, to check the memory cap's estimate. Last line:
//! `worst ratio: X`, the largest ours/PyTorch ratio of step time or peak memory over all rows.
//!
//! `cargo bench -p engine --bench dip`. Environment:
//! * `DIP_BENCH_ROWS`: comma-separated `HxWxC` rows, or `all` (adds 512x640x128: minutes per
//!   step and many GB here). Default: 120x160x32,120x160x128,256x320x32,256x320x128,512x640x32.
//! * `DIP_BENCH_STEPS`: timed steps per row after one warm-up step (default 3; medians reported).
//! * `DIP_BENCH_THREADS`: threads for both sides (default: all available cores).
//! * `DIP_BENCH_ROUNDS`: rounds per row, ours and PyTorch alternating (default 2); each side
//!   keeps its fastest round's times and its largest peak memory, so background load on a
//!   shared machine disturbs the ratio less.
//! * `DIP_BENCH_TORCH=off`: skip PyTorch.
//! * `DIP_BENCH_DEVICE`: `cpu` (default) or `cuda:N` (a build with `--features cuda`; PyTorch
//!   then runs on the same GPU). Each phase is timed after a device synchronisation, and the
//!   memory column is the device memory in use (total − free, `cuMemGetInfo`, the same measure
//!   on both sides, so it includes each process's CUDA context) at its largest after a step.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW};
use engine::kernels::adam::Adam;
use engine::nuc::device::DeviceSpec;
use engine::nuc::tv::TvLoss;
use engine::nuc::{SkipConfig, SkipNet};
use rand::{Rng, SeedableRng};

const DEFAULT_ROWS: &str = "120x160x32,120x160x128,256x320x32,256x320x128,512x640x32";
const ALL_ROWS: &str = "120x160x32,120x160x128,256x320x32,256x320x128,512x640x32,512x640x128";
const CHILD_ENV: &str = "DIP_BENCH_CHILD";

#[derive(Debug, Clone, Copy)]
struct Row {
    h: usize,
    w: usize,
    c: usize,
}

impl Row {
    fn parse(s: &str) -> Result<Row, String> {
        let v: Vec<usize> = s
            .trim()
            .split('x')
            .map(|p| p.parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("row `{s}`: {e} (expected HxWxC, e.g. 256x320x32)"))?;
        match v[..] {
            [h, w, c] if h >= 32 && w >= 32 && c > 0 => Ok(Row { h, w, c }),
            _ => Err(format!(
                "row `{s}`: expected HxWxC with sides >= 32, e.g. 256x320x32"
            )),
        }
    }

    fn name(&self) -> String {
        format!("{}x{}x{}", self.h, self.w, self.c)
    }
}

/// Median milliseconds of forward, backward and whole step, and peak RSS in bytes.
#[derive(Debug, Clone, Copy)]
struct Figures {
    fwd: f64,
    bwd: f64,
    step: f64,
    peak: u64,
    /// `nuc::memory::estimate_fit` for the row (ours only; 0 for PyTorch).
    estimate: u64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Device memory in use (total − free) on a CUDA device; 0 on the CPU.
fn device_memory_in_use(dev: &Device) -> anyhow::Result<u64> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(_) = dev {
        // `dev` was synchronised by the caller, so its context is current on this thread.
        let (free, total) = candle_core::cuda_backend::cudarc::driver::result::mem_get_info()?;
        return Ok((total - free) as u64);
    }
    let _ = dev;
    Ok(0)
}

/// Our side of one row, in this process.
fn measure_ours(row: Row, steps: usize, device: &str) -> anyhow::Result<Figures> {
    let dev = engine::nuc::device::open_device(device)?;
    let cfg = SkipConfig {
        channels_down: row.c,
        channels_up: row.c,
        ..SkipConfig::reference()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net = SkipNet::new(&cfg, &mut rng, &dev)?;
    let n = row.h * row.w;
    // z at the padded size the fit uses; the output is cropped back to the frame.
    let (hp, wp) = cfg.padded(row.h, row.w);
    let z: Vec<f32> = (0..32 * hp * wp).map(|_| rng.gen_range(0.0..0.1)).collect();
    let z = Tensor::from_vec(z, (1, 32, hp, wp), &dev)?;
    let mut peak_device = 0u64;
    let y: Vec<f32> = (0..n).map(|_| rng.r#gen::<f32>()).collect();
    let loss_fn = TvLoss::new(Arc::new(y), row.w, row.h, vec![(1, 1.0)]);
    // The fit's optimizer (nuc::fit).
    let mut opt = Adam::new(
        net.params().all_vars(),
        ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let (mut fwd, mut bwd, mut step) = (vec![], vec![], vec![]);
    for i in 0..=steps {
        dev.synchronize()?;
        let t0 = Instant::now();
        // The fit's perturbation of z (nuc::fit).
        let input = engine::kernels::noise::perturbed(&z, 3e-5, rng.r#gen())?;
        let loss = loss_fn.loss(&net.forward(&input, row.h, row.w)?)?;
        dev.synchronize()?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        dev.synchronize()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        dev.synchronize()?;
        let t3 = Instant::now();
        peak_device = peak_device.max(device_memory_in_use(&dev)?);
        drop((grads, loss));
        if i > 0 {
            fwd.push((t1 - t0).as_secs_f64() * 1e3);
            bwd.push((t2 - t1).as_secs_f64() * 1e3);
            step.push((t3 - t0).as_secs_f64() * 1e3);
        }
    }
    Ok(Figures {
        fwd: median(fwd),
        bwd: median(bwd),
        step: median(step),
        peak: if dev.is_cpu() {
            peak_rss()
        } else {
            peak_device
        },
        estimate: engine::nuc::memory::estimate_fit(&cfg, row.h, row.w, n as u64).total(),
    })
}

/// Runs our side of `row` in a child process (fresh peak RSS).
fn run_ours(row: Row, steps: usize, threads: usize) -> anyhow::Result<Figures> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .env(CHILD_ENV, row.name())
        .env("DIP_BENCH_STEPS", steps.to_string())
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("figures "))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "child for {} failed ({}): {}",
                row.name(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    match v[..] {
        [fwd, bwd, step, peak, estimate] => Ok(Figures {
            fwd,
            bwd,
            step,
            peak: peak as u64,
            estimate: estimate as u64,
        }),
        _ => anyhow::bail!("malformed child output `{line}`"),
    }
}

/// `target/` of this build: the bench binary is `target/<profile>/deps/dip-HASH`.
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.to_path_buf())
}

fn torch_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/torch_dip_bench.py")
}

/// The python that runs the script: the venv's once it exists, else the system's (the script
/// then creates the venv and re-runs itself there).
fn torch_python(venv: &std::path::Path) -> PathBuf {
    let p = venv.join("bin/python");
    if p.exists() {
        p
    } else {
        PathBuf::from("python3")
    }
}

fn json_f64(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(&format!("\"{key}\":"))? + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn run_torch(
    row: Row,
    steps: usize,
    threads: usize,
    device: &str,
    venv: &std::path::Path,
) -> Result<Figures, String> {
    let out = Command::new(torch_python(venv))
        .arg(torch_script())
        .args([
            "--height",
            &row.h.to_string(),
            "--width",
            &row.w.to_string(),
        ])
        .args([
            "--channels",
            &row.c.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .args(["--steps", &steps.to_string(), "--device", device])
        .arg("--venv")
        .arg(venv)
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find(|l| l.starts_with('{')) else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        return Err(format!(
            "PyTorch script failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    };
    let get = |k| json_f64(line, k).ok_or_else(|| format!("PyTorch output lacks `{k}`: {line}"));
    Ok(Figures {
        fwd: get("fwd_ms")?,
        bwd: get("bwd_ms")?,
        step: get("step_ms")?,
        peak: get("peak_rss")? as u64,
        estimate: 0,
    })
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Of two rounds of one side, the figures of the faster step (the one less disturbed by other
/// load), with the larger of the two peaks (memory does not get better by luck).
fn faster(kept: Option<Figures>, new: Figures) -> Figures {
    match kept {
        None => new,
        Some(k) => {
            let peak = k.peak.max(new.peak);
            let best = if new.step < k.step { new } else { k };
            Figures { peak, ..best }
        }
    }
}

fn main() -> anyhow::Result<()> {
    // As the programs that fit do (engine::heap).
    engine::heap::retain_freed_memory();
    let steps = env_usize("DIP_BENCH_STEPS", 3).max(1);
    let rounds = env_usize("DIP_BENCH_ROUNDS", 2).max(1);
    let device = std::env::var("DIP_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let on_cpu = engine::nuc::device::parse_device(&device)? == DeviceSpec::Cpu;
    if let Ok(name) = std::env::var(CHILD_ENV) {
        let row = Row::parse(&name).map_err(anyhow::Error::msg)?;
        let f = measure_ours(row, steps, &device)?;
        println!(
            "figures {} {} {} {} {}",
            f.fwd, f.bwd, f.step, f.peak, f.estimate
        );
        return Ok(());
    }
    let threads = env_usize(
        "DIP_BENCH_THREADS",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let rows_spec = std::env::var("DIP_BENCH_ROWS").unwrap_or_else(|_| DEFAULT_ROWS.into());
    let rows_spec = if rows_spec.trim() == "all" {
        ALL_ROWS.to_string()
    } else {
        rows_spec
    };
    let rows: Vec<Row> = rows_spec
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Row::parse)
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let torch_on = std::env::var("DIP_BENCH_TORCH").map_or(true, |v| v != "off");
    let venv = target_dir()
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("torch-venv");

    let memory = if on_cpu {
        "peak RSS per process"
    } else {
        "peak device memory in use per process"
    };
    println!(
        "skip network fit step, {device}, {threads} threads, {steps} timed steps per row (medians), best of {rounds} alternating rounds, {memory} (largest)"
    );
    println!(
        "{:<12} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8} | {:>6} {:>6} | {:>7}",
        "HxWxC",
        "fwd ms",
        "bwd ms",
        "step ms",
        "peak MB",
        "pt fwd",
        "pt bwd",
        "pt step",
        "pt MB",
        "time",
        "mem",
        "est MB"
    );
    let mut worst: Option<(f64, String)> = None;
    let mut torch_reason: Option<String> = None;
    for row in rows {
        // Rounds alternate the two sides so that a burst of background load hits both alike.
        let (mut ours, mut theirs): (Option<Figures>, Option<Figures>) = (None, None);
        for _ in 0..rounds {
            ours = Some(faster(ours, run_ours(row, steps, threads)?));
            if torch_on && torch_reason.is_none() {
                match run_torch(row, steps, threads, &device, &venv) {
                    Ok(f) => theirs = Some(faster(theirs, f)),
                    Err(e) => {
                        println!("PyTorch unavailable, printing our figures only: {e}");
                        torch_reason = Some(e);
                    }
                }
            }
        }
        let ours = ours.expect("at least one round");
        match theirs {
            Some(t) => {
                let (rt, rm) = (ours.step / t.step, ours.peak as f64 / t.peak as f64);
                println!(
                    "{:<12} | {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>6.2} {:>6.2} | {:>7.0}",
                    row.name(),
                    ours.fwd,
                    ours.bwd,
                    ours.step,
                    mb(ours.peak),
                    t.fwd,
                    t.bwd,
                    t.step,
                    mb(t.peak),
                    rt,
                    rm,
                    mb(ours.estimate)
                );
                for (r, what) in [(rt, "step time"), (rm, "peak memory")] {
                    if worst.as_ref().is_none_or(|(w, _)| r > *w) {
                        worst = Some((r, format!("{} {what}", row.name())));
                    }
                }
            }
            None => println!(
                "{:<12} | {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>8} {:>8} {:>8} {:>8} | {:>6} {:>6} | {:>7.0}",
                row.name(),
                ours.fwd,
                ours.bwd,
                ours.step,
                mb(ours.peak),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                mb(ours.estimate)
            ),
        }
    }
    match (worst, torch_on) {
        (Some((w, what)), _) => println!("worst ratio: {w:.2} ({what})"),
        (None, false) => println!("worst ratio: n/a (DIP_BENCH_TORCH=off)"),
        (None, true) => println!(
            "worst ratio: n/a (no PyTorch figures: {})",
            torch_reason.unwrap_or_default()
        ),
    }
    Ok(())
}
