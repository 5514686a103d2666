//! [`Device`]: a connected, authenticated device with one blocking method per endpoint.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use formats::pattern::StoredPattern;
use protocol::client::{Client, PulledObject};
use protocol::io::FramedStream;
use protocol::tracker::{RequestTracker, RetryPolicy};
use protocol::{
    Capabilities, ConfigChange, DeviceInfo, FirmwareState, FitStatus, Hello, LogLevel, NackCode,
    ObjectEncoding, ObjectKind, ObjectMeta, Request, Response, SnapshotKind, Telemetry, Topic,
};

use super::error::{ClientError, CommsError, HandshakeFailure, Result};
use super::link::{self, Link};
use super::target::ConnectOptions;

/// Calibration request parameters; zero/empty fields mean "the device's configured default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalibrateOptions {
    /// Preset name (`fast`, `paper`, …); empty = the configured one.
    pub preset: String,
    /// Wall-time limit in seconds; 0 = the configured budget.
    pub max_seconds: u32,
    /// Step limit; 0 = the preset's default.
    pub max_steps: u32,
}

/// Pixels of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    /// Raw or corrected frames: 16-bit words.
    U16(Vec<u16>),
    /// Float values (a pattern rendered in DN, may be negative).
    F32(Vec<f32>),
}

/// A frame pulled from the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Which frame was asked for.
    pub kind: SnapshotKind,
    /// Size, bit depth, sensor temperature, time and label.
    pub meta: ObjectMeta,
    /// The pixels, row-major.
    pub pixels: Pixels,
}

impl Snapshot {
    /// Width in pixels.
    pub fn width(&self) -> usize {
        usize::from(self.meta.width)
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        usize::from(self.meta.height)
    }

    /// The values as floats.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.pixels {
            Pixels::U16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            Pixels::F32(v) => v.clone(),
        }
    }

    /// The sequence number of the captured frame (raw and corrected snapshots of the same
    /// frame carry the same one; none for a pattern).
    pub fn seq(&self) -> Option<u64> {
        self.meta.seq
    }
}

/// Clock comparison from `time/sync`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSync {
    /// Device clock minus host clock at the midpoint of the exchange, ms.
    pub offset_ms: i64,
    /// Round trip time.
    pub rtt: Duration,
    /// Device monotonic clock, ms since its daemon started.
    pub device_monotonic_ms: u64,
}

/// Which topics a subscription asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Topics {
    /// 1 Hz telemetry.
    pub heartbeat: bool,
    /// Fit progress and completion.
    pub fit_progress: bool,
    /// Log lines at or above this level.
    pub logs: Option<LogLevel>,
}

