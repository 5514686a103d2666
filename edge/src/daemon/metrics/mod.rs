//! The Prometheus endpoint: `GET /metrics` on `metrics.listen` answers the OpenMetrics text
//! exposition of the daemon's counters ([`collector`]), encoded by `prometheus-client` and
//! served by `tiny_http` from one thread that also counts fits from the event bus.
//!
//! Off unless `[metrics] listen` is set. The endpoint has no authentication, like every
//! Prometheus exporter: bind it to loopback (a Prometheus or agent on the board scrapes it)
//! or to a management network. It reveals the device's identity and health, never a secret.
//!
//! ```text
//! curl -s http://127.0.0.1:7701/metrics | grep dipnuc_frames_dropped_total
//! ```

pub mod collector;
pub mod fit_tally;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tiny_http::{Header, Method, Response, Server};
use tracing::{debug, info, warn};

use self::collector::DaemonCollector;
use self::fit_tally::FitTally;
use super::{DaemonCore, DaemonError};

/// Content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry every scrape encodes: the daemon's collector under the `dipnuc` prefix.
pub fn registry(core: Arc<DaemonCore>, fits: Arc<Mutex<FitTally>>) -> Registry {
    let mut registry = Registry::with_prefix("dipnuc");
    registry.register_collector(Box::new(DaemonCollector { core, fits }));
    registry
}

/// Binds `listen` and starts serving; returns the bound address (the real port when 0 was
/// configured) and the server thread, which stops with the daemon.
pub fn start(
    core: &Arc<DaemonCore>,
    listen: &str,
) -> Result<(SocketAddr, JoinHandle<()>), DaemonError> {
    let refused = |reason: String| DaemonError::Metrics {
        listen: listen.to_string(),
        reason,
    };
    let server = Server::http(listen).map_err(|e| refused(e.to_string()))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| refused("not an IP socket".into()))?;
    // Subscribed before the thread starts, so no fit that ends from now on is missed.
    let events = core.events().subscribe(256);
    let fits = Arc::new(Mutex::new(FitTally::default()));
    let registry = registry(core.clone(), fits.clone());
    let core = core.clone();
    let thread = std::thread::Builder::new()
        .name("dipnuc-metrics".into())
        .spawn(move || {
            // Fit events are counted between requests and just before each answer, so a
            // scrape right after a fit ends already counts it.
            let count_fits = || {
                let mut tally = fits.lock().unwrap_or_else(|e| e.into_inner());
                for ev in events.try_iter() {
                    tally.record(&ev);
                }
            };
            while !core.stopping() {
                match server.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(request)) => {
                        count_fits();
                        answer(request, &registry)
                    }
                    Ok(None) => count_fits(),
                    Err(e) => {
                        warn!(error = %e, "metrics endpoint: accept failed");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    info!(%addr, "metrics endpoint listening (http://{addr}/metrics)");
    Ok((addr, thread))
}

fn answer(request: tiny_http::Request, registry: &Registry) {
    let header = |name: &str, value: &str| Header::from_bytes(name, value).expect("ASCII header");
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let response = match (request.method(), path.as_str()) {
        (Method::Get | Method::Head, "/metrics") => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => {
                    Response::from_string(body).with_header(header("Content-Type", CONTENT_TYPE))
                }
                Err(_) => {
                    Response::from_string("encoding the metrics failed\n").with_status_code(500)
                }
            }
        }
        (Method::Get | Method::Head, "/") => {
            Response::from_string("dipnuc-edge: metrics at /metrics\n")
                .with_header(header("Content-Type", "text/plain; charset=utf-8"))
        }
        (Method::Get | Method::Head, _) => {
            Response::from_string("not found\n").with_status_code(404)
        }
        _ => Response::from_string("only GET\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET, HEAD")),
    };
    if let Err(e) = request.respond(response) {
        debug!(error = %e, "metrics response not delivered");
    }
}
