//! Shared test helpers: proptest strategies for every wire type (heapless strings and vectors
//! included) and one hand-written sample value per message variant.
#![allow(dead_code)]

use heapless::{String, Vec};
use proptest::prelude::*;
use proptest::strategy::Union;

use protocol::bulk::BULK_CHUNK;
use protocol::*;

/// Any string that fits `String<N>` (multi-byte characters included).
pub fn hstring<const N: usize>() -> impl Strategy<Value = String<N>> {
    proptest::string::string_regex(&format!(".{{0,{N}}}"))
        .unwrap()
        .prop_map(|s| protocol::text::truncate::<N>(&s))
}

/// Any byte vector that fits `Vec<u8, N>`; biased towards short ones and the full capacity.
pub fn hbytes<const N: usize>() -> impl Strategy<Value = Vec<u8, N>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => proptest::collection::vec(any::<u8>(), N..=N),
        1 => proptest::collection::vec(any::<u8>(), 0..=N),
    ]
    .prop_map(|v| Vec::from_slice(&v).unwrap())
}

/// Floats without NaN, so round trips can be compared with `==`.
pub fn float() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("NaN never equals itself", |f| !f.is_nan())
}

pub fn capabilities() -> impl Strategy<Value = Capabilities> {
    any::<u32>().prop_map(Capabilities)
}

pub fn hello() -> impl Strategy<Value = Hello> {
    (
        any::<(u16, u16, u64)>(),
        hstring::<32>(),
        hstring::<32>(),
        capabilities(),
    )
        .prop_map(
            |((major, minor, schema_hash), device_id, firmware_version, capabilities)| Hello {
                protocol_version: ProtocolVersion { major, minor },
                schema_hash,
                device_id,
                firmware_version,
                capabilities,
            },
        )
}

pub fn nack_code() -> impl Strategy<Value = NackCode> {
    prop_oneof![
        Just(NackCode::Unauthorized),
        Just(NackCode::UnknownKey),
        Just(NackCode::InvalidValue),
        Just(NackCode::Busy),
        Just(NackCode::NotFound),
        Just(NackCode::BadRequest),
        Just(NackCode::ChecksumMismatch),
        Just(NackCode::SignatureInvalid),
        Just(NackCode::TooLarge),
        Just(NackCode::Unsupported),
        Just(NackCode::Internal),
        Just(NackCode::Timeout),
        Just(NackCode::VersionMismatch),
        Just(NackCode::DeviceLocal),
    ]
}

pub fn nack() -> impl Strategy<Value = Nack> {
    (nack_code(), hstring::<96>()).prop_map(|(code, detail)| Nack { code, detail })
}

pub fn device_info() -> impl Strategy<Value = DeviceInfo> {
    (
        (
            hstring::<32>(),
            hstring::<32>(),
            hstring::<32>(),
            hstring::<32>(),
        ),
        any::<(u16, u16, u8)>(),
        capabilities(),
        any::<(u64, u8)>(),
    )
        .prop_map(
            |(
                (device_id, firmware_version, board, camera),
                (width, height, bit_depth),
                capabilities,
                (uptime_s, active_slot),
            )| DeviceInfo {
                device_id,
                firmware_version,
                board,
                camera,
                width,
                height,
                bit_depth,
                capabilities,
                uptime_s,
                active_slot,
            },
        )
}

pub fn fit_state() -> impl Strategy<Value = FitState> {
    prop_oneof![
        Just(FitState::Idle),
        Just(FitState::Collecting),
        Just(FitState::Running),
        Just(FitState::Aborting),
    ]
}

pub fn fit_outcome() -> impl Strategy<Value = FitOutcome> {
    prop_oneof![
        Just(FitOutcome::Completed),
        Just(FitOutcome::Aborted),
        Just(FitOutcome::Failed),
    ]
}

