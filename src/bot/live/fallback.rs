//! Polling as the fallback: once an organisation has sent meeting events, its live cards follow
//! the events and are not looked up periodically; each keeps one safety look a few minutes after
//! a meeting's known start, made only if the card still shows that meeting as not begun (no
//! event came for it). An organisation that sends no events keeps the paced polling.

use std::time::Duration;

use super::view::ms;
use super::{LiveCard, LiveCards, shown};
use crate::bot::meeting_view::Status;
use crate::bot::render::CodeResult;
use crate::state::StateStore;

/// How long after a meeting's known start, with no event saying it began, the card looks once.
pub const SAFETY_LOOK_AFTER: Duration = Duration::from_secs(180);
/// The settings scope and name that mark an organisation as sending meeting events.
const SCOPE_PREFIX: &str = "org:";
const EVENTS_SETTING: &str = "meeting_events_since";

/// Whether organisation `org` has sent meeting events (kept for every replica).
pub async fn org_sends_events(state: &StateStore, org: &str) -> bool {
    state.settings().get(&format!("{SCOPE_PREFIX}{org}"), EVENTS_SETTING).await.is_some()
}

/// Marks organisation `org` as sending meeting events, from `now_ms`.
pub async fn note_events_from(state: &StateStore, org: &str, now_ms: i64) {
    state.settings().set(&format!("{SCOPE_PREFIX}{org}"), EVENTS_SETTING, &now_ms.to_string()).await;
}

/// The meetings on the card not begun whose start is known.
fn upcoming_starts(results: &[CodeResult]) -> impl Iterator<Item = i64> + '_ {
    results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .flat_map(|found| &found.list)
        .filter(|info| Status::from_code(info.status) == Status::Upcoming)
        .filter_map(|info| info.start_time)
}

/// When the meetings on a card of an organisation that sends events will start or end after
/// `now` and by `until`: each an update of the card (a meeting past its start and not begun
/// starts any moment).
pub(super) fn changes_ahead(results: &[CodeResult], now: i64, until: i64) -> Vec<i64> {
    let mut changes = Vec::new();
    let infos = results.iter().filter_map(|(_, result)| result.as_ref().ok()).flat_map(|found| &found.list);
    for info in infos.filter(|info| info.conference_id.as_deref().is_some_and(|id| !id.trim().is_empty())) {
        let status = Status::from_code(info.status);
        if status == Status::Upcoming
            && let Some(start) = info.start_time.filter(|start| *start <= until)
        {
            changes.push(start.max(now.saturating_add(1)));
        }
        if matches!(status, Status::Upcoming | Status::InProgress)
            && let Some(end) = info.end_time.filter(|end| *end > now && *end <= until)
        {
            changes.push(end);
        }
    }
    changes
}

/// When a card of an organisation that sends events is next looked at: the next safety look,
/// else the end of its life (then it is let go).
pub(super) fn next_look_with_events(results: &[CodeResult], now: i64, until: i64) -> i64 {
    let after = ms(SAFETY_LOOK_AFTER);
    upcoming_starts(results)
        .map(|start| start.saturating_add(after))
        .filter(|at| *at > now)
        .min()
        .map_or(until, |at| at.min(until))
}

/// Whether a meeting on the card should have begun by now and no event said so: the safety look
/// is due.
pub(super) fn start_missed(results: &[CodeResult], now: i64) -> bool {
    let after = ms(SAFETY_LOOK_AFTER);
    upcoming_starts(results).any(|start| start.saturating_add(after) <= now)
}

impl LiveCards {
    /// A periodic look at a card of an organisation that sends events: true if the card needs no
    /// lookup (its events keep it; it is kept for its next safety look, or let go at the end of
    /// its life), false when a start passed with no event (the safety look is made).
    pub(super) async fn follow_events(&self, out_track_id: &str, card: &mut LiveCard, now: i64) -> bool {
        if now >= card.until_ms {
            tracing::info!(out_track_id, "live card let go: the end of its life");
            self.forget(out_track_id).await;
            return true;
        }
        let results = shown::results(&card.shown);
        if start_missed(&results, now) {
            self.metrics.card("look", "safety");
            return false;
        }
        let due_ms = next_look_with_events(&results, now, card.until_ms).max(now + 1);
        self.keep_after_look(out_track_id, LiveCard { due_ms, ..card.clone() }, &card.sent).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bot::room_code::RoomCode;
    use crate::dingtalk::conference::{ConferenceInfo, Conferences};

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;

    fn card(status: i64, start: i64) -> Vec<CodeResult> {
        let info = ConferenceInfo { status: Some(status), start_time: Some(start), ..ConferenceInfo::default() };
        vec![(RoomCode::parse("123456789").expect("code"), Ok(Arc::new(Conferences { list: vec![info], total: 1 })))]
    }

    #[test]
    fn an_upcoming_meeting_gets_one_safety_look_after_its_start_and_then_none() {
        let until = NOW + 600 * MIN;
        let upcoming = card(0, NOW + 30 * MIN);
        assert_eq!(next_look_with_events(&upcoming, NOW, until), NOW + 33 * MIN);
        assert!(!start_missed(&upcoming, NOW + 32 * MIN));
        assert!(start_missed(&upcoming, NOW + 33 * MIN));
        assert_eq!(next_look_with_events(&upcoming, NOW + 34 * MIN, until), until, "looked once: then no more");
    }

    #[test]
    fn a_card_expects_an_update_for_each_start_and_end_within_its_life() {
        let until = NOW + 600 * MIN;
        let info = |id: &str, status: i64, start: i64, end: Option<i64>| ConferenceInfo {
            conference_id: Some(id.into()),
            status: Some(status),
            start_time: Some(start),
            end_time: end,
            ..ConferenceInfo::default()
        };
        let list = vec![
            info("up", 0, NOW + 30 * MIN, Some(NOW + 90 * MIN)),
            info("on", 2, NOW - 30 * MIN, Some(NOW + 10 * MIN)),
            info("late", 0, NOW - MIN, None),
            info("beyond", 0, NOW + 590 * MIN, Some(NOW + 650 * MIN)),
            info("far", 0, NOW + 700 * MIN, Some(NOW + 730 * MIN)),
            info("over", 1, NOW - 90 * MIN, Some(NOW - 30 * MIN)),
            info(" ", 0, NOW + 30 * MIN, Some(NOW + 60 * MIN)),
        ];
        let results = vec![(RoomCode::parse("123456789").expect("code"), Ok(Arc::new(Conferences { list, total: 7 })))];
        let mut changes = changes_ahead(&results, NOW, until);
        changes.sort_unstable();
        assert_eq!(
            changes,
            [NOW + 1, NOW + 10 * MIN, NOW + 30 * MIN, NOW + 90 * MIN, NOW + 590 * MIN],
            "a start and end each; a late start any moment; none past the card's life, of an ended \
             meeting or of one without an id (no events come for it)"
        );
    }

    #[test]
    fn a_meeting_in_progress_is_not_polled_when_events_come() {
        let until = NOW + 600 * MIN;
        assert_eq!(next_look_with_events(&card(2, NOW - MIN), NOW, until), until);
        assert!(!start_missed(&card(2, NOW - 60 * MIN), NOW));
        assert_eq!(next_look_with_events(&card(0, NOW + 900 * MIN), NOW, until), until, "never past the card's life");
    }
}
