//! Request handling for one link connection (TCP or serial): the handshake and token gate,
//! then one answer per request, mapped from the daemon's state. The transport files only move
//! packets; everything the protocol means is here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use protocol::text::truncate;
use protocol::{
    Capabilities, DeviceInfo, FirmwareState, FitOutcome as WireFitOutcome, FitState, FitStatus,
    FitSummary, Hello, LogLevel as WireLogLevel, Nack, NackCode, ObjectEncoding, ObjectKind,
    ObjectMeta, Request, Response, SnapshotKind, Telemetry,
};
use tracing::{info, warn};

use super::transfers::{Transfers, UploadRefused};
use crate::config::{ConfigError, SourceKind};
use crate::daemon::{BUILD_VERSION, DaemonCore, TelemetrySnapshot};
use crate::events::{FitEnd, LogLevel};
use crate::refit::{FitRequest, RefitError, RefitState};
use crate::stats::{CameraState, LastFit, unix_ms};
use formats::pattern::{PatternMeta, StoredPattern};

/// What a connection has subscribed to; read by its topic sender.
#[derive(Default)]
pub struct Subscriptions {
    /// Heartbeat (telemetry) at 1 Hz.
    pub heartbeat: AtomicBool,
    /// Fit progress and fit done.
    pub fit_progress: AtomicBool,
    /// Log lines.
    pub logs: AtomicBool,
    /// Most verbose log level wanted (wire encoding: 0 = error … 4 = trace).
    pub log_level: AtomicU8,
    /// The connection ended.
    pub closed: AtomicBool,
    /// Topics may be sent (handshake and authentication done).
    pub open: AtomicBool,
}

impl Subscriptions {
    /// Whether a log line of `level` is wanted.
    pub fn wants_log(&self, level: LogLevel) -> bool {
        self.logs.load(Ordering::Relaxed)
            && wire_level(level) as u8 <= self.log_level.load(Ordering::Relaxed)
    }
}

/// What the session sends after the final answer.
pub enum After {
    /// Nothing.
    Nothing,
    /// Restart the daemon (reboot, firmware switch).
    Restart,
}

/// One connection's state.
pub struct Session {
    core: Arc<DaemonCore>,
    transfers: Arc<Transfers>,
    token: Option<String>,
    authenticated: bool,
    compatible: Option<bool>,
    /// Subscriptions, shared with the topic sender.
    pub subs: Arc<Subscriptions>,
    peer: String,
}

fn nack(code: NackCode, detail: impl AsRef<str>) -> Response {
    Response::Nack(Nack::new(code, detail.as_ref()))
}

fn config_nack(e: &ConfigError) -> Response {
    let code = match e {
        ConfigError::UnknownKey { .. } => NackCode::UnknownKey,
        ConfigError::Unset { .. } => NackCode::NotFound,
        _ => NackCode::InvalidValue,
    };
    nack(code, e.to_string())
}

/// The daemon's log level on the wire.
pub fn wire_level(l: LogLevel) -> WireLogLevel {
    match l {
        LogLevel::Error => WireLogLevel::Error,
        LogLevel::Warn => WireLogLevel::Warn,
        LogLevel::Info => WireLogLevel::Info,
        LogLevel::Debug => WireLogLevel::Debug,
        LogLevel::Trace => WireLogLevel::Trace,
    }
}

/// The daemon's fit outcome on the wire.
pub fn wire_outcome(e: FitEnd) -> WireFitOutcome {
    match e {
        FitEnd::Completed => WireFitOutcome::Completed,
        FitEnd::Aborted => WireFitOutcome::Aborted,
        FitEnd::Failed => WireFitOutcome::Failed,
    }
}

fn wire_last_fit(l: &LastFit) -> FitSummary {
    FitSummary {
        method: truncate(&l.method),
        loss: l.loss,
        duration_ms: l.duration_ms,
        steps: l.steps,
        unix_ms: l.unix_ms,
    }
}

