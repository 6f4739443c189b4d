//! What a live card shows: the answer's markdown and its buttons, rendered from what was looked
//! up, a digest so an update is sent only when they change, and when the card is next looked at.
//! Pure: no IO.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bot::action_cards::{Started, started_card};
use crate::bot::i18n::Text;
use crate::bot::meeting_view::Status;
use crate::bot::render::{self, CodeResult};
use crate::dingtalk::reply::OutgoingMessage;
use crate::lang::Lang;

/// A card is looked at this long after a meeting's known start (or end), so DingTalk has
/// changed its status by then.
pub const AFTER_CHANGE: Duration = Duration::from_secs(20);
/// The most join buttons on one card.
const MAX_JOIN_BUTTONS: usize = 3;
/// The button id of Refresh.
pub const REFRESH_ACTION: &str = "refresh";

/// What an answer was made from: enough to render it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardView {
    pub codes: Vec<String>,
    pub skipped: usize,
    /// A `/share` card (one code, its next meeting) rather than a `/meeting` list.
    pub share: bool,
    pub mention: Option<String>,
    pub lang: String,
    /// A meeting started from the chat (`/meeting new`): its own card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Started>,
}

/// An answer that could be an interactive card: its view and what was looked up for it.
pub struct CardAnswer {
    pub view: CardView,
    pub results: Vec<CodeResult>,
}

pub(super) fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
/// When a card showing `results` should next be looked at (at or after `now`), or `None` when
/// nothing on it can change before `until`.
pub fn next_look(results: &[CodeResult], now: i64, refresh: Duration, until: i64) -> Option<i64> {
    let after = ms(AFTER_CHANGE);
    let mut next: Option<i64> = None;
    let mut consider = |at: i64| next = Some(next.map_or(at, |n| n.min(at)));
    let infos = results.iter().filter_map(|(_, result)| result.as_ref().ok()).flat_map(|found| &found.list);
    for info in infos {
        match Status::from_code(info.status) {
            Status::InProgress => {
                consider(now.saturating_add(ms(refresh)));
                if let Some(end) = info.end_time.filter(|end| end.saturating_add(after) > now) {
                    consider(end.saturating_add(after));
                }
            }
            Status::Upcoming => match info.start_time {
                Some(start) if start > until => {}
                Some(start) if start.saturating_add(after) > now => consider(start.saturating_add(after)),
                // Past its start and not begun: looked at like one in progress.
                Some(_) => consider(now.saturating_add(ms(refresh))),
                None => {}
            },
            Status::Ended | Status::Unknown => {}
        }
    }
    next.map(|at| at.min(until))
}

/// The join buttons (the meeting in progress, else the next one, of each code) and Refresh.
fn buttons(t: &Text, results: &[CodeResult], refresh: bool) -> String {
    let mut list = Vec::new();
    for (index, (_, result)) in results.iter().enumerate() {
        let Ok(found) = result else { continue };
        let mut joinable: Vec<_> = found
            .list
            .iter()
            .filter(|info| matches!(Status::from_code(info.status), Status::InProgress | Status::Upcoming))
            .collect();
        joinable.sort_by_key(|info| (Status::from_code(info.status), info.start_time.unwrap_or(i64::MAX)));
        let url = joinable
            .first()
            .and_then(|info| info.external_link_url.as_deref())
            .and_then(crate::bot::meeting_view::safe_link);
        if let Some(url) = url
            && list.len() < MAX_JOIN_BUTTONS
        {
            let text = if results.len() > 1 { format!("{} {}", t.join, index + 1) } else { t.join.to_owned() };
            list.push(serde_json::json!({"text": text, "color": "blue", "id": format!("join-{index}"), "url": url, "iosUrl": url}));
        }
    }
    if refresh {
        list.push(serde_json::json!({"text": t.refresh, "color": "gray", "id": REFRESH_ACTION, "request": true}));
    }
    serde_json::json!({ "msgButtons": list }).to_string()
}

