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
    assert!(rough("corrected") < 0.5 * rough("raw"), "{r}");
    assert!(psnr("corrected") > psnr("raw"), "{r}");
    assert!(
        r["pattern_rmse_dn"].as_f64().unwrap() < r["pattern_rms_dn"].as_f64().unwrap(),
        "{r}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("PSNR gain"), "{md}");
    let side = image::open(out.join("side_by_side.png")).unwrap();
    assert_eq!((side.width(), side.height()), (3 * 480 + 2 * 8, 360));
}
