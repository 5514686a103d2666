//! Per-frame correction speed: frames/s of `Correction::apply` on a 640×512 frame on one core,
//! next to a plain copy of the same frame measured in the same run. Target: ≥ 2,000 frames/s
//! and within 2× of the copy. Last line: `correct/copy: X` (time ratio, lower is better).
//!
//! `cargo bench -p edge --bench correct` (env `DIPNUC_BENCH_SECONDS` = seconds per case, default 2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use edge::correct::Correction;

const W: usize = 640;
const H: usize = 512;

/// Runs `f` repeatedly for about `budget`, returns seconds per call (best of 5 rounds).
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up (page faults, caches, frequency).
    for _ in 0..50 {
        f();
    }
    let round = budget / 5;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < round {
            for _ in 0..20 {
                f();
            }
            n += 20;
        }
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
    }
    best
}

fn main() {
    let secs: f64 = std::env::var("DIPNUC_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs);
    // A 14-bit frame and a column + pixel pattern, like the simulated camera's.
    let raw: Vec<u16> = (0..W * H)
        .map(|i| (6000 + (i * 7919) % 4000) as u16)
        .collect();
    let pattern: Vec<f32> = (0..W * H)
        .map(|i| ((i % W) as f32 * 0.37).sin() * 120.0 + ((i * 31) % 17) as f32 - 8.0)
        .collect();
    let corr = Correction::new(W, H, Some(&pattern), 0, (0, 16383), &[]).unwrap();
    let corr_bad = Correction::new(
        W,
        H,
        Some(&pattern),
        0,
        (0, 16383),
        &(0..64)
            .map(|i| [(i * 9) as u32, (i * 7) as u32])
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut out = vec![0u16; W * H];

    let copy = time_per_call(budget, || {
        out.copy_from_slice(black_box(&raw));
        black_box(&mut out);
    });
    let correct = time_per_call(budget, || {
        corr.apply(black_box(&raw), &mut out);
        black_box(&mut out);
    });
    let correct_bad = time_per_call(budget, || {
        corr_bad.apply(black_box(&raw), &mut out);
        black_box(&mut out);
    });

    println!(
        "frame {W}x{H} u16, one thread, best of 5 rounds of {:.1} s",
        secs / 5.0
    );
    println!("{:<28} {:>10} {:>12}", "case", "µs/frame", "frames/s");
    for (name, t) in [
        ("copy", copy),
        ("correct", correct),
        ("correct + 64 bad pixels", correct_bad),
    ] {
        println!("{name:<28} {:>10.1} {:>12.0}", t * 1e6, 1.0 / t);
    }
    let fps = 1.0 / correct;
    println!(
        "target: >= 2000 frames/s ({}), within 2x of copy ({})",
        if fps >= 2000.0 { "met" } else { "NOT met" },
        if correct / copy <= 2.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("correct/copy: {:.2}", correct / copy);
}
