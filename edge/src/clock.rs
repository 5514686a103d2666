//! Time as the refit worker sees it. In production that is the wall clock ([`WallClock`]); in
//! the drift bench it is a [`SimClock`] that a driver moves forward frame by frame, so half an
//! hour of camera time runs in minutes through the same scheduler code.
//!
//! A fit computes in real time on its own thread. While it runs, the simulated world must not
//! move on (or the fit would seem to take no time at all): the worker takes a [`ClockHold`]
//! when it starts a fit, which freezes a simulated clock at that instant. When the fit thread
//! has ended, the worker lets the clock run up to `start + the fit's real duration` and installs
//! the pattern there, so the frames in between are corrected with the old pattern, as on a
//! device. On the wall clock a hold does nothing.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The scheduler's source of time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch at [`Clock::now`].
    fn unix_ms(&self) -> u64;
    /// Freezes a simulated clock at its current instant until the hold is released or
    /// dropped; a no-op on the wall clock.
    fn hold(&self) -> ClockHold;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_ms(&self) -> u64 {
        crate::stats::unix_ms()
    }

    fn hold(&self) -> ClockHold {
        ClockHold { sim: None }
    }
}

#[derive(Debug)]
struct SimState {
    /// Simulated time since the clock's origin.
    elapsed: Duration,
    /// Caps set by live holds: the clock may not pass any of them.
    caps: Vec<(u64, Duration)>,
    next_hold: u64,
}

/// A clock that only moves when [`SimClock::advance_to`] is called.
#[derive(Debug)]
pub struct SimClock {
    origin: Instant,
    origin_unix_ms: u64,
    state: Mutex<SimState>,
    moved: Condvar,
}

impl SimClock {
    /// A simulated clock at time zero (its Unix time starts at the real one of now).
    pub fn new() -> Arc<SimClock> {
        Arc::new(SimClock {
            origin: Instant::now(),
            origin_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            state: Mutex::new(SimState {
                elapsed: Duration::ZERO,
                caps: Vec::new(),
                next_hold: 0,
            }),
            moved: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulated time since the origin.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Moves the clock to `t` after the origin (never backwards), first waiting while a hold
    /// caps it below `t`; then moves as far as the holds allow.
    pub fn advance_to(&self, t: Duration) {
        let mut s = self.lock();
        loop {
            let cap = s.caps.iter().map(|c| c.1).min();
            match cap {
                Some(cap) if cap < t => {
                    if cap > s.elapsed {
                        s.elapsed = cap;
                        self.moved.notify_all();
                    }
                    s = self
                        .moved
                        .wait_timeout(s, Duration::from_millis(200))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                _ => break,
            }
        }
        if t > s.elapsed {
            s.elapsed = t;
            self.moved.notify_all();
        }
    }

    /// Whether a hold is live (a fit in flight or not yet installed).
    pub fn held(&self) -> bool {
        !self.lock().caps.is_empty()
    }
}

impl Clock for Arc<SimClock> {
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }

    fn unix_ms(&self) -> u64 {
        self.origin_unix_ms + self.elapsed().as_millis() as u64
    }

    fn hold(&self) -> ClockHold {
        let mut s = self.lock();
        let id = s.next_hold;
        s.next_hold += 1;
        let at = s.elapsed;
        s.caps.push((id, at));
        ClockHold {
            sim: Some((self.clone(), id)),
        }
    }
}

/// A hold on a simulated clock (see the module docs); released when dropped.
#[derive(Debug)]
pub struct ClockHold {
    sim: Option<(Arc<SimClock>, u64)>,
}

impl ClockHold {
    /// Lets a held simulated clock run up to `until` (and no further while the hold lives).
    pub fn release_until(&self, until: Instant) {
        if let Some((clock, id)) = &self.sim {
            let cap = until.saturating_duration_since(clock.origin);
            let mut s = clock.lock();
            let now = s.elapsed;
            if let Some(c) = s.caps.iter_mut().find(|c| c.0 == *id) {
                c.1 = cap.max(now);
            }
            clock.moved.notify_all();
        }
    }
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        if let Some((clock, id)) = self.sim.take() {
            let mut s = clock.lock();
            s.caps.retain(|c| c.0 != id);
            clock.moved.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_moves_only_when_told_and_holds_freeze_it() {
        let clock = SimClock::new();
        let t0 = clock.now();
        clock.advance_to(Duration::from_secs(10));
        assert_eq!(clock.now() - t0, Duration::from_secs(10));
        clock.advance_to(Duration::from_secs(5));
        assert_eq!(clock.elapsed(), Duration::from_secs(10), "never backwards");

        let hold = clock.hold();
        let c2 = clock.clone();
        let driver = std::thread::spawn(move || {
            c2.advance_to(Duration::from_secs(20));
            c2.elapsed()
        });
        // The driver waits at the hold: the clock stays at 10 s.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
        // Released up to 15 s: the driver may go there, not beyond.
        hold.release_until(t0 + Duration::from_secs(15));
        while clock.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.elapsed(), Duration::from_secs(15));
        drop(hold);
        assert_eq!(driver.join().unwrap(), Duration::from_secs(20));
        assert!(!clock.held());
    }

    #[test]
    fn wall_clock_holds_are_free() {
        let c = WallClock;
        let a = c.now();
        let h = c.hold();
        h.release_until(a);
        drop(h);
        assert!(c.now() >= a);
        assert!(c.unix_ms() > 1_600_000_000_000);
    }
}