pub fn fit_summary() -> impl Strategy<Value = FitSummary> {
    (hstring::<16>(), float(), any::<(u32, u32, u64)>()).prop_map(
        |(method, loss, (duration_ms, steps, unix_ms))| FitSummary {
            method,
            loss,
            duration_ms,
            steps,
            unix_ms,
        },
    )
}

pub fn fit_status() -> impl Strategy<Value = FitStatus> {
    (
        fit_state(),
        any::<Option<u32>>(),
        any::<(u32, u32, u32, u32)>(),
        float(),
        proptest::option::of(fit_summary()),
    )
        .prop_map(
            |(state, fit_id, (step, total_steps, elapsed_ms, eta_ms), loss, last)| FitStatus {
                state,
                fit_id,
                step,
                total_steps,
                loss,
                elapsed_ms,
                eta_ms,
                last,
            },
        )
}

pub fn fit_progress() -> impl Strategy<Value = FitProgress> {
    (any::<(u32, u32, u32, u32, u32)>(), float(), float()).prop_map(
        |((fit_id, step, total_steps, elapsed_ms, eta_ms), loss, ms_per_step)| FitProgress {
            fit_id,
            step,
            total_steps,
            loss,
            ms_per_step,
            elapsed_ms,
            eta_ms,
        },
    )
}

pub fn fit_done() -> impl Strategy<Value = FitDone> {
    (
        any::<(u32, u32, u32)>(),
        fit_outcome(),
        float(),
        hstring::<96>(),
    )
        .prop_map(
            |((fit_id, steps, duration_ms), outcome, loss, detail)| FitDone {
                fit_id,
                outcome,
                loss,
                steps,
                duration_ms,
                detail,
            },
        )
}

pub fn telemetry() -> impl Strategy<Value = Telemetry> {
    (
        (any::<u64>(), float(), any::<(u64, u64, u32)>()),
        (
            any::<Option<u32>>(),
            fit_state(),
            proptest::option::of(fit_summary()),
        ),
        (
            proptest::option::of(float()),
            float(),
            proptest::option::of(float()),
            proptest::option::of(float()),
        ),
        (any::<u64>(), proptest::option::of(float())),
    )
        .prop_map(
            |(
                (uptime_ms, fps, (frames_total, frames_dropped, frame_latency_us)),
                (pattern_age_s, fit_state, last_fit),
                (gpu_load_pct, cpu_load_pct, sensor_temp_c, soc_temp_c),
                (disk_free_mb, roughness),
            )| Telemetry {
                uptime_ms,
                fps,
                frames_total,
                frames_dropped,
                frame_latency_us,
                pattern_age_s,
                fit_state,
                last_fit,
                gpu_load_pct,
                cpu_load_pct,
                sensor_temp_c,
                soc_temp_c,
                disk_free_mb,
                roughness,
            },
        )
}

pub fn object_kind() -> impl Strategy<Value = ObjectKind> {
    prop_oneof![
        Just(ObjectKind::Frame),
        Just(ObjectKind::Pattern),
        Just(ObjectKind::Firmware),
        Just(ObjectKind::Config),
    ]
}

pub fn snapshot_kind() -> impl Strategy<Value = SnapshotKind> {
    prop_oneof![
        Just(SnapshotKind::Raw),
        Just(SnapshotKind::Pattern),
        Just(SnapshotKind::Corrected),
    ]
}

pub fn object_encoding() -> impl Strategy<Value = ObjectEncoding> {
    prop_oneof![
        Just(ObjectEncoding::U16Le),
        Just(ObjectEncoding::F32Le),
        Just(ObjectEncoding::TomlUtf8),
        Just(ObjectEncoding::SignedImage),
        Just(ObjectEncoding::PatternFile),
    ]
}

