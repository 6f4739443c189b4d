//! The meeting events' metrics: every event received, by its type, the way it came and what
//! became of it (`dingmeet_meeting_events_total{type,transport,outcome}`), each series there
//! from the start at 0, and the failed-push list's reads.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The event types counted (another type never reaches these metrics).
pub const TYPES: [&str; 4] = [
    "meeting_status_change",
    "meeting_status_change_target_push",
    "meeting_member_status_change",
    "meeting_member_status_change_target_push",
];
/// How an event came: a Stream `EVENT` frame, an HTTP push, or the failed-push list.
pub const TRANSPORTS: [&str; 3] = ["stream", "http", "failed_list"];
/// What became of it: taken and changing a conference, a repeat, older than what is known (or
/// changing nothing), unreadable, or not recorded (asked again: `LATER`, a 503).
pub const OUTCOMES: [&str; 5] = ["applied", "duplicate", "stale", "malformed", "not_recorded"];

type Labels = [(&'static str, &'static str); 3];

/// Registered in the bot's registry.
#[derive(Clone)]
pub struct MeetingEventMetrics {
    received: Family<Labels, Counter>,
    catch_ups: Family<[(&'static str, &'static str); 1], Counter>,
}

impl MeetingEventMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let received = Family::<Labels, Counter>::default();
        registry.register(
            "meeting_events",
            "Meeting events received, by type, transport (stream, http, failed_list) and outcome",
            received.clone(),
        );
        let catch_ups = Family::default();
        registry.register(
            "meeting_event_catch_ups",
            "Reads of DingTalk's failed-push list, by outcome",
            catch_ups.clone(),
        );
        for event_type in TYPES {
            for transport in TRANSPORTS {
                for outcome in OUTCOMES {
                    drop(received.get_or_create(&[
                        ("type", event_type),
                        ("transport", transport),
                        ("outcome", outcome),
                    ]));
                }
            }
        }
        drop(catch_ups.get_or_create(&[("outcome", "ok")]));
        Self { received, catch_ups }
    }

    /// One event of `event_type` (one of [`TYPES`]; another is not counted).
    pub fn received(&self, event_type: &str, transport: &'static str, outcome: &'static str) {
        if let Some(&event_type) = TYPES.iter().find(|known| **known == event_type) {
            self.received.get_or_create(&[("type", event_type), ("transport", transport), ("outcome", outcome)]).inc();
        }
    }

    /// One read of the failed-push list.
    pub fn catch_up(&self, outcome: &'static str) {
        self.catch_ups.get_or_create(&[("outcome", outcome)]).inc();
    }
}

#[cfg(test)]
mod tests {
    use crate::telemetry::Metrics;

    #[test]
    fn every_type_transport_and_outcome_is_exported_from_the_start() {
        let metrics = Metrics::new();
        let text = metrics.render();
        let series = |t: &str, via: &str, outcome: &str| {
            format!(r#"dingmeet_meeting_events_total{{type="{t}",transport="{via}",outcome="{outcome}"}}"#)
        };
        assert!(text.contains(&format!("{} 0", series("meeting_status_change", "stream", "applied"))), "{text}");
        assert!(text.contains(&format!("{} 0", series("meeting_member_status_change", "failed_list", "stale"))));
        metrics.meeting_events().received("meeting_status_change", "http", "duplicate");
        metrics.meeting_events().received("suite_ticket", "http", "applied");
        let text = metrics.render();
        assert!(text.contains(&format!("{} 1", series("meeting_status_change", "http", "duplicate"))), "{text}");
        assert!(!text.contains("suite_ticket"), "only meeting events are counted");
        assert!(text.contains(r#"dingmeet_meeting_event_catch_ups_total{outcome="ok"} 0"#), "{text}");
    }
}