fn wire_fit_state(s: &RefitState) -> FitState {
    match s {
        RefitState::Idle => FitState::Idle,
        RefitState::Collecting { .. } | RefitState::WaitingForBudget { .. } => FitState::Collecting,
        RefitState::Running { .. } => FitState::Running,
    }
}

/// Telemetry on the wire.
pub fn wire_telemetry(t: &TelemetrySnapshot, fit: FitState) -> Telemetry {
    Telemetry {
        uptime_ms: t.uptime_s * 1000,
        fps: t.fps,
        frames_total: t.frames_total,
        frames_dropped: t.frames_dropped,
        frame_latency_us: t.frame_latency_us,
        pattern_age_s: t.pattern_age_s,
        fit_state: fit,
        last_fit: t.last_fit.as_ref().map(wire_last_fit),
        gpu_load_pct: t.gpu_load_pct,
        cpu_load_pct: t.cpu_load_pct,
        sensor_temp_c: t.sensor_temp_c,
        soc_temp_c: t.soc_temp_c,
        disk_free_mb: t.disk_free_mb,
        roughness: t.roughness,
        camera: match t.camera {
            CameraState::Streaming => protocol::CameraState::Streaming,
            CameraState::Absent => protocol::CameraState::Absent,
            CameraState::Ended => protocol::CameraState::Ended,
        },
        since_last_frame_ms: t.since_last_frame_ms,
    }
}

/// The device's capabilities.
pub fn capabilities(core: &DaemonCore) -> Capabilities {
    let cfg = core.config();
    let mut c = Capabilities::SNAPSHOTS | Capabilities::PATTERN_TRANSFER;
    if cfg!(feature = "cuda") {
        c |= Capabilities::CUDA;
    }
    if cfg!(target_os = "linux") {
        c |= Capabilities::V4L2;
    }
    if cfg.outputs.loopback.is_some() {
        c |= Capabilities::LOOPBACK;
    }
    if cfg.gpio.board != crate::config::GpioBoard::None {
        c |= Capabilities::GPIO;
    }
    if core.firmware().available() {
        c |= Capabilities::FIRMWARE_UPDATE;
    }
    if cfg.camera.source == SourceKind::Sim {
        c |= Capabilities::SIMULATED_CAMERA;
    }
    if cfg.link.tcp.token.is_some() {
        c |= Capabilities::AUTH_REQUIRED;
    }
    c
}

/// Our `Hello`.
pub fn our_hello(core: &DaemonCore) -> Hello {
    let cfg = core.config();
    Hello::new(&cfg.device.id, BUILD_VERSION, capabilities(core))
}

/// Compares tokens in time independent of where they differ.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = (a.len() ^ b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0 && a.len() == b.len()
}

impl Session {
    /// A session; `token` = the pre-shared token the peer must present (TCP), None = trusted
    /// transport (serial).
    pub fn new(
        core: Arc<DaemonCore>,
        transfers: Arc<Transfers>,
        token: Option<String>,
        peer: String,
    ) -> Session {
        Session {
            authenticated: token.is_none(),
            core,
            transfers,
            token,
            compatible: None,
            subs: Arc::new(Subscriptions::default()),
            peer,
        }
    }

    fn update_open(&self) {
        self.subs.open.store(
            self.authenticated && self.compatible == Some(true),
            Ordering::Relaxed,
        );
    }

