//! `dipnuc process` and `dipnuc eval` run as the real binary on frames generated in a temp dir.

use std::path::Path;
use std::process::Command;

use engine::imageio::{BitDepth, GrayImage, load_gray, save_gray};
use rand::{Rng, SeedableRng};

const W: usize = 72;
const H: usize = 56;

fn dipnuc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dipnuc"))
}

/// Writes `n` clean frames and the same frames plus column FPN, at `depth`, as `ext`.
fn make_frames(dir: &Path, n: usize, depth: BitDepth, ext: &str) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let scale = if depth == BitDepth::Eight { 1.0 } else { 60.0 };
    let cols: Vec<f32> = (0..W).map(|_| rng.gen_range(0.0..25.0) * scale).collect();
    std::fs::create_dir_all(dir.join("clean")).unwrap();
    std::fs::create_dir_all(dir.join("noisy")).unwrap();
    for i in 0..n {
        let (cx, cy) = (rng.gen_range(10.0..62.0f32), rng.gen_range(10.0..46.0f32));
        // Every part of the scene moves: a static part would be indistinguishable from FPN.
        let (tx, ty) = (rng.gen_range(-1.0..1.0f32), rng.gen_range(-1.0..1.0f32));
        let clean: Vec<f32> = (0..W * H)
            .map(|p| {
                let (y, x) = ((p / W) as f32, (p % W) as f32);
                let disc = if (x - cx).powi(2) + (y - cy).powi(2) < 100.0 {
                    80.0
                } else {
                    0.0
                };
                (120.0 + tx * (x - 36.0) + ty * (y - 28.0) + disc) * scale
            })
            .collect();
        let noisy: Vec<f32> = clean
            .iter()
            .enumerate()
            .map(|(p, v)| v + cols[p % W])
            .collect();
        let name = format!("{i}.{ext}");
        save_gray(
            &dir.join("clean").join(&name),
            &GrayImage::from_f32(W, H, depth, &clean),
        )
        .unwrap();
        save_gray(
            &dir.join("noisy").join(&name),
            &GrayImage::from_f32(W, H, depth, &noisy),
        )
        .unwrap();
    }
    cols
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn process_writes_corrected_frames_with_same_names_and_depth() {
    let tmp = tempfile::tempdir().unwrap();
    make_frames(tmp.path(), 5, BitDepth::Sixteen, "png");
    let out = tmp.path().join("out");
    let pattern = tmp.path().join("p.safetensors");
    let stdout = run_ok(
        dipnuc()
            .args(["process", "--method", "cp-tv", "--input"])
            .arg(tmp.path().join("noisy"))
            .arg("--output")
            .arg(&out)
            .arg("--save-pattern")
            .arg(&pattern),
    );
    assert!(stdout.contains("5 frames"), "{stdout}");
    assert!(pattern.is_file());
    for i in 0..5 {
        let got = load_gray(&out.join(format!("{i}.png"))).unwrap();
        assert_eq!(got.depth, BitDepth::Sixteen);
        let clean = load_gray(&tmp.path().join(format!("clean/{i}.png"))).unwrap();
        let noisy = load_gray(&tmp.path().join(format!("noisy/{i}.png"))).unwrap();
        // Column stripes gone: the corrected frame is much closer to clean (up to an offset).
        let err = |a: &GrayImage| {
            let d: Vec<f32> = a
                .to_f32()
                .iter()
                .zip(clean.to_f32())
                .map(|(x, y)| x - y)
                .collect();
            let m = d.iter().sum::<f32>() / d.len() as f32;
            (d.iter().map(|v| (v - m).powi(2)).sum::<f32>() / d.len() as f32).sqrt()
        };
        assert!(
            err(&got) < 0.3 * err(&noisy),
            "{} vs {}",
            err(&got),
            err(&noisy)
        );
    }
}

#[test]
fn process_with_tv_dip_and_eval_json() {
    let tmp = tempfile::tempdir().unwrap();
    make_frames(tmp.path(), 4, BitDepth::Eight, "png");
    run_ok(
        dipnuc()
            .args(["process", "--iters", "5", "--seed", "1", "--input"])
            .arg(tmp.path().join("noisy"))
            .arg("--output")
            .arg(tmp.path().join("out")),
    );
    assert!(tmp.path().join("out/3.png").is_file());
    let stdout = run_ok(
        dipnuc()
            .args(["eval", "--method", "cp-tv", "--json", "--noisy"])
            .arg(tmp.path().join("noisy"))
            .arg("--clean")
            .arg(tmp.path().join("clean")),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["frames"], 4);
    let before = v["before"]["psnr_minmax"].as_f64().unwrap();
    let after = v["after"]["psnr_minmax"].as_f64().unwrap();
    assert!(after > before + 3.0, "{before} -> {after}");
    assert!(v["after"]["roughness"].as_f64().unwrap() < v["before"]["roughness"].as_f64().unwrap());
    let text = run_ok(
        dipnuc()
            .args(["eval", "--method", "colmean", "--noisy"])
            .arg(tmp.path().join("noisy"))
            .arg("--clean")
            .arg(tmp.path().join("clean")),
    );
    assert!(text.contains("PSNR mm") && text.contains("after"), "{text}");
}

