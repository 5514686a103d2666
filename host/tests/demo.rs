//! `dipnuc demo` end to end with a reduced budget: images and a report that shows the
//! correction worked.

use crate::util::{dipnuc, json, ok};

#[test]
fn demo_writes_images_and_a_report_showing_improvement() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let stdout = ok(dipnuc().args([
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--max-seconds",
        "10",
        "--json",
    ]));
    let r = &json(&stdout)["report"];
    for f in r["files"].as_array().unwrap() {
        assert!(out.join(f.as_str().unwrap()).is_file(), "{f} missing");
    }
    let rough = |k: &str| r[k]["roughness"].as_f64().unwrap();
    let psnr = |k: &str| r[k]["psnr_db"].as_f64().unwrap();
    // The scene is textured: the floor is its own roughness; most of the excess must go.
    let floor = r["clean_roughness"].as_f64().unwrap();
    assert!(
        rough("corrected") - floor < 0.5 * (rough("raw") - floor),
        "{r}"
    );
    assert!(psnr("corrected") > psnr("raw"), "{r}");
    // TV-DIP by default: the CP-TV stage was served first, and the final pattern is no worse.
    assert_eq!(r["method"], "tv-dip");
    assert_eq!(r["first_stage_method"], "cp-tv", "{r}");
    assert!(psnr("corrected") >= psnr("first_stage") - 0.3, "{r}");
    assert!(r["timeline"].as_array().unwrap().len() >= 4, "{r}");
    assert!(
        r["pattern_rmse_dn"].as_f64().unwrap() < r["pattern_rms_dn"].as_f64().unwrap(),
        "{r}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("PSNR gain") && md.contains("psnr_over_time.png"),
        "{md}"
    );
    // Raw, CP-TV, TV-DIP and clean, 320x256 at twice the size.
    let side = image::open(out.join("side_by_side.png")).unwrap();
    assert_eq!((side.width(), side.height()), (4 * 640 + 3 * 8, 512));
    let chart = image::open(out.join("psnr_over_time.png")).unwrap();
    assert_eq!((chart.width(), chart.height()), (900, 380));
}