    /// Answers one request. `interim` sends `InProgress` answers for long operations.
    pub fn handle(&mut self, req: Request, interim: &mut dyn FnMut(Response)) -> (Response, After) {
        match req {
            Request::Hello(peer) => {
                let ours = our_hello(&self.core);
                let ok = ours.check(&peer);
                if let Err(e) = &ok {
                    warn!(peer = %self.peer, error = %e, "link handshake refused");
                }
                self.compatible = Some(ok.is_ok());
                self.update_open();
                // Our Hello goes back either way: the host names both versions in its error.
                return (Response::Hello(ours), After::Nothing);
            }
            Request::Auth { token } => {
                let resp = match &self.token {
                    None => Response::Ack,
                    Some(expected) if token_matches(&token, expected) => {
                        self.authenticated = true;
                        info!(peer = %self.peer, "link client authenticated");
                        Response::Ack
                    }
                    Some(_) => {
                        warn!(peer = %self.peer, "link client presented a wrong token");
                        nack(NackCode::Unauthorized, "wrong token")
                    }
                };
                self.update_open();
                return (resp, After::Nothing);
            }
            _ => {}
        }
        if !self.authenticated {
            return (
                nack(
                    NackCode::Unauthorized,
                    "authenticate first (Auth with the device's token)",
                ),
                After::Nothing,
            );
        }
        match self.compatible {
            None => {
                return (
                    nack(NackCode::BadRequest, "send Hello first"),
                    After::Nothing,
                );
            }
            Some(false) => {
                return (
                    nack(
                        NackCode::VersionMismatch,
                        "protocol mismatch; see the Hello exchange",
                    ),
                    After::Nothing,
                );
            }
            Some(true) => {}
        }
        self.dispatch(req, interim)
    }

    fn dispatch(&mut self, req: Request, interim: &mut dyn FnMut(Response)) -> (Response, After) {
        let core = self.core.clone();
        let r = match req {
            Request::Hello(_) | Request::Auth { .. } => unreachable!("handled before"),
            Request::Ping => Response::Pong,
            Request::GetInfo => Response::Info(self.info()),
            Request::GetTelemetry => {
                let fit = wire_fit_state(&core.fit_status().state);
                Response::Telemetry(wire_telemetry(&core.telemetry(), fit))
            }
            Request::ConfigGet { key } => match core.config_get(&key) {
                Ok(v) => self.config_value(&key, &v),
                Err(e) => config_nack(&e),
            },
            Request::ConfigSet { key, value } => match core.config_set(&key, &value) {
                Ok(change) => self.config_value(&key, &change.value),
                Err(e) => config_nack(&e),
            },
            Request::ConfigExport => {
                let text = core.config().to_toml_string().into_bytes();
                self.offer(
                    ObjectKind::Config,
                    text,
                    ObjectMeta::opaque(ObjectEncoding::TomlUtf8, "edge.toml"),
                )
            }
            Request::CalibrateStart {
                preset,
                max_seconds,
                max_steps,
            } => self.calibrate(&preset, max_seconds, max_steps),
            Request::CalibrateAbort => {
                if core.abort_fit() {
                    Response::Ack
                } else {
                    nack(NackCode::NotFound, "no fit is running or pending")
                }
            }
            Request::CalibrateStatus => Response::FitStatus(self.fit_status()),
            Request::SnapshotRequest { kind } => self.snapshot(kind),
            Request::PatternPull => match core.pattern() {
                Some(p) => {
                    let meta = pattern_meta(&p, core.config().camera.bit_depth);
                    let bytes = p.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                    self.offer(ObjectKind::Pattern, bytes, meta)
                }
                None => nack(NackCode::NotFound, "no pattern yet (calibrate first)"),
            },
            Request::BulkRead {
                transfer_id,
                offset,
                len,
            } => match self.transfers.read(transfer_id, offset, len) {
                None => nack(NackCode::NotFound, format!("no transfer {transfer_id}")),
                Some(Err(e)) => nack(NackCode::BadRequest, e),
                Some(Ok(bytes)) => Response::BulkChunk {
                    transfer_id,
                    offset,
                    data: protocol::bulk::chunk_data(&bytes),
                },
            },
            Request::BulkBegin {
                kind,
                total_len,
                crc32,
                meta,
            } => match self.transfers.begin(kind, total_len, crc32, meta) {
                Ok((transfer_id, resume_offset)) => Response::BulkAccepted {
                    transfer_id,
                    resume_offset,
                },
                Err(e @ UploadRefused::Busy) => nack(NackCode::Busy, e.to_string()),
                Err(e @ UploadRefused::TooLarge { .. }) => nack(NackCode::TooLarge, e.to_string()),
                Err(e @ UploadRefused::Unsupported(_)) => {
                    nack(NackCode::Unsupported, e.to_string())
                }
            },
            Request::BulkWrite {
                transfer_id,
                offset,
                data,
            } => match self.transfers.write(transfer_id, offset, &data) {
                None => nack(NackCode::NotFound, format!("no upload {transfer_id}")),
                Some(Err(e)) => Response::Nack(e.to_nack()),
                Some(Ok(next_offset)) => Response::BulkProgress {
                    transfer_id,
                    next_offset,
                },
            },
            Request::BulkCommit { transfer_id } => return self.commit(transfer_id, interim),
            Request::BulkStatus { transfer_id } => match self.transfers.status(transfer_id) {
                Some(next_offset) => Response::BulkProgress {
                    transfer_id,
                    next_offset,
                },
                None => nack(NackCode::NotFound, format!("no transfer {transfer_id}")),
            },
            Request::BulkCancel { transfer_id } => {
                if self.transfers.cancel(transfer_id) {
                    Response::Ack
                } else {
                    nack(NackCode::NotFound, format!("no transfer {transfer_id}"))
                }
            }
            Request::FirmwareStatus => Response::FirmwareState(self.firmware_state()),
            Request::FirmwareConfirm => match core.firmware().confirm() {
                Ok(()) => Response::Ack,
                Err(e) => nack(NackCode::Unsupported, e.to_string()),
            },
            Request::Reboot => {
                info!(peer = %self.peer, "restart requested over the link");
                return (Response::Ack, After::Restart);
            }
            Request::TimeSync { host_unix_ms } => {
                let device = unix_ms();
                *core
                    .time_offset_ms
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(host_unix_ms as i64 - device as i64);
                Response::TimeSync {
                    device_unix_ms: device,
                    device_monotonic_ms: core.started.elapsed().as_millis() as u64,
                }
            }
            Request::LogSubscribe { min_level } => {
                self.subs
                    .log_level
                    .store(min_level as u8, Ordering::Relaxed);
                self.subs.logs.store(true, Ordering::Relaxed);
                Response::Ack
            }
            Request::SubscribeTopics {
                heartbeat,
                fit_progress,
                logs,
            } => {
                self.subs.heartbeat.store(heartbeat, Ordering::Relaxed);
                self.subs
                    .fit_progress
                    .store(fit_progress, Ordering::Relaxed);
                if logs && !self.subs.logs.load(Ordering::Relaxed) {
                    self.subs
                        .log_level
                        .store(WireLogLevel::Info as u8, Ordering::Relaxed);
                }
                self.subs.logs.store(logs, Ordering::Relaxed);
                Response::Ack
            }
        };
        (r, After::Nothing)
    }

