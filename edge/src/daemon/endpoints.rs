//! The daemon behind the link: [`LinkBackend`] for [`DaemonCore`], one arm per device
//! endpoint (info, telemetry, configuration, calibration, snapshots, pattern pull, firmware,
//! reboot, clocks), the frame streams it feeds, and the uploads it applies (pattern push,
//! config import, firmware).

use engine::nuc::Method;
use protocol::text::truncate;
use std::sync::atomic::Ordering;

use protocol::{
    ConfigApply, FrameKind, Nack, NackCode, ObjectEncoding, ObjectKind, ObjectMeta, Request,
    Response, SnapshotKind, StreamOpened, Telemetry,
};
use tracing::{info, warn};

use super::core::DaemonCore;
use super::wire;
use crate::config::{Apply, ConfigError, Preset};
use crate::events::EventBus;
use crate::firmware::FirmwareError;
use crate::frame_topic::{FrameStream, StreamRefused};
use crate::link::session::nack;
use crate::link::{CompleteUpload, LinkBackend, Reply};
use crate::refit::{FitRequest, RefitError};
use crate::stats::unix_ms;

fn config_nack(e: &ConfigError) -> Response {
    let code = match e {
        ConfigError::UnknownKey { .. } => NackCode::UnknownKey,
        ConfigError::Unset { .. } => NackCode::NotFound,
        ConfigError::DeviceLocal { .. } => NackCode::DeviceLocal,
        _ => NackCode::InvalidValue,
    };
    nack(code, e.to_string())
}

fn answer(r: Response) -> Reply {
    Reply::Answer(r)
}

impl LinkBackend for DaemonCore {
    fn hello(&self, auth_required: bool) -> protocol::Hello {
        wire::hello(self, auth_required)
    }

    fn answer(&self, req: Request, _interim: &mut dyn FnMut(Response)) -> Reply {
        match req {
            Request::GetInfo => answer(Response::Info(wire::device_info(self))),
            Request::GetTelemetry => answer(Response::Telemetry(wire::telemetry_now(self))),
            Request::ConfigGet { key } => answer(match self.config_get(&key) {
                Ok(value) => config_value(&key, &value),
                Err(e) => config_nack(&e),
            }),
            Request::ConfigSet { key, value } => answer(match self.config_set(&key, &value) {
                Ok(change) => match protocol::text::exact(&change.value) {
                    Some(value) => Response::ConfigChanged(protocol::ConfigChange {
                        key: truncate(&change.key),
                        value,
                        apply: match change.apply {
                            Apply::Live => ConfigApply::Live,
                            Apply::Restart | Apply::Load => ConfigApply::Restart,
                        },
                        persisted: change.persisted,
                    }),
                    None => too_long(&key),
                },
                Err(e) => config_nack(&e),
            }),
            Request::ConfigExport => Reply::Offer {
                kind: ObjectKind::Config,
                bytes: self.config_store().export().into_bytes(),
                meta: ObjectMeta::opaque(ObjectEncoding::TomlUtf8, "edge.toml"),
            },
            Request::CalibrateStart {
                preset,
                max_seconds,
                max_steps,
            } => answer(self.calibrate(&preset, max_seconds, max_steps)),
            Request::CalibrateAbort => answer(if self.abort_fit() {
                Response::Ack
            } else {
                nack(NackCode::NotFound, "no fit is running or pending")
            }),
            Request::CalibrateStatus => answer(Response::FitStatus(wire::fit_status(self))),
            Request::SnapshotRequest { kind } => self.snapshot(kind),
            Request::PatternPull => match self.pattern() {
                Some(p) => {
                    let (meta, bytes) =
                        formats::pattern_object::encode(&p, self.config().camera.bit_depth);
                    Reply::Offer {
                        kind: ObjectKind::Pattern,
                        bytes,
                        meta,
                    }
                }
                None => answer(nack(NackCode::NotFound, "no pattern yet (calibrate first)")),
            },
            Request::FirmwareStatus => answer(Response::FirmwareState(wire::firmware_state(self))),
            Request::FirmwareConfirm => answer(match self.firmware().confirm() {
                Ok(()) => Response::Ack,
                Err(e) => nack(NackCode::Unsupported, e.to_string()),
            }),
            Request::Reboot => {
                info!("restart requested over the link");
                Reply::AnswerThenRestart(Response::Ack)
            }
            Request::TimeSync { .. } => answer(Response::TimeSync {
                device_unix_ms: unix_ms(),
                device_monotonic_ms: self.started.elapsed().as_millis() as u64,
            }),
            // The link answers its own requests before they reach the backend.
            other => answer(nack(
                NackCode::BadRequest,
                format!("{} is not a device request", other.name()),
            )),
        }
    }

    fn apply_upload(&self, upload: CompleteUpload, interim: &mut dyn FnMut(Response)) -> Reply {
        let (kind, meta, bytes) = upload;
        match kind {
            ObjectKind::Pattern => answer(match formats::pattern_object::decode(&meta, &bytes) {
                Ok(p) => match self.install_pattern(p) {
                    Ok(()) => {
                        info!("pattern pushed and installed");
                        Response::Ack
                    }
                    Err(e) => nack(NackCode::InvalidValue, e.to_string()),
                },
                Err(e) => nack(NackCode::InvalidValue, e.to_string()),
            }),
            ObjectKind::Config => answer(match std::str::from_utf8(&bytes) {
                Err(_) => nack(NackCode::InvalidValue, "config is not UTF-8 text"),
                Ok(text) => match self.config_import(text) {
                    Ok(_) => Response::Ack,
                    Err(e) => config_nack(&e),
                },
            }),
            ObjectKind::Firmware => self.install_firmware(&bytes, interim),
            ObjectKind::Frame => answer(nack(NackCode::Unsupported, "frames cannot be uploaded")),
        }
    }