pub fn object_meta() -> impl Strategy<Value = ObjectMeta> {
    (
        object_encoding(),
        any::<(u16, u16, u8, u64)>(),
        proptest::option::of(float()),
        hstring::<32>(),
        any::<Option<u64>>(),
    )
        .prop_map(
            |(encoding, (width, height, bit_depth, unix_ms), sensor_temp_c, label, seq)| {
                ObjectMeta {
                    encoding,
                    width,
                    height,
                    bit_depth,
                    sensor_temp_c,
                    unix_ms,
                    label,
                    seq,
                }
            },
        )
}

pub fn firmware_state() -> impl Strategy<Value = FirmwareState> {
    (
        any::<(u8, Option<u8>, bool)>(),
        hstring::<32>(),
        proptest::option::of(hstring::<96>()),
    )
        .prop_map(
            |((active_slot, pending_slot, confirmed), version, last_error)| FirmwareState {
                active_slot,
                pending_slot,
                confirmed,
                version,
                last_error,
            },
        )
}

pub fn log_level() -> impl Strategy<Value = LogLevel> {
    prop_oneof![
        Just(LogLevel::Error),
        Just(LogLevel::Warn),
        Just(LogLevel::Info),
        Just(LogLevel::Debug),
        Just(LogLevel::Trace),
    ]
}

pub fn log_line() -> impl Strategy<Value = LogLine> {
    (log_level(), hstring::<32>(), hstring::<160>()).prop_map(|(level, target, message)| LogLine {
        level,
        target,
        message,
    })
}

pub fn frame_kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![Just(FrameKind::Raw), Just(FrameKind::Corrected)]
}

pub fn frame_header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<(u32, u64, u64, u64)>(),
        any::<(u64, u64)>(),
        (
            proptest::option::of(float()),
            proptest::option::of(any::<u64>()),
        ),
        any::<(u16, u16, u32, u32)>(),
    )
        .prop_map(
            |(
                (stream_id, index, seq, offered),
                (skipped_rate, skipped_busy),
                (sensor_temp_c, pattern_id),
                (width, height, len, crc32),
            )| FrameHeader {
                stream_id,
                index,
                seq,
                offered,
                skipped_rate,
                skipped_busy,
                unix_ms: seq.wrapping_mul(3),
                sensor_temp_c,
                pattern_id,
                width,
                height,
                len,
                crc32,
            },
        )
}

pub fn request() -> impl Strategy<Value = Request> {
    Union::new(vec![
        hello().prop_map(Request::Hello).boxed(),
        hstring::<64>()
            .prop_map(|token| Request::Auth { token })
            .boxed(),
        Just(Request::Ping).boxed(),
        Just(Request::GetInfo).boxed(),
        Just(Request::GetTelemetry).boxed(),
        hstring::<48>()
            .prop_map(|key| Request::ConfigGet { key })
            .boxed(),
        (hstring::<48>(), hstring::<96>())
            .prop_map(|(key, value)| Request::ConfigSet { key, value })
            .boxed(),
        Just(Request::ConfigExport).boxed(),
        (hstring::<16>(), any::<(u32, u32)>())
            .prop_map(
                |(preset, (max_seconds, max_steps))| Request::CalibrateStart {
                    preset,
                    max_seconds,
                    max_steps,
                },
            )
            .boxed(),
        Just(Request::CalibrateAbort).boxed(),
        Just(Request::CalibrateStatus).boxed(),
        snapshot_kind()
            .prop_map(|kind| Request::SnapshotRequest { kind })
            .boxed(),
        Just(Request::PatternPull).boxed(),
        any::<(u32, u32, u16)>()
            .prop_map(|(transfer_id, offset, len)| Request::BulkRead {
                transfer_id,
                offset,
                len,
            })
            .boxed(),
        (object_kind(), any::<(u32, u32)>(), object_meta())
            .prop_map(|(kind, (total_len, crc32), meta)| Request::BulkBegin {
                kind,
                total_len,
                crc32,
                meta,
            })
            .boxed(),
        (any::<(u32, u32)>(), hbytes::<BULK_CHUNK>())
            .prop_map(|((transfer_id, offset), data)| Request::BulkWrite {
                transfer_id,
                offset,
                data,
            })
            .boxed(),
        any::<u32>()
            .prop_map(|transfer_id| Request::BulkCommit { transfer_id })
            .boxed(),
        any::<u32>()
            .prop_map(|transfer_id| Request::BulkStatus { transfer_id })
            .boxed(),
        any::<u32>()
            .prop_map(|transfer_id| Request::BulkCancel { transfer_id })
            .boxed(),
        Just(Request::FirmwareStatus).boxed(),
        Just(Request::FirmwareConfirm).boxed(),
        Just(Request::Reboot).boxed(),
        any::<u64>()
            .prop_map(|host_unix_ms| Request::TimeSync { host_unix_ms })
            .boxed(),
        log_level()
            .prop_map(|min_level| Request::LogSubscribe { min_level })
            .boxed(),
        any::<(bool, bool, bool)>()
            .prop_map(|(heartbeat, fit_progress, logs)| Request::SubscribeTopics {
                heartbeat,
                fit_progress,
                logs,
            })
            .boxed(),
        (frame_kind(), float())
            .prop_map(|(kind, max_fps)| Request::FrameSubscribe { kind, max_fps })
            .boxed(),
        Just(Request::FrameUnsubscribe).boxed(),
    ])
}