    fn config_value(&self, key: &str, value: &str) -> Response {
        match protocol::text::exact(value) {
            Some(value) => Response::ConfigValue {
                key: truncate(key),
                value,
            },
            None => nack(
                NackCode::TooLarge,
                format!("{key}: value longer than 96 bytes; use config export"),
            ),
        }
    }

    fn offer(&self, kind: ObjectKind, bytes: Vec<u8>, meta: ObjectMeta) -> Response {
        let (transfer_id, total_len, crc32) = self.transfers.offer(kind, bytes, meta.clone());
        Response::BulkOffer {
            transfer_id,
            kind,
            total_len,
            crc32,
            meta,
        }
    }

    fn info(&self) -> DeviceInfo {
        let cfg = self.core.config();
        let src = self.core.source_info();
        let (slots, _) = self.core.firmware().state();
        DeviceInfo {
            device_id: truncate(&cfg.device.id),
            firmware_version: truncate(BUILD_VERSION),
            board: truncate(&cfg.device.board),
            camera: truncate(&cfg.camera.name),
            width: src.width.min(u32::from(u16::MAX)) as u16,
            height: src.height.min(u32::from(u16::MAX)) as u16,
            bit_depth: src.bit_depth,
            capabilities: capabilities(&self.core),
            uptime_s: self.core.stats().uptime_s(),
            active_slot: slots.active,
        }
    }