/// A connected device.
pub struct Device {
    client: Client<Link>,
    opts: ConnectOptions,
    target: String,
    peer: Hello,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("target", &self.target)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// The `Hello` this host sends.
fn our_hello() -> Hello {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    Hello::new(
        &host,
        concat!("dipnuc ", env!("CARGO_PKG_VERSION")),
        Capabilities::NONE,
    )
}

fn random_first_id() -> u32 {
    // A fresh id range per connection, so replies meant for an earlier connection's requests
    // (still buffered in a serial line) are never taken for ours.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

impl Device {
    /// Connects, exchanges `Hello` (refusing another protocol) and authenticates.
    pub fn connect(opts: &ConnectOptions) -> Result<Device> {
        let target = opts.target.to_string();
        let (client, peer) = handshake(opts, &target)?;
        Ok(Device {
            client,
            opts: opts.clone(),
            target,
            peer,
        })
    }

    /// Drops the connection and opens a new one with the same options.
    pub fn reconnect(&mut self) -> Result<()> {
        // Drop the old link first: a serial port cannot be opened twice.
        self.client = Client::new(
            FramedStream::new(Link::Closed),
            RetryPolicy::new(self.opts.request_timeout, 0),
        );
        let (client, peer) = handshake(&self.opts, &self.target)?;
        self.client = client;
        self.peer = peer;
        Ok(())
    }

    /// The device's `Hello` (id, firmware version, capabilities).
    pub fn peer(&self) -> &Hello {
        &self.peer
    }

    /// `tcp HOST:PORT` or `serial PORT @ BAUD baud`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The options this device was connected with.
    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// Link and tracker counters (retries, late replies, CRC errors).
    pub fn stats(&self) -> protocol::client::ClientStats {
        self.client.stats()
    }

    fn err(&self, e: protocol::client::CallError) -> ClientError {
        map_call(e, &self.opts, &self.target)
    }

    pub(super) fn unexpected(&self, request: &str, got: &Response) -> ClientError {
        CommsError::Protocol {
            target: self.target.clone(),
            detail: format!("unexpected reply to {request}: {}", got.name()),
        }
        .into()
    }

    /// Sends a request and waits for its final response.
    pub fn call(&mut self, request: Request) -> Result<Response> {
        self.client.call(request).map_err(|e| self.err(e))
    }

    fn call_with(&mut self, request: Request, policy: RetryPolicy) -> Result<Response> {
        self.client
            .call_with(request, policy, |_, _| {})
            .map_err(|e| self.err(e))
    }

    /// `ping`: round trip time.
    pub fn ping(&mut self) -> Result<Duration> {
        self.client.ping().map_err(|e| self.err(e))
    }

    /// `info/get`.
    pub fn info(&mut self) -> Result<DeviceInfo> {
        self.client.info().map_err(|e| self.err(e))
    }

    /// `telemetry/get`.
    pub fn telemetry(&mut self) -> Result<Telemetry> {
        self.client.telemetry().map_err(|e| self.err(e))
    }

    /// `config/get`: the value of a dotted key as TOML literal text.
    pub fn config_get(&mut self, key: &str) -> Result<String> {
        self.client
            .config_get(key)
            .map(|v| v.as_str().to_string())
            .map_err(|e| self.err(e))
    }

    /// `config/set`: validated on the device; returns the value now configured, whether it
    /// applies live or after a restart, and whether the device saved it. A refused value is
    /// [`ClientError::Device`] with the key and the reason in its detail.
    pub fn config_set(&mut self, key: &str, value: &str) -> Result<ConfigChange> {
        self.client.config_set(key, value).map_err(|e| self.err(e))
    }

    /// `config/export`: the whole configuration as TOML text.
    pub fn config_export(&mut self) -> Result<String> {
        let obj = self.pull(Request::ConfigExport, |_, _| {})?;
        String::from_utf8(obj.data).map_err(|_| {
            CommsError::Protocol {
                target: self.target.clone(),
                detail: "exported configuration is not UTF-8".into(),
            }
            .into()
        })
    }

    /// Config import: uploads TOML text; the device validates all of it before applying any.
    pub fn config_import(&mut self, toml_text: &str) -> Result<()> {
        let meta = ObjectMeta::opaque(ObjectEncoding::TomlUtf8, "config import");
        self.push(
            ObjectKind::Config,
            meta,
            toml_text.as_bytes(),
            |_, _| {},
            |_, _| {},
        )
    }

    /// `fit/start`: returns the fit id the `FitProgress`/`FitDone` topics will carry.
    pub fn calibrate_start(&mut self, opts: &CalibrateOptions) -> Result<u32> {
        let preset = protocol::text::exact(&opts.preset).ok_or_else(|| {
            ClientError::Invalid(format!(
                "preset name {:?} is longer than {} bytes",
                opts.preset,
                protocol::METHOD_LEN
            ))
        })?;
        let request = Request::CalibrateStart {
            preset,
            max_seconds: opts.max_seconds,
            max_steps: opts.max_steps,
        };
        match self.call(request)? {
            Response::CalibrateStarted { fit_id } => Ok(fit_id),
            other => Err(self.unexpected("fit/start", &other)),
        }
    }

    /// `fit/abort`: the previous pattern stays applied.
    pub fn calibrate_abort(&mut self) -> Result<()> {
        match self.call(Request::CalibrateAbort)? {
            Response::Ack => Ok(()),
            other => Err(self.unexpected("fit/abort", &other)),
        }
    }

    /// `fit/status`.
    pub fn calibrate_status(&mut self) -> Result<FitStatus> {
        match self.call(Request::CalibrateStatus)? {
            Response::FitStatus(s) => Ok(s),
            other => Err(self.unexpected("fit/status", &other)),
        }
    }

    /// Pulls an offered object (snapshot, pattern, config export) with CRC check; a lost
    /// chunk is re-read from the last good offset.
    pub fn pull(
        &mut self,
        request: Request,
        progress: impl FnMut(u32, u32),
    ) -> Result<PulledObject> {
        self.client.pull(request, progress).map_err(|e| self.err(e))
    }

    /// Uploads an object; resumes from the offset the device already holds.
    pub fn push(
        &mut self,
        kind: ObjectKind,
        meta: ObjectMeta,
        data: &[u8],
        progress: impl FnMut(u32, u32),
        on_stage: impl FnMut(u8, &str),
    ) -> Result<()> {
        // Commits verify whole objects (firmware signatures): allow them longer, and never
        // resend one blindly (the tracker does not resend non-idempotent requests).
        let commit = RetryPolicy::new(self.opts.request_timeout.max(Duration::from_secs(30)), 0);
        self.client
            .push(kind, meta, data, commit, progress, on_stage)
            .map_err(|e| self.err(e))
    }

    /// `snapshot`: one 16-bit frame of `kind` (raw, pattern or corrected).
    pub fn snapshot(&mut self, kind: SnapshotKind) -> Result<Snapshot> {
        let obj = self.pull(Request::SnapshotRequest { kind }, |_, _| {})?;
        let n = usize::from(obj.meta.width) * usize::from(obj.meta.height);
        let bad = |detail: String| -> ClientError {
            CommsError::Protocol {
                target: self.target.clone(),
                detail,
            }
            .into()
        };
        let pixels = match obj.meta.encoding {
            ObjectEncoding::U16Le if obj.data.len() == n * 2 => Pixels::U16(
                obj.data
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            ),
            ObjectEncoding::F32Le if obj.data.len() == n * 4 => Pixels::F32(
                obj.data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            enc => {
                return Err(bad(format!(
                    "snapshot of {} bytes does not hold a {}x{} {enc:?} frame",
                    obj.data.len(),
                    obj.meta.width,
                    obj.meta.height
                )));
            }
        };
        Ok(Snapshot {
            kind,
            meta: obj.meta,
            pixels,
        })
    }

    /// `pattern/pull`: the applied pattern (a `.dnp` file, checksum verified).
    pub fn pattern_pull(&mut self) -> Result<StoredPattern> {
        let obj = self.pull(Request::PatternPull, |_, _| {})?;
        formats::pattern_object::decode(&obj.meta, &obj.data).map_err(|e| {
            CommsError::Protocol {
                target: self.target.clone(),
                detail: format!("pulled pattern: {e}"),
            }
            .into()
        })
    }

    /// Pattern push: uploads a pattern (as a `.dnp` file, checksum and metadata included);
    /// the device checks its size before applying it.
    pub fn pattern_push(&mut self, pattern: &StoredPattern) -> Result<()> {
        // 0: the bit depth is the device's camera's, not the pattern's.
        let (meta, bytes) = formats::pattern_object::encode(pattern, 0);
        self.push(ObjectKind::Pattern, meta, &bytes, |_, _| {}, |_, _| {})
    }

    /// `firmware/status`.
    pub fn firmware_status(&mut self) -> Result<FirmwareState> {
        match self.call(Request::FirmwareStatus)? {
            Response::FirmwareState(s) => Ok(s),
            other => Err(self.unexpected("firmware/status", &other)),
        }
    }

    /// `firmware/confirm`: marks the running image healthy (cancels the rollback).
    pub fn firmware_confirm(&mut self) -> Result<()> {
        match self.call(Request::FirmwareConfirm)? {
            Response::Ack => Ok(()),
            other => Err(self.unexpected("firmware/confirm", &other)),
        }
    }

    /// `reboot`: the device restarts; the link drops afterwards.
    pub fn reboot(&mut self) -> Result<()> {
        let policy = RetryPolicy::new(self.opts.request_timeout, 0);
        match self.call_with(Request::Reboot, policy)? {
            Response::Ack => Ok(()),
            other => Err(self.unexpected("reboot", &other)),
        }
    }

    /// `time/sync`: compares clocks.
    pub fn time_sync(&mut self) -> Result<TimeSync> {
        let now_ms = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        let t0 = Instant::now();
        let host_unix_ms = now_ms();
        let reply = self.call(Request::TimeSync {
            host_unix_ms: host_unix_ms as u64,
        })?;
        let rtt = t0.elapsed();
        match reply {
            Response::TimeSync {
                device_unix_ms,
                device_monotonic_ms,
            } => Ok(TimeSync {
                offset_ms: device_unix_ms as i64 - (host_unix_ms + rtt.as_millis() as i64 / 2),
                rtt,
                device_monotonic_ms,
            }),
            other => Err(self.unexpected("time/sync", &other)),
        }
    }

    /// Chooses the topics this link receives (all are off after connecting).
    pub fn subscribe(&mut self, topics: Topics) -> Result<()> {
        self.client
            .subscribe(topics.heartbeat, topics.fit_progress, topics.logs)
            .map_err(|e| self.err(e))
    }

    /// The next topic, waiting up to `timeout`; topics that arrived during calls come first.
    pub fn next_topic(&mut self, timeout: Duration) -> Result<Option<Topic>> {
        self.client.next_topic(timeout).map_err(|e| self.err(e))
    }
}

fn map_call(e: protocol::client::CallError, opts: &ConnectOptions, target: &str) -> ClientError {
    match ClientError::from_call(e, target) {
        // Without a token, "unauthorized" means we should have sent one.
        ClientError::Device(n) if n.code == NackCode::Unauthorized && opts.token.is_none() => {
            HandshakeFailure::TokenRequired {
                target: target.to_string(),
                config: opts.config_name(),
            }
            .into()
        }
        other => other,
    }
}

/// Opens the link, exchanges `Hello`, and authenticates when a token is given.
fn handshake(opts: &ConnectOptions, target: &str) -> Result<(Client<Link>, Hello)> {
    let io = link::open(&opts.target, opts.connect_timeout)?;
    let policy = RetryPolicy::new(opts.request_timeout, opts.retries);
    let mut client = Client::new(FramedStream::new(io), policy)
        .with_tracker(RequestTracker::starting_at(random_first_id()));
    // One attempt for the whole connect timeout: a silent peer is not a lossy one.
    client.set_policy(RetryPolicy::new(opts.connect_timeout, 0));
    let peer = match client.handshake(&our_hello()) {
        Ok(peer) => peer,
        Err(protocol::client::CallError::Timeout {
            request,
            after,
            retries,
        }) => {
            return Err(CommsError::Timeout {
                target: target.to_string(),
                request,
                after,
                retries,
                hint: "; is this a dipnuc-edge link (right port, right baud rate)?",
            }
            .into());
        }
        Err(protocol::client::CallError::Nack(n)) if n.code == NackCode::VersionMismatch => {
            return Err(HandshakeFailure::Refused {
                target: target.to_string(),
                detail: n.detail.as_str().to_string(),
            }
            .into());
        }
        Err(e) => return Err(map_call(e, opts, target)),
    };
    client.set_policy(policy);
    match opts.token.as_deref() {
        Some(token) => match client.auth(token) {
            Ok(()) => {}
            Err(protocol::client::CallError::Nack(n)) if n.code == NackCode::Unauthorized => {
                return Err(HandshakeFailure::BadToken {
                    target: target.to_string(),
                    detail: n.detail.as_str().to_string(),
                    config: opts.config_name(),
                }
                .into());
            }
            Err(e) => return Err(map_call(e, opts, target)),
        },
        None if peer.capabilities.contains(Capabilities::AUTH_REQUIRED) => {
            return Err(HandshakeFailure::TokenRequired {
                target: target.to_string(),
                config: opts.config_name(),
            }
            .into());
        }
        None => {}
    }
    Ok((client, peer))
}
