//! Drives one connection over any byte stream: reads requests and answers them through a
//! [`Session`], and sends the subscribed topics (heartbeat at 1 Hz, fit progress, fit done,
//! logs) from a second thread, both sharing the writer.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::io::{FrameReader, FrameWriter, LinkError};
use protocol::text::truncate;
use protocol::{FitDone, FitProgress, LogLine, Packet, Topic};
use tracing::{debug, info};

use super::frame_sender::send_frames;
use super::server::{After, Session, Subscriptions, wire_level, wire_outcome, wire_telemetry};
use super::transfers::Transfers;
use crate::daemon::DaemonCore;
use crate::events::DaemonEvent;

/// Serves one connection until the peer leaves or the daemon stops.
pub fn serve<R: Read, W: Write + Send + 'static>(
    core: Arc<DaemonCore>,
    transfers: Arc<Transfers>,
    token: Option<String>,
    peer: String,
    mut reader: FrameReader<R>,
    writer: FrameWriter<W>,
) {
    let writer = Arc::new(Mutex::new(writer));
    let mut session = Session::new(core.clone(), transfers, token, peer.clone());
    let subs = session.subs.clone();
    let topics = {
        let (core, writer, subs) = (core.clone(), writer.clone(), subs.clone());
        std::thread::Builder::new()
            .name("dipnuc-link-topics".into())
            .spawn(move || send_topics(&core, &writer, &subs))
    };
    info!(%peer, "link client connected");
    core.stats().link_clients.fetch_add(1, Ordering::Relaxed);
    let mut frames: Option<std::thread::JoinHandle<()>> = None;
    let send = |packet: &Packet| -> Result<(), LinkError> {
        writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(packet)
    };
    loop {
        if core.stopping() || subs.closed.load(Ordering::Relaxed) {
            break;
        }
        let packet = match reader.recv(Duration::from_millis(200)) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(LinkError::Eof) => break,
            Err(e) => {
                debug!(%peer, error = %e, "link read failed");
                break;
            }
        };
        let Packet::Request { id, body } = packet else {
            debug!(%peer, "ignoring a non-request packet from the host");
            continue;
        };
        let mut interim_failed = false;
        let (resp, after) = session.handle(body, &mut |r| {
            if send(&Packet::Response { id, body: r }).is_err() {
                interim_failed = true;
            }
        });
        if send(&Packet::Response { id, body: resp }).is_err() || interim_failed {
            break;
        }
        if frames.is_none() && subs.frames.used() {
            frames = spawn_frame_sender(&core, &writer, &subs, &peer);
        }
        if let After::Restart = after {
            // Give the answer a moment to leave before the daemon goes down.
            std::thread::sleep(Duration::from_millis(200));
            core.request_reboot();
        }
    }
    subs.closed.store(true, Ordering::Relaxed);
    if let Ok(t) = topics {
        let _ = t.join();
    }
    if let Some(t) = frames {
        let _ = t.join();
    }
    core.stats().link_clients.fetch_sub(1, Ordering::Relaxed);
    let stats = reader.stats();
    info!(%peer, packets_in = stats.packets_in, crc_errors = stats.decoder.crc_errors,
          "link client disconnected");
}

/// Starts the connection's frame sender (on its first `FrameSubscribe`).
fn spawn_frame_sender<W: Write + Send + 'static>(
    core: &Arc<DaemonCore>,
    writer: &Arc<Mutex<FrameWriter<W>>>,
    subs: &Arc<Subscriptions>,
    peer: &str,
) -> Option<std::thread::JoinHandle<()>> {
    let name = peer.to_string();
    let (core, writer, subs) = (core.clone(), writer.clone(), subs.clone());
    let spawned = std::thread::Builder::new()
        .name("dipnuc-link-frames".into())
        .spawn(move || {
            let done = || subs.closed.load(Ordering::Relaxed) || core.stopping();
            if let Err(e) = send_frames(&subs.frames, &writer, &name, &done) {
                debug!(peer = %name, error = %e, "frame stream write failed; closing the link");
                subs.closed.store(true, Ordering::Relaxed);
            }
        });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot start the frame sender");
            None
        }
    }
}

fn send_topics<W: Write>(core: &DaemonCore, writer: &Mutex<FrameWriter<W>>, subs: &Subscriptions) {
    let events = core.events().subscribe(256);
    let mut next_beat = Instant::now();
    while !subs.closed.load(Ordering::Relaxed) && !core.stopping() {
        let event = events.recv_timeout(Duration::from_millis(100)).ok();
        if !subs.open.load(Ordering::Relaxed) {
            continue;
        }
        let mut out: Vec<Topic> = Vec::new();
        if let Some(t) = event.and_then(|ev| topic_for(&ev, subs)) {
            out.push(t);
        }
        if subs.heartbeat.load(Ordering::Relaxed) && Instant::now() >= next_beat {
            next_beat = Instant::now() + Duration::from_secs(1);
            let fit = match core.fit_status().state {
                crate::refit::RefitState::Running { .. } => protocol::FitState::Running,
                crate::refit::RefitState::Idle => protocol::FitState::Idle,
                _ => protocol::FitState::Collecting,
            };
            out.push(Topic::Heartbeat(wire_telemetry(&core.telemetry(), fit)));
        }
        for t in out {
            let sent = writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(&Packet::Topic(t));
            if sent.is_err() {
                subs.closed.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn clamp_u32(v: u64) -> u32 {
    v.min(u64::from(u32::MAX)) as u32
}

fn topic_for(ev: &DaemonEvent, subs: &Subscriptions) -> Option<Topic> {
    match ev {
        DaemonEvent::FitProgress {
            fit_id,
            step,
            total_steps,
            loss,
            ms_per_step,
            elapsed_ms,
            eta_ms,
        } if subs.fit_progress.load(Ordering::Relaxed) => Some(Topic::FitProgress(FitProgress {
            fit_id: *fit_id,
            step: *step,
            total_steps: *total_steps,
            loss: *loss,
            ms_per_step: *ms_per_step,
            elapsed_ms: clamp_u32(*elapsed_ms),
            eta_ms: clamp_u32(*eta_ms),
        })),
        DaemonEvent::FitDone {
            fit_id,
            outcome,
            loss,
            steps,
            duration_ms,
            detail,
            ..
        } if subs.fit_progress.load(Ordering::Relaxed) => Some(Topic::FitDone(FitDone {
            fit_id: *fit_id,
            outcome: wire_outcome(*outcome),
            loss: *loss,
            steps: *steps,
            duration_ms: clamp_u32(*duration_ms),
            detail: truncate(detail),
        })),
        DaemonEvent::Log {
            level,
            target,
            message,
        } if subs.wants_log(*level) => Some(Topic::Log(LogLine {
            level: wire_level(*level),
            target: truncate(target),
            message: truncate(message),
        })),
        _ => None,
    }
}
