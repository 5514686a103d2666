//! Forwards `tracing` events to the link's log topic: a `tracing_subscriber` layer that
//! publishes every event (at or above INFO by default) to the event buses of the running
//! daemons. The binary installs the layer; an embedding program (e.g. `dipnuc demo`) may too.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Weak};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::events::{DaemonEvent, EventBus, LogLevel};

static BUSES: Mutex<Vec<Weak<EventBus>>> = Mutex::new(Vec::new());

/// Registers a daemon's bus to receive log events (dropped buses are forgotten).
pub fn register(bus: &Arc<EventBus>) {
    let mut buses = BUSES.lock().unwrap_or_else(|e| e.into_inner());
    buses.retain(|w| w.strong_count() > 0);
    buses.push(Arc::downgrade(bus));
}

/// The layer.
pub struct LogForwardLayer {
    min: Level,
}

impl LogForwardLayer {
    /// Forwards events at `min` and more severe.
    pub fn new(min: Level) -> Self {
        LogForwardLayer { min }
    }
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

fn level(l: &Level) -> LogLevel {
    match *l {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

impl<S: Subscriber> Layer<S> for LogForwardLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // Level ordering in tracing: ERROR < WARN < INFO ("more verbose is greater").
        if *meta.level() > self.min {
            return;
        }
        let buses: Vec<Arc<EventBus>> = {
            let b = BUSES.lock().unwrap_or_else(|e| e.into_inner());
            b.iter().filter_map(Weak::upgrade).collect()
        };
        if buses.is_empty() {
            return;
        }
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        let ev = DaemonEvent::Log {
            level: level(meta.level()),
            target: meta.target().to_string(),
            message: v.0,
        };
        for bus in buses {
            bus.publish(ev.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_reach_registered_buses() {
        let bus = Arc::new(EventBus::default());
        register(&bus);
        let rx = bus.subscribe(16);
        let subscriber = tracing_subscriber::registry().with(LogForwardLayer::new(Level::INFO));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(fps = 9, "capture running");
            tracing::debug!("too verbose");
        });
        let got: Vec<DaemonEvent> = rx.try_iter().collect();
        assert_eq!(got.len(), 1, "{got:?}");
        match &got[0] {
            DaemonEvent::Log { level, message, .. } => {
                assert_eq!(*level, LogLevel::Info);
                assert_eq!(message, "capture running fps=9");
            }
            other => panic!("{other:?}"),
        }
    }
}