    fn heartbeat(&self) -> Telemetry {
        wire::telemetry_now(self)
    }

    fn events(&self) -> &EventBus {
        &self.events
    }

    fn open_frame_stream(
        &self,
        kind: FrameKind,
        max_fps: f32,
    ) -> Result<(FrameStream, StreamOpened), Nack> {
        let cfg = self.config();
        let limits = &cfg.recording;
        let stream = self
            .frame_streams()
            .subscribe(kind, max_fps, limits.max_fps, limits.max_streams)
            .map_err(|e| match e {
                StreamRefused::BadRate(_) => Nack::new(NackCode::InvalidValue, &e.to_string()),
                StreamRefused::TooMany(_) => Nack::new(NackCode::Busy, &e.to_string()),
            })?;
        let src = self.source_info();
        let opened = StreamOpened {
            stream_id: stream.id,
            kind,
            width: src.width.min(u32::from(u16::MAX)) as u16,
            height: src.height.min(u32::from(u16::MAX)) as u16,
            bit_depth: src.bit_depth,
            max_fps: stream.max_fps,
        };
        Ok((stream, opened))
    }

    fn connection_changed(&self, open: bool) {
        let clients = &self.stats().link_clients;
        if open {
            clients.fetch_add(1, Ordering::Relaxed);
        } else {
            clients.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn stopping(&self) -> bool {
        DaemonCore::stopping(self)
    }

    fn restart(&self) {
        self.request_reboot();
    }
}

fn config_value(key: &str, value: &str) -> Response {
    match protocol::text::exact(value) {
        Some(value) => Response::ConfigValue {
            key: truncate(key),
            value,
        },
        None => too_long(key),
    }
}

fn too_long(key: &str) -> Response {
    nack(
        NackCode::TooLarge,
        format!("{key}: value longer than 96 bytes; use config export"),
    )
}

impl DaemonCore {
    fn calibrate(&self, name: &str, max_seconds: u32, max_steps: u32) -> Response {
        let mut req = FitRequest {
            max_seconds: (max_seconds > 0).then_some(max_seconds as f32),
            max_steps: (max_steps > 0).then_some(max_steps),
            ..FitRequest::default()
        };
        // The field carries a preset (`fast`, `paper`, `refine`) or a method name.
        let name = name.trim();
        if !name.is_empty() {
            if let Ok(p) = name.parse::<Preset>() {
                req.preset = Some(p);
            } else if let Ok(m) = name.parse::<Method>() {
                req.method = Some(m);
            } else {
                return nack(
                    NackCode::InvalidValue,
                    format!(
                        "unknown preset or method {name:?}; expected paper, fast, refine, tv-dip, cp-tv or colmean"
                    ),
                );
            }
        }
        match self.request_fit(req) {
            Ok(fit_id) => Response::CalibrateStarted { fit_id },
            Err(e @ (RefitError::Busy(_) | RefitError::Budget(_))) => {
                nack(NackCode::Busy, e.to_string())
            }
            Err(e @ RefitError::Stopped) => nack(NackCode::Internal, e.to_string()),
        }
    }

    fn snapshot(&self, kind: SnapshotKind) -> Reply {
        let cfg = self.config();
        if kind == SnapshotKind::Pattern {
            let Some(p) = self.pattern() else {
                return answer(nack(NackCode::NotFound, "no pattern yet (calibrate first)"));
            };
            let mut meta = formats::pattern_object::meta(&p, cfg.camera.bit_depth);
            meta.encoding = ObjectEncoding::F32Le;
            return Reply::Offer {
                kind: ObjectKind::Frame,
                bytes: p.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                meta,
            };
        }
        let Some(latest) = self.latest_frame() else {
            return answer(nack(NackCode::NotFound, "no frame captured yet"));
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
            label: truncate(label),
            seq: Some(latest.raw.seq),
        };
        Reply::Offer {
            kind: ObjectKind::Frame,
            bytes: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            meta,
        }
    }

    /// Verifies the image against the configured key before anything is written; a verified
    /// image is installed into the inactive slot and the daemon restarts into it.
    fn install_firmware(&self, image: &[u8], interim: &mut dyn FnMut(Response)) -> Reply {
        interim(Response::InProgress {
            percent: 10,
            stage: truncate("verifying signature"),
        });
        if let Err(e) = self.firmware().verify(image) {
            let code = match e {
                FirmwareError::Image(formats::firmware::ImageError::Signature) => {
                    NackCode::SignatureInvalid
                }
                FirmwareError::NotConfigured(_) => NackCode::Unsupported,
                _ => NackCode::InvalidValue,
            };
            warn!(error = %e, "firmware image refused");
            return answer(nack(code, e.to_string()));
        }
        interim(Response::InProgress {
            percent: 50,
            stage: truncate("installing"),
        });
        match self.firmware().install_and_activate(image) {
            Ok(_) => Reply::AnswerThenRestart(Response::Ack),
            Err(e) => answer(nack(NackCode::Internal, e.to_string())),
        }
    }
}
