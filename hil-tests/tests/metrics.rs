//! The Prometheus endpoint: the daemon's `/metrics` in OpenMetrics text with the names the
//! dashboard uses, then a real Prometheus server (Debian package `prometheus`, which `.ci/run`
//! installs) scraping it, with a metric read back through Prometheus's query API. Without the
//! `prometheus` binary that second half is skipped with the reason printed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::EdgeSetup;
use hil_tests::board::{Board, Needs};
use hil_tests::edge_setup::free_port;

use crate::util::{calibrate, connect, start, workdir};

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

/// The value of an unlabelled sample `name` in exposition text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `prometheus` on PATH (or `DIPNUC_PROMETHEUS`).
fn prometheus_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DIPNUC_PROMETHEUS") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join("prometheus"))
        .find(|p| p.is_file())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_scrapes_the_edge() {
    let Some(board) = Board::for_test("prometheus_scrape", Needs::Any) else {
        return;
    };
    let dir = workdir();
    let mut setup = EdgeSetup::for_board(&board, dir.path());
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    setup.config.metrics.listen = Some(metrics_addr.clone());
    let edge = start(&setup);
    let mut dev = connect(&setup);
    calibrate(&mut dev);

    // The endpoint itself: conventions and the values the dashboard plots.
    let (code, text) = http_get(&metrics_addr, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{text}");
    for line in [
        "# TYPE dipnuc_frames_captured counter",
        "# TYPE dipnuc_frames_dropped counter",
        "# TYPE dipnuc_frame_latency_seconds histogram",
        "# UNIT dipnuc_frame_latency_seconds seconds",
        "# TYPE dipnuc_fit_duration_seconds histogram",
        "# TYPE dipnuc_fit_budget_allowed_seconds gauge",
        "dipnuc_fits_total{method=\"cp-tv\",outcome=\"completed\"} 1",
        "dipnuc_camera_present 1",
        "dipnuc_link_clients 1",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(
        sample(&text, "dipnuc_frames_captured_total").unwrap() > 0.0,
        "{text}"
    );
    let frames = sample(&text, "dipnuc_frame_latency_seconds_count").unwrap();
    assert!(frames > 0.0);
    // Cumulative buckets: +Inf holds every frame once.
    assert_eq!(
        sample(&text, "dipnuc_frame_latency_seconds_bucket{le=\"+Inf\"}"),
        Some(frames),
        "{text}"
    );
    assert!(
        sample(&text, "dipnuc_pattern_age_seconds").is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "dipnuc_sensor_temperature_celsius").is_some(),
        "{text}"
    );
    assert_eq!(
        sample(&text, "dipnuc_fit_budget_allowed_seconds"),
        Some(f64::from(setup.config.fit.budget.gpu_seconds_per_hour))
    );
    assert_eq!(http_get(&metrics_addr, "/nope").unwrap().0, 404);

    // Every metric the Grafana dashboard plots exists (the board's GPU and thermal zones
    // may be missing here, and with them those samples).
    let board_dependent = ["dipnuc_gpu_", "dipnuc_cpu_temperature"];
    let dashboard = include_str!("../../boards/grafana/dipnuc-fleet.json");
    let mut names: Vec<&str> = dashboard
        .match_indices("dipnuc_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| n.len() > "dipnuc_".len() && *n != "dipnuc_fleet")
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        if board_dependent.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "the dashboard plots {name}, which /metrics does not have:\n{text}"
        );
    }

    // A real Prometheus scraping it.
    let Some(prometheus) = prometheus_binary() else {
        println!(
            "skipped: the prometheus scrape (no `prometheus` binary on PATH; \
             apt-get install prometheus, or set DIPNUC_PROMETHEUS)"
        );
        return;
    };
    let web = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: dipnuc-edge\n    static_configs:\n      \
             - targets: ['{metrics_addr}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prom = KillOnDrop(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting prometheus"),
    );
    // Wait for Prometheus to have scraped the edge at least once (event: the query answers a
    // sample); the limit only bounds a broken setup.
    let query = "/api/v1/query?query=dipnuc_frames_captured_total";
    let start = Instant::now();
    let answer = loop {
        if let Ok((200, body)) = http_get(&web, query)
            && body.contains("\"result\":[{")
        {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "prometheus never returned a sample; its log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    println!("prometheus answered {query}: {answer}");
    assert!(answer.contains("\"job\":\"dipnuc-edge\""), "{answer}");
    assert!(
        answer.contains(&format!("\"instance\":\"{metrics_addr}\"")),
        "{answer}"
    );
    let (_, fits) = http_get(&web, "/api/v1/query?query=dipnuc_fits_total").unwrap();
    println!("prometheus answered dipnuc_fits_total: {fits}");
    assert!(fits.contains("\"method\":\"cp-tv\""), "{fits}");
    assert!(fits.contains("\"outcome\":\"completed\""), "{fits}");
    drop(edge);
}