pub fn response() -> impl Strategy<Value = Response> {
    Union::new(vec![
        hello().prop_map(Response::Hello).boxed(),
        Just(Response::Ack).boxed(),
        Just(Response::Pong).boxed(),
        nack().prop_map(Response::Nack).boxed(),
        (any::<u8>(), hstring::<32>())
            .prop_map(|(percent, stage)| Response::InProgress { percent, stage })
            .boxed(),
        device_info().prop_map(Response::Info).boxed(),
        telemetry().prop_map(Response::Telemetry).boxed(),
        (hstring::<48>(), hstring::<96>())
            .prop_map(|(key, value)| Response::ConfigValue { key, value })
            .boxed(),
        (
            hstring::<48>(),
            hstring::<96>(),
            prop_oneof![Just(ConfigApply::Live), Just(ConfigApply::Restart)],
            any::<bool>(),
        )
            .prop_map(|(key, value, apply, persisted)| {
                Response::ConfigChanged(ConfigChange {
                    key,
                    value,
                    apply,
                    persisted,
                })
            })
            .boxed(),
        any::<u32>()
            .prop_map(|fit_id| Response::CalibrateStarted { fit_id })
            .boxed(),
        fit_status().prop_map(Response::FitStatus).boxed(),
        (any::<(u32, u32, u32)>(), object_kind(), object_meta())
            .prop_map(
                |((transfer_id, total_len, crc32), kind, meta)| Response::BulkOffer {
                    transfer_id,
                    kind,
                    total_len,
                    crc32,
                    meta,
                },
            )
            .boxed(),
        (any::<(u32, u32)>(), hbytes::<BULK_CHUNK>())
            .prop_map(|((transfer_id, offset), data)| Response::BulkChunk {
                transfer_id,
                offset,
                data,
            })
            .boxed(),
        any::<(u32, u32)>()
            .prop_map(|(transfer_id, resume_offset)| Response::BulkAccepted {
                transfer_id,
                resume_offset,
            })
            .boxed(),
        any::<(u32, u32)>()
            .prop_map(|(transfer_id, next_offset)| Response::BulkProgress {
                transfer_id,
                next_offset,
            })
            .boxed(),
        firmware_state().prop_map(Response::FirmwareState).boxed(),
        any::<(u64, u64)>()
            .prop_map(|(device_unix_ms, device_monotonic_ms)| Response::TimeSync {
                device_unix_ms,
                device_monotonic_ms,
            })
            .boxed(),
        (any::<(u32, u16, u16, u8)>(), frame_kind(), float())
            .prop_map(|((stream_id, width, height, bit_depth), kind, max_fps)| {
                Response::StreamOpened(StreamOpened {
                    stream_id,
                    kind,
                    width,
                    height,
                    bit_depth,
                    max_fps,
                })
            })
            .boxed(),
    ])
}

