//! What a live card shows, kept with it so a meeting event can render it again without a
//! lookup, and how a conference's news changes it. Pure: no IO.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bot::meeting_view::Status;
use crate::bot::render::CodeResult;
use crate::bot::room_code::RoomCode;
use crate::dingtalk::conference::{ConferenceInfo, Conferences};
use crate::dingtalk::openapi::ApiError;

/// One code's answer as the card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown {
    pub code: String,
    pub result: Result<Conferences, ApiError>,
}

/// The answers as they are kept with the card.
pub(super) fn keep(results: &[CodeResult]) -> Vec<Shown> {
    results
        .iter()
        .map(|(code, result)| Shown {
            code: code.as_str().to_owned(),
            result: result.as_deref().cloned().map_err(Clone::clone),
        })
        .collect()
}

/// The kept answers as the renderer takes them (a code that no longer parses is left out).
pub(super) fn results(shown: &[Shown]) -> Vec<CodeResult> {
    shown
        .iter()
        .filter_map(|kept| Some((RoomCode::parse(&kept.code).ok()?, kept.result.clone().map(Arc::new))))
        .collect()
}

/// The conferences on a card that can still change (in progress or not begun), by id.
pub fn changeable_conferences(results: &[CodeResult]) -> Vec<String> {
    let mut ids: Vec<String> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .flat_map(|found| &found.list)
        .filter(|info| {
            matches!(Status::from_code(info.status), Status::InProgress | Status::Upcoming | Status::Unknown)
        })
        .filter_map(|info| info.conference_id.clone())
        .filter(|id| !id.trim().is_empty())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Where a conference stands, as its events tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Started,
    Ended,
}

/// What the events say of one conference now, as a card needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConferenceNews {
    /// `None`: no status event yet (only people joining or leaving).
    pub phase: Option<Phase>,
    /// People in it now.
    pub active: Option<i64>,
    /// People who took part, in all (once ended).
    pub attended: Option<i64>,
    /// How long it lasted, in minutes (once ended).
    pub duration_minutes: Option<i64>,
    /// When it ended (once ended).
    pub end_time: Option<i64>,
}

/// What showing the news changed on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Patched {
    /// The conference is not on the card.
    Absent,
    /// On the card, and it already shows this.
    Unchanged,
    /// Only how many are in it.
    Count,
    /// Whether it runs or ended.
    Status,
}

fn apply(info: &mut ConferenceInfo, news: &ConferenceNews) {
    match news.phase {
        Some(Phase::Ended) => {
            info.status = Some(1);
            info.active_num = None;
            info.attend_num = news.attended.or(info.attend_num);
            if let Some(minutes) = news.duration_minutes {
                info.conf_duration = Some(minutes.saturating_mul(60_000));
            }
            info.end_time = news.end_time.or(info.end_time);
        }
        Some(Phase::Started) => {
            info.status = Some(2);
            info.active_num = news.active.or(info.active_num);
        }
        None if info.status == Some(2) => info.active_num = news.active.or(info.active_num),
        None => {}
    }
}

/// Shows `news` of conference `conference_id` in `results`, saying what that changed.
pub(super) fn patch(results: &mut [CodeResult], conference_id: &str, news: &ConferenceNews) -> Patched {
    let mut patched = Patched::Absent;
    for (_, result) in results.iter_mut() {
        let Ok(found) = result else { continue };
        if !found.list.iter().any(|info| info.conference_id.as_deref() == Some(conference_id)) {
            continue;
        }
        let mut changed = (**found).clone();
        for info in changed.list.iter_mut().filter(|info| info.conference_id.as_deref() == Some(conference_id)) {
            let before = info.clone();
            apply(info, news);
            let this = if before.status != info.status {
                Patched::Status
            } else if before != *info {
                Patched::Count
            } else {
                Patched::Unchanged
            };
            patched = patched.max(this);
        }
        *found = Arc::new(changed);
    }
    patched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(status: i64) -> Vec<CodeResult> {
        let info = ConferenceInfo {
            conference_id: Some("c1".into()),
            status: Some(status),
            start_time: Some(1_000),
            external_link_url: Some("https://meeting.dingtalk.com/j/x".into()),
            ..ConferenceInfo::default()
        };
        let other = ConferenceInfo { conference_id: Some("c2".into()), status: Some(0), ..ConferenceInfo::default() };
        let code = RoomCode::parse("123456789").expect("code");
        vec![(code, Ok(Arc::new(Conferences { list: vec![info, other], total: 2 })))]
    }

    fn first(results: &[CodeResult]) -> ConferenceInfo {
        results[0].1.as_ref().expect("found").list[0].clone()
    }

    #[test]
    fn a_start_an_end_and_a_count_change_what_the_card_shows() {
        let mut shown = results(0);
        let started = ConferenceNews { phase: Some(Phase::Started), active: Some(3), ..ConferenceNews::default() };
        assert_eq!(patch(&mut shown, "c1", &started), Patched::Status);
        assert_eq!((first(&shown).status, first(&shown).active_num), (Some(2), Some(3)));
        assert_eq!(patch(&mut shown, "c1", &started), Patched::Unchanged);
        let count = ConferenceNews { active: Some(5), ..started.clone() };
        assert_eq!(patch(&mut shown, "c1", &count), Patched::Count);
        let ended = ConferenceNews {
            phase: Some(Phase::Ended),
            attended: Some(7),
            duration_minutes: Some(42),
            end_time: Some(9_000),
            ..ConferenceNews::default()
        };
        assert_eq!(patch(&mut shown, "c1", &ended), Patched::Status);
        let info = first(&shown);
        assert_eq!(
            (info.status, info.attend_num, info.conf_duration, info.end_time),
            (Some(1), Some(7), Some(42 * 60_000), Some(9_000))
        );
        assert_eq!(info.active_num, None);
        assert_eq!(results_of_other(&shown), Some(0), "the other meeting is untouched");
    }

    fn results_of_other(shown: &[CodeResult]) -> Option<i64> {
        shown[0].1.as_ref().expect("found").list[1].status
    }

    #[test]
    fn news_of_a_conference_not_on_the_card_changes_nothing() {
        let mut shown = results(2);
        let before = shown.clone();
        let news = ConferenceNews { phase: Some(Phase::Ended), ..ConferenceNews::default() };
        assert_eq!(patch(&mut shown, "elsewhere", &news), Patched::Absent);
        assert_eq!(keep(&shown), keep(&before));
    }

    #[test]
    fn a_kept_answer_reads_back_as_it_was_errors_included() {
        let mut kept = results(2);
        kept.push((RoomCode::parse("987654321").expect("code"), Err(ApiError::Timeout)));
        let json = serde_json::to_string(&keep(&kept)).expect("serializes");
        let back: Vec<Shown> = serde_json::from_str(&json).expect("reads");
        assert_eq!(back, keep(&kept));
        assert_eq!(super::results(&back).len(), 2);
        assert_eq!(changeable_conferences(&kept), ["c1", "c2"]);
    }
}
