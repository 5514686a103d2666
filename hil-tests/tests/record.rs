//! Recording: `dipnuc record` over TCP and over the pty serial link, at a low rate, finds no
//! frame lost and accounts for every frame the camera delivered meanwhile (sent, or skipped on
//! the device for the rate); then the rate a recording sustains over TCP when it asks for
//! everything the camera gives, printed as `hil-counts record_tcp_rate`.

use std::path::Path;
use std::process::{Command, Output};

use hil_tests::board::{Board, Needs};
use hil_tests::edge_binary::dipnuc_binary;
use hil_tests::{EdgeSetup, SerialPair};
use serde_json::Value;

use crate::util::{report, start, workdir};

fn record(setup: &EdgeSetup, link: &[&str], args: &[&str]) -> (Output, Value) {
    let out = Command::new(dipnuc_binary())
        .arg("record")
        .args(args)
        .args(link)
        .args([
            "--token",
            setup.config.link.tcp.token.as_deref().unwrap_or_default(),
        ])
        .arg("--json")
        .env("DIPNUC_HOST_CONFIG", "/nonexistent/dipnuc-test-host.toml")
        .output()
        .expect("running dipnuc record");
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, summary)
}

/// The sidecar rows: (index, seq, offered, skipped_rate, skipped_busy).
fn csv_rows(dir: &Path) -> Vec<[u64; 5]> {
    let text = std::fs::read_to_string(dir.join("frames.csv")).expect("frames.csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "file,page,index,seq,unix_ms,sensor_temp_c,pattern_id,offered,skipped_rate,skipped_busy"
        )
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert!(
                !f[5].is_empty(),
                "the simulator reports a sensor temperature: {l}"
            );
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            [n(2), n(3), n(7), n(8), n(9)]
        })
        .collect()
}

/// No index gaps (nothing lost on the link), and every camera frame between two recorded
/// ones is one the device counted as skipped.
fn assert_accounted(rows: &[[u64; 5]]) {
    for (i, r) in rows.iter().enumerate() {
        let [index, _, offered, rate, busy] = *r;
        assert_eq!(index, i as u64, "gap before row {i}: {rows:?}");
        assert_eq!(offered, index + 1 + rate + busy, "row {i}: {r:?}");
    }
    for w in rows.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert_eq!(
            b[1] - a[1],
            b[2] - a[2],
            "camera frames unaccounted between {a:?} and {b:?}"
        );
    }
}

#[test]
fn recording_over_tcp_and_serial_has_no_gaps() {
    let Some(_board) = Board::for_test("record", Needs::Sim) else {
        return;
    };
    let dir = workdir();
    let pair = SerialPair::open().expect("pty pair");
    let mut setup = EdgeSetup::sim(dir.path());
    setup.config.link.serial.port = Some(pair.edge_port().to_string());
    let _edge = start(&setup);
    let tcp = setup.tcp_addr();

    // TCP, a TIFF sequence with a CSV sidecar.
    let out_tcp = dir.path().join("tcp");
    let (out, s) = record(
        &setup,
        &["--tcp", &tcp],
        &[
            "--kind",
            "raw",
            "--frames",
            "20",
            "--fps",
            "5",
            "--out",
            out_tcp.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{s}");
    assert_eq!(s["frames"], 20, "{s}");
    assert_eq!(s["lost_on_link"], 0, "{s}");
    assert!(
        s["skipped_rate"].as_u64().unwrap() > 0,
        "30 fps camera, 5 fps asked: {s}"
    );
    let rows = csv_rows(&out_tcp);
    assert_eq!(rows.len(), 20);
    assert_accounted(&rows);
    let first = image::open(out_tcp.join("frame-000000.tif")).expect("a 16-bit TIFF");
    assert_eq!((first.width(), first.height()), (160, 120));
    assert!(matches!(first, image::DynamicImage::ImageLuma16(_)));
    // The folder holds a recording now: a second one into it is refused, nothing overwritten.
    let again = Command::new(dipnuc_binary())
        .args([
            "record",
            "--kind",
            "raw",
            "--frames",
            "1",
            "--out",
            out_tcp.to_str().unwrap(),
        ])
        .args(["--tcp", &tcp, "--token", hil_tests::edge_setup::SIM_TOKEN])
        .env("DIPNUC_HOST_CONFIG", "/nonexistent/dipnuc-test-host.toml")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a recording"));

    // Serial (pty), corrected frames into one multi-page TIFF with a JSON sidecar.
    let out_serial = dir.path().join("serial");
    let port = pair.host_port().to_string();
    let (out, s) = record(
        &setup,
        &["--port", &port, "--baud", "115200", "--timeout", "3"],
        &[
            "--kind",
            "corrected",
            "--frames",
            "10",
            "--fps",
            "4",
            "--multipage",
            "--sidecar",
            "json",
            "--out",
            out_serial.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{s}");
    assert_eq!(s["frames"], 10, "{s}");
    assert_eq!(s["lost_on_link"], 0, "{s}");
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(out_serial.join("frames.json")).unwrap())
            .unwrap();
    let frames = sidecar["frames"].as_array().unwrap();
    let rows: Vec<[u64; 5]> = frames
        .iter()
        .map(|f| {
            let n = |k: &str| f[k].as_u64().unwrap();
            [
                n("index"),
                n("seq"),
                n("offered"),
                n("skipped_rate"),
                n("skipped_busy"),
            ]
        })
        .collect();
    assert_accounted(&rows);
    assert!(frames.iter().enumerate().all(|(i, f)| f["page"] == i));
    let mut tif =
        tiff::decoder::Decoder::new(std::fs::File::open(out_serial.join("frames.tif")).unwrap())
            .expect("a TIFF");
    let mut pages = 1;
    assert_eq!(tif.dimensions().unwrap(), (160, 120));
    while tif.more_images() {
        tif.next_image().unwrap();
        assert_eq!(tif.dimensions().unwrap(), (160, 120));
        pages += 1;
    }
    assert_eq!(pages, 10);
    report(
        "record",
        &[
            ("tcp_frames", 20),
            ("serial_frames", 10),
            ("serial_bytes_bridged", pair.bytes_bridged()),
        ],
    );
}

#[test]
fn recording_rate_over_tcp() {
    let _alone = crate::util::exclusive();
    let Some(_board) = Board::for_test("record_tcp_rate", Needs::Sim) else {
        return;
    };
    let dir = workdir();
    let mut setup = EdgeSetup::sim(dir.path());
    setup.config.camera.fps = 60.0;
    setup.config.recording.max_fps = 1000.0;
    let _edge = start(&setup);
    let out_dir = dir.path().join("rate");
    let (out, s) = record(
        &setup,
        &["--tcp", &setup.tcp_addr()],
        &[
            "--kind",
            "raw",
            "--seconds",
            "5",
            "--fps",
            "1000",
            "--multipage",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{s}");
    // TCP loses nothing: what the link could not carry was skipped on the device, counted.
    assert_eq!(s["lost_on_link"], 0, "{s}");
    let rows = csv_rows(&out_dir);
    assert_accounted(&rows);
    let fps = s["fps"].as_f64().unwrap();
    println!("recording over TCP sustained {fps:.1} fps of a 60 fps camera: {s}");
    report(
        "record_tcp_rate",
        &[
            ("frames", s["frames"].as_u64().unwrap()),
            ("fps_x10", (fps * 10.0) as u64),
            ("skipped_busy", s["skipped_busy"].as_u64().unwrap()),
            ("skipped_rate", s["skipped_rate"].as_u64().unwrap()),
        ],
    );
}
