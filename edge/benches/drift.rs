//! Drift bench: the daemon's refit loop on a simulated drifting camera, per method and budget,
//! in simulated time (see `edge::drift_bench`). Writes `report.md` and one PSNR-over-time PNG
//! per scene and budget to `target/drift-bench/` and prints the report.
//!
//! Environment (all optional):
//! - `DRIFT_MINUTES` simulated minutes (30), `DRIFT_FPS` frame rate (9)
//! - `DRIFT_SIZES` core sizes, e.g. `320x256,640x512` (320x256)
//! - `DRIFT_SCENES` `city` (synthetic) and/or `human` (the real frames of
//!   `../shared/data/dip4ir/data/human/images_clean`; skipped with a reason when absent) (both)
//! - `DRIFT_METHODS` (none,colmean,cp-tv,tv-dip), `DRIFT_BUDGETS` cpu,gpu (both)
//! - `DRIFT_PRESET` engine preset (fast), `DRIFT_WARM` 0 skips the warm-start check
//! - `DRIFT_OUT` output folder
//! - `RUST_LOG` the refit loop's log on stderr (off by default)

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use edge::drift_bench::{
    self, BudgetClass, CPU_BUDGET, Case, GPU_CLASS_BUDGET, RunOptions, report, warm_start,
};
use edge::source::drift::{
    CityScene, DriftConfig, DriftModel, FrameSequenceScene, Scenario, Scene, SensorParams,
};
use engine::nuc::Method;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn drift_config(w: usize, h: usize, fps: f32, minutes: f32) -> DriftConfig {
    // Scale the pan speed with the core: about a sixth of the view width per second.
    DriftConfig {
        width: w,
        height: h,
        fps,
        bit_depth: 14,
        seed: 11,
        level: 7000.0,
        contrast: 2200.0,
        pan_px_per_s: w as f32 / 6.0,
        sensor: SensorParams {
            column_fpn: 45.0,
            pixel_fpn: 18.0,
            pixel_gain: 0.01,
            lpn: 260.0,
            drift_per_c: 0.06,
            low_gain: 0.35,
        },
        temporal_noise: 6.0,
        scenario: Scenario::drift(minutes * 60.0, 28.0, 1.6, 2.0),
    }
}