pub fn topic() -> impl Strategy<Value = Topic> {
    prop_oneof![
        telemetry().prop_map(Topic::Heartbeat),
        fit_progress().prop_map(Topic::FitProgress),
        fit_done().prop_map(Topic::FitDone),
        log_line().prop_map(Topic::Log),
        frame_header().prop_map(Topic::FrameStart),
        (any::<(u32, u64, u32)>(), hbytes::<BULK_CHUNK>()).prop_map(
            |((stream_id, index, offset), data)| Topic::FrameData(FrameData {
                stream_id,
                index,
                offset,
                data,
            })
        ),
    ]
}

pub fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (any::<u32>(), request()).prop_map(|(id, body)| Packet::Request { id, body }),
        (any::<u32>(), response()).prop_map(|(id, body)| Packet::Response { id, body }),
        topic().prop_map(Packet::Topic),
    ]
}

fn s<const N: usize>(text: &str) -> String<N> {
    protocol::text::truncate(text)
}

fn sample_telemetry() -> Telemetry {
    Telemetry {
        uptime_ms: 3_600_123,
        fps: 8.75,
        frames_total: 31_500,
        frames_dropped: 3,
        frame_latency_us: 2_150,
        pattern_age_s: Some(420),
        fit_state: FitState::Idle,
        last_fit: Some(sample_fit_summary()),
        gpu_load_pct: Some(12.5),
        cpu_load_pct: 37.0,
        sensor_temp_c: Some(31.25),
        soc_temp_c: None,
        disk_free_mb: 12_345,
        roughness: Some(0.0125),
    }
}

fn sample_fit_summary() -> FitSummary {
    FitSummary {
        method: s("tv-dip"),
        loss: 0.003_25,
        duration_ms: 95_000,
        steps: 1500,
        unix_ms: 1_764_000_000_000,
    }
}

fn sample_meta() -> ObjectMeta {
    ObjectMeta {
        encoding: ObjectEncoding::U16Le,
        width: 160,
        height: 120,
        bit_depth: 14,
        sensor_temp_c: Some(30.5),
        unix_ms: 1_764_000_000_000,
        label: s("raw"),
        seq: Some(1234),
    }
}

fn sample_hello() -> Hello {
    Hello {
        protocol_version: ProtocolVersion { major: 1, minor: 0 },
        // Fixed, not SCHEMA_HASH: the golden bytes must not move with the hash (the hash has its
        // own golden line).
        schema_hash: 0x0123_4567_89ab_cdef,
        device_id: s("sim-0001"),
        firmware_version: s("0.1.0"),
        capabilities: Capabilities::SIMULATED_CAMERA | Capabilities::SNAPSHOTS,
    }
}