#[test]
fn process_and_eval_read_bmp_and_pgm_frames_by_their_content() {
    let tmp = tempfile::tempdir().unwrap();
    make_frames(tmp.path(), 4, BitDepth::Eight, "bmp");
    // A BMP under a .png name (as some capture tools save them) is read as the BMP it is;
    // eval pairs frames by name, so the clean twin is renamed too.
    for side in ["noisy", "clean"] {
        let d = tmp.path().join(side);
        std::fs::rename(d.join("3.bmp"), d.join("3.png")).unwrap();
    }
    let out = tmp.path().join("out");
    let stdout = run_ok(
        dipnuc()
            .args(["process", "--method", "cp-tv", "--input"])
            .arg(tmp.path().join("noisy"))
            .arg("--output")
            .arg(&out),
    );
    assert!(stdout.contains("4 frames"), "{stdout}");
    assert_eq!(&std::fs::read(out.join("0.bmp")).unwrap()[..2], b"BM");
    assert_eq!(
        load_gray(&out.join("3.png")).unwrap().depth,
        BitDepth::Eight
    );
    let v: serde_json::Value = serde_json::from_str(&run_ok(
        dipnuc()
            .args(["eval", "--method", "cp-tv", "--json", "--noisy"])
            .arg(tmp.path().join("noisy"))
            .arg("--clean")
            .arg(tmp.path().join("clean")),
    ))
    .unwrap();
    assert_eq!(v["frames"], 4);
    let (before, after) = (
        v["before"]["psnr_minmax"].as_f64().unwrap(),
        v["after"]["psnr_minmax"].as_f64().unwrap(),
    );
    assert!(after > before + 3.0, "{before} -> {after}");

    // 16-bit PGM in, 16-bit PGM out under the same names.
    let pgm = tmp.path().join("pgm");
    make_frames(&pgm, 3, BitDepth::Sixteen, "pgm");
    run_ok(
        dipnuc()
            .args(["process", "--method", "cp-tv", "--input"])
            .arg(pgm.join("noisy"))
            .arg("--output")
            .arg(pgm.join("out")),
    );
    let got = load_gray(&pgm.join("out/2.pgm")).unwrap();
    assert_eq!(
        (got.width, got.height, got.depth),
        (W, H, BitDepth::Sixteen)
    );
    assert_eq!(&std::fs::read(pgm.join("out/2.pgm")).unwrap()[..2], b"P5");
}

#[test]
fn clear_errors_for_bad_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = run_err(
        dipnuc()
            .args(["process", "--input"])
            .arg(&empty)
            .arg("--output")
            .arg(tmp.path().join("o")),
    );
    assert!(
        e.contains("no PNG, TIFF, JPEG, BMP or PGM/PPM/PAM frames"),
        "{e}"
    );

    let mixed = tmp.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    save_gray(
        &mixed.join("a.png"),
        &GrayImage::from_f32(8, 8, BitDepth::Eight, &[1.0; 64]),
    )
    .unwrap();
    save_gray(
        &mixed.join("b.png"),
        &GrayImage::from_f32(9, 8, BitDepth::Eight, &[1.0; 72]),
    )
    .unwrap();
    let e = run_err(
        dipnuc()
            .args(["process", "--input"])
            .arg(&mixed)
            .arg("--output")
            .arg(tmp.path().join("o")),
    );
    assert!(e.contains("b.png") && e.contains("9x8"), "{e}");

    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("x.png"), b"\x89PNG garbage").unwrap();
    let e = run_err(
        dipnuc()
            .args(["process", "--input"])
            .arg(&broken)
            .arg("--output")
            .arg(tmp.path().join("o")),
    );
    assert!(e.contains("x.png"), "{e}");

    let e = run_err(
        dipnuc()
            .args(["process", "--method", "magic", "--input"])
            .arg(&mixed)
            .arg("--output")
            .arg(tmp.path().join("o")),
    );
    assert!(e.contains("magic"), "{e}");
    let e = run_err(
        dipnuc()
            .args(["process", "--input"])
            .arg(tmp.path().join("nope"))
            .arg("--output")
            .arg(tmp.path().join("o")),
    );
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn ctrl_c_stops_the_fit_early_and_still_writes_the_frames() {
    let tmp = tempfile::tempdir().unwrap();
    make_frames(tmp.path(), 4, BitDepth::Eight, "png");
    let child = dipnuc()
        .args([
            "process", "--preset", "paper", "--iters", "1000000", "--input",
        ])
        .arg(tmp.path().join("noisy"))
        .arg("--output")
        .arg(tmp.path().join("out"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it handles Ctrl-C (its SIGINT handler is installed, before the fit starts), press
    // it once: the fit stops at its next step, whether it got far or not.
    let start = std::time::Instant::now();
    while !catches_sigint(child.id()) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "dipnuc never installed its Ctrl-C handler"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("stopped early"), "{stdout}");
    assert!(tmp.path().join("out/3.png").is_file());
}

/// Whether process `pid` catches SIGINT (bit 2 of `SigCgt` in /proc/PID/status).
fn catches_sigint(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0)
}