fn main() -> anyhow::Result<()> {
    engine::heap::retain_freed_memory();
    // The refit loop's own log (fit decisions, the motion check's weights) with `RUST_LOG`,
    // e.g. `RUST_LOG=edge::refit=info`; silent by default so the report stays readable.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let minutes: f32 = env("DRIFT_MINUTES", "30").parse()?;
    let fps: f32 = env("DRIFT_FPS", "9").parse()?;
    let out = PathBuf::from(env(
        "DRIFT_OUT",
        &format!("{}/../target/drift-bench", env!("CARGO_MANIFEST_DIR")),
    ));
    std::fs::create_dir_all(&out)?;
    let preset = env("DRIFT_PRESET", "fast");
    let methods: Vec<Option<Method>> = env("DRIFT_METHODS", "none,colmean,cp-tv,tv-dip")
        .split(',')
        .map(|m| {
            if m.trim() == "none" {
                Ok(None)
            } else {
                m.parse().map(Some)
            }
        })
        .collect::<Result<_, _>>()?;
    let budgets: Vec<BudgetClass> = env("DRIFT_BUDGETS", "cpu,gpu")
        .split(',')
        .map(|b| match b.trim() {
            "cpu" => Ok(CPU_BUDGET),
            "gpu" => Ok(GPU_CLASS_BUDGET),
            other => Err(anyhow::anyhow!("unknown budget {other:?} (cpu, gpu)")),
        })
        .collect::<Result<_, _>>()?;
    let human = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/dip4ir/data/human/images_clean");
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Drift bench\n\n{minutes} simulated minutes at {fps} fps per case; the daemon's refit loop \
         (collector, static-scene guard, scheduler, ledger, estimator `{preset}`, pattern cache, \
         blended correction) on a simulated clock. Budgets: `{}` = {} s/h, ≤ {} s per fit, network at the \
         preset's resolution; `{}` = {} s/h, ≤ {} s per fit, network at 1/{}, modelled on this CPU \
         (no GPU). PSNR against the clean frames, offset-free, \
         range of each clean frame.\n",
        CPU_BUDGET.name,
        CPU_BUDGET.seconds_per_hour,
        CPU_BUDGET.max_seconds,
        GPU_CLASS_BUDGET.name,
        GPU_CLASS_BUDGET.seconds_per_hour,
        GPU_CLASS_BUDGET.max_seconds,
        GPU_CLASS_BUDGET.downscale
    );
    for size in env("DRIFT_SIZES", "320x256").split(',') {
        let (w, h) = size
            .trim()
            .split_once('x')
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("bad size {size:?} (WxH)"))?;
        for scene_name in env("DRIFT_SCENES", "city,human").split(',') {
            let cfg = drift_config(w, h, fps, minutes);
            let scene: Arc<dyn Scene> = match scene_name.trim() {
                "city" => Arc::new(CityScene::new(cfg.seed, w, h, cfg.level, cfg.contrast)),
                "human" if !human.is_dir() => {
                    let why = format!("scene human skipped: {} not found", human.display());
                    println!("{why}");
                    let _ = writeln!(md, "_{why}_\n");
                    continue;
                }
                "human" => Arc::new(FrameSequenceScene::open(
                    &human,
                    w,
                    h,
                    cfg.level,
                    cfg.contrast,
                    4.0,
                )?),
                other => anyhow::bail!("unknown scene {other:?} (city, human)"),
            };
            let model = DriftModel::new(cfg, scene);
            let scenario = model.config().scenario.clone();
            let _ = writeln!(md, "## {scene_name} {w}x{h}\n");
            for budget in &budgets {
                let opts = RunOptions {
                    duration_s: minutes * 60.0,
                    preset: preset.clone(),
                    frames: 12,
                    blend_frames: 15,
                    min_moving_fraction: 0.5,
                    bucket_s: (minutes * 60.0 / 150.0).max(1.0),
                    work_dir: out.join(format!("{scene_name}-{w}x{h}")),
                };
                let mut results = Vec::new();
                for m in &methods {
                    let case = Case {
                        method: *m,
                        budget: budget.clone(),
                    };
                    eprintln!(
                        "drift: {scene_name} {w}x{h} {} {} ...",
                        budget.name,
                        case.method_name()
                    );
                    let r = drift_bench::run_case(&model, &case, &opts)?;
                    eprintln!(
                        "drift: {} done in {:.0} s, mean PSNR {:.2} dB",
                        case.method_name(),
                        r.wall_s,
                        report::mean_psnr(&r)
                    );
                    results.push(r);
                }
                let refs: Vec<_> = results.iter().collect();
                let short = budget.name.split_whitespace().next().unwrap_or("budget");
                let png = out.join(format!("drift-{scene_name}-{w}x{h}-{short}.png"));
                report::chart(
                    &format!("{scene_name} {w}x{h}, budget {}", budget.name),
                    &scenario,
                    &refs,
                )
                .save_png(&png, 960, 420)?;
                let _ = writeln!(
                    md,
                    "### budget {}\n\nMean PSNR (dB) per segment; chart `{}`.\n",
                    budget.name,
                    png.display()
                );
                let _ = writeln!(md, "{}", report::psnr_table(&scenario, &refs));
                let _ = writeln!(md, "{}", report::loop_table(&scenario, &refs));
            }
            if env("DRIFT_WARM", "1") != "0" {
                let steps = [0, 1, 3, 6, 12, 25, 50];
                let ws = warm_start::check(&model, &preset, 0, 2, &steps, &out)?;
                let _ = writeln!(
                    md,
                    "### warm start\n\nNetwork fitted on the {} segment, refreshed on the {} segment. Cold fit there: {} steps ({} with the split-half check), {:.2} dB, {:.1} s.\n\n| warm steps | PSNR (dB) | s |\n|---:|---:|---:|",
                    scenario.segments[0].name,
                    scenario.segments[2].name,
                    ws.cold_steps,
                    ws.cold_steps_total,
                    ws.cold_psnr,
                    ws.cold_s
                );
                for (k, p, s) in &ws.warm {
                    let _ = writeln!(md, "| {k} | {p:.2} | {s:.1} |");
                }
                let _ = writeln!(
                    md,
                    "\nReaches the cold fit's PSNR after: {}\n",
                    ws.reached_at()
                        .map_or("not within the steps tried".into(), |k| format!(
                            "{k} steps ({:.1} % of the cold fit's {})",
                            100.0 * k as f64 / f64::from(ws.cold_steps),
                            ws.cold_steps
                        ))
                );
            }
        }
    }
    let path = out.join("report.md");
    std::fs::write(&path, &md)?;
    println!("{md}");
    println!("report: {}", path.display());
    Ok(())
}