/// One representative value of every Request, Response and Topic variant, with a stable name.
pub fn samples() -> std::vec::Vec<(&'static str, Packet)> {
    let chunk: Vec<u8, BULK_CHUNK> = Vec::from_slice(&[0, 1, 2, 0xfe, 0xff, 0]).unwrap();
    let req = |name, id, body| (name, Packet::Request { id, body });
    let resp = |name, id, body| (name, Packet::Response { id, body });
    vec![
        req("request.hello", 1, Request::Hello(sample_hello())),
        req(
            "request.auth",
            2,
            Request::Auth {
                token: s("s3cret-token"),
            },
        ),
        req("request.ping", 3, Request::Ping),
        req("request.get_info", 4, Request::GetInfo),
        req("request.get_telemetry", 5, Request::GetTelemetry),
        req(
            "request.config_get",
            6,
            Request::ConfigGet {
                key: s("correction.offset"),
            },
        ),
        req(
            "request.config_set",
            7,
            Request::ConfigSet {
                key: s("fit.method"),
                value: s("\"cp-tv\""),
            },
        ),
        req("request.config_export", 8, Request::ConfigExport),
        req(
            "request.calibrate_start",
            9,
            Request::CalibrateStart {
                preset: s("fast"),
                max_seconds: 120,
                max_steps: 500,
            },
        ),
        req("request.calibrate_abort", 10, Request::CalibrateAbort),
        req("request.calibrate_status", 11, Request::CalibrateStatus),
        req(
            "request.snapshot_request",
            12,
            Request::SnapshotRequest {
                kind: SnapshotKind::Corrected,
            },
        ),
        req("request.pattern_pull", 13, Request::PatternPull),
        req(
            "request.bulk_read",
            14,
            Request::BulkRead {
                transfer_id: 77,
                offset: 8192,
                len: 4096,
            },
        ),
        req(
            "request.bulk_begin",
            15,
            Request::BulkBegin {
                kind: ObjectKind::Pattern,
                total_len: 76_800,
                crc32: 0xdead_beef,
                meta: sample_meta(),
            },
        ),
        req(
            "request.bulk_write",
            16,
            Request::BulkWrite {
                transfer_id: 78,
                offset: 4096,
                data: chunk.clone(),
            },
        ),
        req(
            "request.bulk_commit",
            17,
            Request::BulkCommit { transfer_id: 78 },
        ),
        req(
            "request.bulk_status",
            18,
            Request::BulkStatus { transfer_id: 78 },
        ),
        req(
            "request.bulk_cancel",
            19,
            Request::BulkCancel { transfer_id: 78 },
        ),
        req("request.firmware_status", 20, Request::FirmwareStatus),
        req("request.firmware_confirm", 21, Request::FirmwareConfirm),
        req("request.reboot", 22, Request::Reboot),
        req(
            "request.time_sync",
            23,
            Request::TimeSync {
                host_unix_ms: 1_764_000_000_000,
            },
        ),
        req(
            "request.log_subscribe",
            24,
            Request::LogSubscribe {
                min_level: LogLevel::Info,
            },
        ),
        req(
            "request.subscribe_topics",
            25,
            Request::SubscribeTopics {
                heartbeat: true,
                fit_progress: true,
                logs: false,
            },
        ),
        req(
            "request.frame_subscribe",
            26,
            Request::FrameSubscribe {
                kind: FrameKind::Raw,
                max_fps: 9.0,
            },
        ),
        req("request.frame_unsubscribe", 27, Request::FrameUnsubscribe),
        resp("response.hello", 1, Response::Hello(sample_hello())),
        resp("response.ack", 2, Response::Ack),
        resp("response.pong", 3, Response::Pong),
        resp(
            "response.nack",
            7,
            Response::Nack(Nack::new(
                NackCode::InvalidValue,
                "fit.method: expected one of tv-dip, cp-tv, colmean",
            )),
        ),
        resp(
            "response.in_progress",
            17,
            Response::InProgress {
                percent: 40,
                stage: s("verifying signature"),
            },
        ),
        resp(
            "response.info",
            4,
            Response::Info(DeviceInfo {
                device_id: s("sim-0001"),
                firmware_version: s("0.1.0"),
                board: s("sim"),
                camera: s("sim-160x120"),
                width: 160,
                height: 120,
                bit_depth: 14,
                capabilities: Capabilities::SIMULATED_CAMERA | Capabilities::FIRMWARE_UPDATE,
                uptime_s: 3600,
                active_slot: 0,
            }),
        ),
        resp(
            "response.telemetry",
            5,
            Response::Telemetry(sample_telemetry()),
        ),
        resp(
            "response.config_value",
            6,
            Response::ConfigValue {
                key: s("correction.offset"),
                value: s("0.5"),
            },
        ),
        resp(
            "response.calibrate_started",
            9,
            Response::CalibrateStarted { fit_id: 3 },
        ),
        resp(
            "response.fit_status",
            11,
            Response::FitStatus(FitStatus {
                state: FitState::Running,
                fit_id: Some(3),
                step: 250,
                total_steps: 500,
                loss: 0.0125,
                elapsed_ms: 30_000,
                eta_ms: 30_000,
                last: Some(sample_fit_summary()),
            }),
        ),
        resp(
            "response.bulk_offer",
            12,
            Response::BulkOffer {
                transfer_id: 77,
                kind: ObjectKind::Frame,
                total_len: 38_400,
                crc32: 0x1234_5678,
                meta: sample_meta(),
            },
        ),
        resp(
            "response.bulk_chunk",
            14,
            Response::BulkChunk {
                transfer_id: 77,
                offset: 8192,
                data: chunk.clone(),
            },
        ),
        resp(
            "response.bulk_accepted",
            15,
            Response::BulkAccepted {
                transfer_id: 78,
                resume_offset: 4096,
            },
        ),
        resp(
            "response.bulk_progress",
            16,
            Response::BulkProgress {
                transfer_id: 78,
                next_offset: 4102,
            },
        ),
        resp(
            "response.firmware_state",
            20,
            Response::FirmwareState(FirmwareState {
                active_slot: 1,
                pending_slot: None,
                confirmed: false,
                version: s("0.2.0"),
                last_error: Some(s("slot 0: signature invalid")),
            }),
        ),
        resp(
            "response.time_sync",
            23,
            Response::TimeSync {
                device_unix_ms: 1_764_000_000_250,
                device_monotonic_ms: 3_600_123,
            },
        ),
        resp(
            "response.config_changed",
            7,
            Response::ConfigChanged(ConfigChange {
                key: s("fit.method"),
                value: s("\"cp-tv\""),
                apply: ConfigApply::Live,
                persisted: true,
            }),
        ),
        resp(
            "response.stream_opened",
            26,
            Response::StreamOpened(StreamOpened {
                stream_id: 5,
                kind: FrameKind::Raw,
                width: 160,
                height: 120,
                bit_depth: 14,
                max_fps: 9.0,
            }),
        ),
        (
            "topic.heartbeat",
            Packet::Topic(Topic::Heartbeat(sample_telemetry())),
        ),
        (
            "topic.fit_progress",
            Packet::Topic(Topic::FitProgress(FitProgress {
                fit_id: 3,
                step: 250,
                total_steps: 500,
                loss: 0.0125,
                ms_per_step: 120.5,
                elapsed_ms: 30_125,
                eta_ms: 30_125,
            })),
        ),
        (
            "topic.fit_done",
            Packet::Topic(Topic::FitDone(FitDone {
                fit_id: 3,
                outcome: FitOutcome::Aborted,
                loss: 0.0125,
                steps: 250,
                duration_ms: 30_125,
                detail: s("aborted by request"),
            })),
        ),
        (
            "topic.log",
            Packet::Topic(Topic::Log(LogLine {
                level: LogLevel::Warn,
                target: s("edge::capture"),
                message: s("frame 1234 truncated (9600 of 38400 bytes), skipped"),
            })),
        ),
        (
            "topic.frame_start",
            Packet::Topic(Topic::FrameStart(FrameHeader {
                stream_id: 5,
                index: 41,
                seq: 1234,
                offered: 125,
                skipped_rate: 80,
                skipped_busy: 3,
                unix_ms: 1_764_000_000_250,
                sensor_temp_c: Some(31.5),
                pattern_id: Some(1_764_000_000_000),
                width: 160,
                height: 120,
                len: 38_400,
                crc32: 0x1234_5678,
            })),
        ),
        (
            "topic.frame_data",
            Packet::Topic(Topic::FrameData(FrameData {
                stream_id: 5,
                index: 41,
                offset: 8192,
                data: chunk,
            })),
        ),
    ]
}