    fn calibrate(&self, preset: &str, max_seconds: u32, max_steps: u32) -> Response {
        let mut req = FitRequest {
            max_seconds: (max_seconds > 0).then_some(max_seconds as f32),
            max_steps: (max_steps > 0).then_some(max_steps),
            ..FitRequest::default()
        };
        // The field carries a preset (`fast`, `paper`, `refine`) or a method name.
        let p = preset.trim();
        if !p.is_empty() {
            if p.parse::<engine::nuc::Method>().is_ok() {
                req.method = Some(p.to_string());
            } else {
                req.preset = Some(p.to_string());
            }
        }
        match self.core.request_fit(req) {
            Ok(fit_id) => Response::CalibrateStarted { fit_id },
            Err(e @ (RefitError::Busy(_) | RefitError::Budget(_))) => {
                nack(NackCode::Busy, e.to_string())
            }
            Err(e @ RefitError::Invalid(_)) => nack(NackCode::InvalidValue, e.to_string()),
            Err(e @ RefitError::Stopped) => nack(NackCode::Internal, e.to_string()),
        }
    }

    fn fit_status(&self) -> FitStatus {
        let st = self.core.fit_status();
        let last = self.core.stats().last_fit().map(|l| wire_last_fit(&l));
        let mut s = FitStatus {
            state: wire_fit_state(&st.state),
            fit_id: None,
            step: 0,
            total_steps: 0,
            loss: 0.0,
            elapsed_ms: 0,
            eta_ms: 0,
            last,
        };
        match st.state {
            RefitState::Running {
                fit_id,
                step,
                total_steps,
                loss,
                elapsed_ms,
            } => {
                s.fit_id = Some(fit_id);
                s.step = step;
                s.total_steps = total_steps;
                s.loss = if loss.is_finite() { loss } else { 0.0 };
                s.elapsed_ms = elapsed_ms.min(u64::from(u32::MAX)) as u32;
                if step > 0 {
                    let per = elapsed_ms as f64 / f64::from(step);
                    s.eta_ms = (per * f64::from(total_steps.saturating_sub(step))) as u32;
                }
            }
            RefitState::Collecting { fit_id, .. } => s.fit_id = Some(fit_id),
            _ => {}
        }
        s
    }

    fn snapshot(&self, kind: SnapshotKind) -> Response {
        let cfg = self.core.config();
        if kind == SnapshotKind::Pattern {
            return match self.core.pattern() {
                Some(p) => {
                    let meta = pattern_meta(&p, cfg.camera.bit_depth);
                    let bytes = p.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                    self.offer(ObjectKind::Frame, bytes, meta)
                }
                None => nack(NackCode::NotFound, "no pattern yet (calibrate first)"),
            };
        }
        let Some(latest) = self.core.latest_frame() else {
            return nack(NackCode::NotFound, "no frame captured yet");
        };
        let (data, label): (&[u16], &str) = match kind {
            SnapshotKind::Raw => (&latest.raw.data, "raw"),
            _ => (&latest.corrected, "corrected"),
        };
        let meta = ObjectMeta {
            encoding: ObjectEncoding::U16Le,
            width: latest.raw.width as u16,
            height: latest.raw.height as u16,
            bit_depth: cfg.camera.bit_depth,
            sensor_temp_c: latest.raw.sensor_temp_c,
            unix_ms: unix_ms(),
            label: truncate(&format!("{label} #{}", latest.raw.seq)),
        };
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.offer(ObjectKind::Frame, bytes, meta)
    }

    fn firmware_state(&self) -> FirmwareState {
        let (st, version) = self.core.firmware().state();
        FirmwareState {
            active_slot: st.active,
            pending_slot: st.pending,
            confirmed: st.confirmed,
            version: truncate(&version),
            last_error: st.last_error.as_deref().map(truncate),
        }
    }