/// The card's parameters: the markdown of today's answer and its buttons.
pub fn card_params(
    t: &Text,
    message: &OutgoingMessage,
    results: &[CodeResult],
    refresh: bool,
) -> BTreeMap<String, String> {
    let text = match message {
        OutgoingMessage::Markdown { text, .. } | OutgoingMessage::ActionCard { text, .. } => text.clone(),
    };
    BTreeMap::from([("markdown".to_owned(), text), ("sys_full_json_obj".to_owned(), buttons(t, results, refresh))])
}

pub(super) fn digest(params: &BTreeMap<String, String>) -> String {
    let mut hash = Sha256::new();
    for (key, value) in params {
        hash.update(key.as_bytes());
        hash.update([0]);
        hash.update(value.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Today's answer for `view` from `results`.
pub fn render_view(view: &CardView, tz: Tz, results: &[CodeResult]) -> OutgoingMessage {
    let t = view.lang.parse::<Lang>().unwrap_or_default().text();
    if let (Some(started), [(_, result)]) = (&view.started, results) {
        return started_card(t, tz, started, result, view.mention.as_deref());
    }
    match (view.share, results) {
        (true, [(code, result)]) => render::share_card(t, tz, code, result),
        _ => render::meeting_card(t, tz, results, view.skipped, view.mention.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::bot::room_code::RoomCode;
    use crate::dingtalk::conference::{ConferenceInfo, Conferences};

    const NOW: i64 = 1_795_674_600_000;
    const MIN: i64 = 60_000;

    fn results(list: Vec<ConferenceInfo>) -> Vec<CodeResult> {
        let code = RoomCode::parse("123456789").expect("code");
        vec![(code, Ok(Arc::new(Conferences { total: list.len(), list })))]
    }

    fn meeting(status: i64, start: i64, end: Option<i64>) -> ConferenceInfo {
        ConferenceInfo {
            status: Some(status),
            start_time: Some(start),
            end_time: end,
            external_link_url: Some("https://meeting.dingtalk.com/j/x".into()),
            ..ConferenceInfo::default()
        }
    }

    #[test]
    fn a_card_is_looked_at_just_after_each_start_and_every_interval_while_in_progress() {
        let refresh = Duration::from_secs(600);
        let until = NOW + 24 * 60 * MIN;
        let upcoming = results(vec![meeting(0, NOW + 30 * MIN, None)]);
        assert_eq!(next_look(&upcoming, NOW, refresh, until), Some(NOW + 30 * MIN + ms(AFTER_CHANGE)));
        let running = results(vec![meeting(2, NOW - MIN, Some(NOW + 5 * MIN))]);
        assert_eq!(next_look(&running, NOW, refresh, until), Some(NOW + 5 * MIN + ms(AFTER_CHANGE)));
        let open_ended = results(vec![meeting(2, NOW - MIN, None)]);
        assert_eq!(next_look(&open_ended, NOW, refresh, until), Some(NOW + 10 * MIN));
    }

    #[test]
    fn ended_or_far_off_meetings_make_a_final_card() {
        let refresh = Duration::from_secs(600);
        let until = NOW + 24 * 60 * MIN;
        assert_eq!(next_look(&results(vec![meeting(1, NOW - 60 * MIN, Some(NOW - MIN))]), NOW, refresh, until), None);
        assert_eq!(next_look(&results(vec![meeting(0, NOW + 48 * 60 * MIN, None)]), NOW, refresh, until), None);
        assert_eq!(next_look(&results(vec![]), NOW, refresh, until), None);
    }

    #[test]
    fn buttons_are_a_json_string_of_join_links_and_refresh() {
        let t = Lang::En.text();
        let json: serde_json::Value =
            serde_json::from_str(&buttons(t, &results(vec![meeting(2, NOW, None)]), true)).expect("json");
        assert_eq!(json["msgButtons"][0]["url"], "https://meeting.dingtalk.com/j/x");
        assert_eq!(json["msgButtons"][1]["id"], REFRESH_ACTION);
        let ended: serde_json::Value =
            serde_json::from_str(&buttons(t, &results(vec![meeting(1, NOW, None)]), false)).expect("json");
        assert_eq!(ended["msgButtons"].as_array().map(Vec::len), Some(0));
    }
}
