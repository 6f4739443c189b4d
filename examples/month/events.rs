//! The month with meeting events: DingTalk pushes each booked meeting's start and end
//! (`meeting_status_change`) and its people joining and leaving (`meeting_member_status_change`)
//! to the bot as they happen, as encrypted HTTP pushes to its `/dingtalk/events` (or as Stream
//! `EVENT` frames), and the figures that tell whether the bot shows them: how long each start
//! and end took to reach its live cards, as percentiles.

use dingtalk_sim::Simulator;
use dingtalk_sim::records::events::{EventRecords, PushOutcome};
use dingtalk_sim::state::event_emit::Scene;
use dingtalk_sim::state::meeting_events::HttpSubscription;
use serde_json::{Value, json};

/// How the events reach the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// No events: the bot polls (today's month).
    Off,
    /// Encrypted HTTP pushes to `/dingtalk/events`.
    Http,
    /// `EVENT` frames down the bot's Stream connection (`DINGMEET_MODE=both`).
    Stream,
}

impl Transport {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "off" => Some(Self::Off),
            "http" | "on" => Some(Self::Http),
            "stream" => Some(Self::Stream),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Http => "http",
            Self::Stream => "stream",
        }
    }
}

/// The console's token and 43-character aes_key for the replay's app.
const TOKEN: &str = "month-replay-token";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

/// The bot's settings for `transport`.
pub(crate) fn bot_vars(transport: Transport) -> Vec<(String, String)> {
    let vars: &[(&str, &str)] = match transport {
        Transport::Off => &[],
        Transport::Http => &[("DINGMEET_EVENT_TOKEN", TOKEN), ("DINGMEET_EVENT_AES_KEY", AES_KEY)],
        Transport::Stream => &[("DINGMEET_MODE", "both")],
    };
    vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Subscribes the bot at `address` (`http://127.0.0.1:port`) to the simulator's events.
pub(crate) fn subscribe(sim: &Simulator, transport: Transport, address: &str) -> anyhow::Result<()> {
    match transport {
        Transport::Off => {}
        Transport::Http => {
            let url = format!("{address}/dingtalk/events");
            sim.events().subscribe_http(&HttpSubscription::new(&url, TOKEN, AES_KEY))?;
        }
        Transport::Stream => sim.events().set_stream(true),
    }
    Ok(())
}

/// How many people join a meeting: 2 to 13, the same for a seed whatever the transport.
pub(crate) fn people(seed: u64, conference_id: &str) -> usize {
    let hash = conference_id
        .bytes()
        .fold(seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    2 + usize::try_from(hash % 12).unwrap_or(0)
}

/// A meeting started: `conference_created`, then everyone joining.
pub(crate) fn started(sim: &Simulator, code: &str, conference_id: &str, people: usize) {
    sim.events().conference_changed(code, conference_id, Scene::Created);
    sim.events().join(code, conference_id, people);
}

/// A meeting ended: everyone leaving, then `conference_closed`.
pub(crate) fn ended(sim: &Simulator, code: &str, conference_id: &str, people: usize) {
    sim.events().leave(code, conference_id, people);
    sim.events().conference_changed(code, conference_id, Scene::Closed);
}

/// What was pushed, for the report.
pub(crate) fn pushed(records: &EventRecords) -> Value {
    let accepted = records.http_pushes.iter().filter(|p| p.outcome == PushOutcome::Accepted).count();
    json!({
        "emitted": records.emitted.len(),
        "http_pushes": records.http_pushes.len(),
        "http_accepted": accepted,
        "given_up": records.given_up.len(),
    })
}

/// The `p`-th percentile (0–100) of `sorted` ms, in seconds to a tenth; 0 when empty.
pub(crate) fn percentile_s(sorted: &[i64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    (sorted[rank - 1] as f64 / 100.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_in_seconds() {
        let sorted: Vec<i64> = (1..=100).map(|n| n * 1000).collect();
        assert_eq!(percentile_s(&sorted, 50), 50.0);
        assert_eq!(percentile_s(&sorted, 95), 95.0);
        assert_eq!(percentile_s(&sorted, 100), 100.0);
        assert_eq!(percentile_s(&[1_250], 50), 1.3);
        assert_eq!(percentile_s(&[], 95), 0.0);
    }
}