    fn commit(&mut self, id: u32, interim: &mut dyn FnMut(Response)) -> (Response, After) {
        let (kind, meta, bytes) = match self.transfers.take_complete(id) {
            None => {
                return (
                    nack(NackCode::NotFound, format!("no upload {id}")),
                    After::Nothing,
                );
            }
            Some(Err(e)) => return (Response::Nack(e.to_nack()), After::Nothing),
            Some(Ok(x)) => x,
        };
        let resp = match kind {
            ObjectKind::Pattern => match decode_pushed_pattern(&bytes, &meta) {
                Ok(p) => match self.core.install_pattern(p) {
                    Ok(()) => {
                        info!(peer = %self.peer, "pattern pushed and installed");
                        Response::Ack
                    }
                    Err(e) => nack(NackCode::InvalidValue, e.to_string()),
                },
                Err(e) => nack(NackCode::InvalidValue, e),
            },
            ObjectKind::Config => match std::str::from_utf8(&bytes) {
                Err(_) => nack(NackCode::InvalidValue, "config is not UTF-8 text"),
                Ok(text) => match self.core.config_import(text) {
                    Ok(_) => Response::Ack,
                    Err(e) => config_nack(&e),
                },
            },
            ObjectKind::Firmware => {
                interim(Response::InProgress {
                    percent: 10,
                    stage: truncate("verifying signature"),
                });
                if let Err(e) = self.core.firmware().verify(&bytes) {
                    let code = match e {
                        crate::firmware::FirmwareError::Image(
                            formats::firmware::ImageError::Signature,
                        ) => NackCode::SignatureInvalid,
                        crate::firmware::FirmwareError::NotConfigured(_) => NackCode::Unsupported,
                        _ => NackCode::InvalidValue,
                    };
                    warn!(peer = %self.peer, error = %e, "firmware image refused");
                    return (nack(code, e.to_string()), After::Nothing);
                }
                interim(Response::InProgress {
                    percent: 50,
                    stage: truncate("installing"),
                });
                match self.core.firmware().install_and_activate(&bytes) {
                    Ok(_) => return (Response::Ack, After::Restart),
                    Err(e) => nack(NackCode::Internal, e.to_string()),
                }
            }
            ObjectKind::Frame => nack(NackCode::Unsupported, "frames cannot be uploaded"),
        };
        (resp, After::Nothing)
    }
}

fn pattern_meta(p: &StoredPattern, bit_depth: u8) -> ObjectMeta {
    ObjectMeta {
        encoding: ObjectEncoding::F32Le,
        width: p.width as u16,
        height: p.height as u16,
        bit_depth,
        sensor_temp_c: p.meta.sensor_temp_c,
        unix_ms: p.meta.unix_ms,
        label: truncate(&p.meta.method),
    }
}

/// A pushed pattern: either raw `f32` LE values with width/height in the metadata, or a
/// complete `.dnp` pattern file (see `formats::pattern`).
fn decode_pushed_pattern(bytes: &[u8], meta: &ObjectMeta) -> Result<StoredPattern, String> {
    if bytes.starts_with(formats::pattern::MAGIC) {
        return StoredPattern::decode(bytes).map_err(|e| e.to_string());
    }
    if meta.encoding != ObjectEncoding::F32Le {
        return Err(format!(
            "pattern encoding {:?} not accepted (F32Le values or a .dnp file)",
            meta.encoding
        ));
    }
    let (w, h) = (u32::from(meta.width), u32::from(meta.height));
    let n = w as usize * h as usize;
    if n == 0 || bytes.len() != n * 4 {
        return Err(format!(
            "{} bytes do not make a {w}x{h} f32 pattern ({} expected)",
            bytes.len(),
            n * 4
        ));
    }
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(format!("pattern value {i} is not finite"));
    }
    Ok(StoredPattern {
        width: w,
        height: h,
        data,
        meta: PatternMeta {
            camera: String::new(),
            sensor_temp_c: meta.sensor_temp_c,
            unix_ms: if meta.unix_ms > 0 {
                meta.unix_ms
            } else {
                unix_ms()
            },
            fit_loss: None,
            method: "pushed".into(),
            steps: 0,
            duration_ms: 0,
        },
    })
}
