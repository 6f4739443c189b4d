//! The answers of the commands that act for the person asking: the card of a meeting started
//! from the chat (a live card like any other, rendered again as its meeting changes), the day's
//! calendar, and what to tell a person when DingTalk refused. Pure.

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::action_text::ActionText;
use super::i18n::{Text, fill};
use super::meeting_view::{CodeReport, MeetingView, safe_link, truncate};
use super::render::{self, escape};
use crate::dingtalk::conference::Conferences;
use crate::dingtalk::meeting_api::CalendarEvent;
use crate::dingtalk::openapi::ApiError;
use crate::dingtalk::reply::OutgoingMessage;

/// What a card of a meeting started from the chat shows besides its lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub conference_id: String,
    /// The code as DingTalk writes it (spaces kept).
    pub room_code: String,
    /// How many members were invited.
    pub invited: usize,
}

#[derive(Template)]
#[template(path = "started.md")]
struct StartedCard<'a> {
    t: &'a Text,
    a: &'a ActionText,
    meeting: &'a MeetingView,
    code: &'a str,
    invited: Option<String>,
    mention: Option<&'a str>,
}

/// The card of a meeting started from the chat: its title, state, code, organiser, invitees and
/// Join while it can be joined.
pub fn started_card(
    t: &Text,
    tz: Tz,
    started: &Started,
    result: &Result<Arc<Conferences>, ApiError>,
    mention: Option<&str>,
) -> OutgoingMessage {
    let found = match result {
        Ok(found) => found,
        Err(err) => return render::notice_card(t, &[action_error(t, err)], mention),
    };
    let own = found.list.iter().find(|info| info.conference_id.as_deref() == Some(started.conference_id.as_str()));
    let list = own.or(found.list.first()).cloned().into_iter().collect();
    let report = CodeReport::build(&started.room_code, &Conferences { list, total: 1 }, t, tz, 1);
    let Some(meeting) = report.meetings.first() else {
        return render::notice_card(t, &[fill(t.not_found, &[("code", &started.room_code)])], mention);
    };
    let invited = (started.invited > 0).then(|| fill(t.actions.invited_count, &[("count", &started.invited)]));
    let card = StartedCard { t, a: t.actions, meeting, code: &started.room_code, invited, mention };
    let text = card.render().unwrap_or_default();
    OutgoingMessage::Markdown {
        title: escape(&truncate(&meeting.title, 60)),
        text,
        at_user_ids: mention.map(|m| vec![m.to_owned()]).unwrap_or_default(),
    }
}

/// One line of the day's calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayLine {
    pub when: String,
    pub title: String,
    pub code: Option<String>,
    pub url: Option<String>,
    start_key: i64,
}

#[derive(Template)]
#[template(path = "today.md")]
struct TodayCard<'a> {
    t: &'a Text,
    a: &'a ActionText,
    heading: String,
    lines: &'a [DayLine],
}

/// The day's lines from its events, earliest first: cancelled ones left out, all-day ones first.
pub fn day_lines(t: &Text, tz: Tz, events: &[CalendarEvent]) -> Vec<DayLine> {
    let mut lines: Vec<DayLine> = events
        .iter()
        .filter(|event| event.status.as_deref() != Some("cancelled"))
        .map(|event| {
            let start = event.start.as_ref().and_then(|s| s.date_time.as_deref()).and_then(parse_time);
            let end = event.end.as_ref().and_then(|e| e.date_time.as_deref()).and_then(parse_time);
            let all_day = event.is_all_day == Some(true) || start.is_none();
            let clock = |at: DateTime<chrono::FixedOffset>| at.with_timezone(&tz).format("%H:%M").to_string();
            let when = match (all_day, start, end) {
                (true, _, _) | (_, None, _) => t.actions.all_day.to_owned(),
                (false, Some(start), Some(end)) => format!("{}–{}", clock(start), clock(end)),
                (false, Some(start), None) => clock(start),
            };
            let online = event.online_meeting_info.as_ref();
            let title = event.summary.as_deref().map(str::trim).filter(|s| !s.is_empty());
            DayLine {
                when,
                title: truncate(title.unwrap_or(t.actions.untitled_event), 80),
                code: online.and_then(|o| o.room_code()).map(|code| truncate(&code, 40)),
                url: online.and_then(|o| o.url.as_deref()).and_then(meeting_link),
                start_key: if all_day { i64::MIN } else { start.map_or(i64::MAX, |s| s.timestamp_millis()) },
            }
        })
        .collect();
    lines.sort_by_key(|line| line.start_key);
    lines
}

/// The day's calendar (`date` as people read it), or that it is empty.
pub fn today_card(t: &Text, date: &str, lines: &[DayLine], mention: Option<&str>) -> OutgoingMessage {
    if lines.is_empty() {
        return render::notice_card(t, &[fill(t.actions.today_empty, &[("date", &date)])], mention);
    }
    let heading = fill(t.actions.today_heading, &[("date", &date)]);
    let mut text = TodayCard { t, a: t.actions, heading: heading.clone(), lines }.render().unwrap_or_default();
    if let Some(mention) = mention {
        text.push_str(&format!("\n\n@{mention}"));
    }
    OutgoingMessage::Markdown {
        title: escape(&heading),
        text,
        at_user_ids: mention.map(|m| vec![m.to_owned()]).unwrap_or_default(),
    }
}

/// The day people read in a heading: `2026-12-07`.
pub fn day_label(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn parse_time(text: &str) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(text.trim()).ok()
}

/// A meeting link safe inside `[..](..)`: an http(s) one, or DingTalk's own
/// `dingtalk://dingtalkclient/…` made only of URL characters that cannot end the link.
fn meeting_link(url: &str) -> Option<String> {
    let url = url.trim();
    if url.starts_with("dingtalk://dingtalkclient/") {
        let plain = url.chars().all(|c| c.is_ascii_alphanumeric() || "/:?=&.-_%~+".contains(c));
        return (plain && url.len() <= 1000).then(|| url.to_owned());
    }
    safe_link(url)
}

/// What to tell a person when DingTalk refused one of these calls, by the documented codes.
pub fn action_error(t: &Text, err: &ApiError) -> String {
    let a = t.actions;
    match err {
        ApiError::NoPermission { scopes, .. } => fill(t.no_permission, &[("scope", &scopes.join(", "))]),
        ApiError::BadRequest { code } | ApiError::Upstream { code, .. } => match code.as_str() {
            "unknownUserError" | "orgAccessForbidden" | "33012" | "60121" => a.not_in_org.to_owned(),
            "paramsTitleError" => fill(a.title_rejected, &[("detail", code)]),
            "waterLimitError" => a.room_limit.to_owned(),
            "permissionError" => a.group_restricted.to_owned(),
            "resourceClose" => a.already_ended.to_owned(),
            _ if matches!(err, ApiError::BadRequest { .. }) => fill(a.rejected, &[("code", code)]),
            _ => t.upstream_error.to_owned(),
        },
        ApiError::Forbidden { code, .. } => fill(a.rejected, &[("code", code)]),
        ApiError::Throttled { .. } => t.throttled.to_owned(),
        ApiError::NotAuthorized { .. } => t.not_authorized.to_owned(),
        ApiError::SuiteTicket { .. } => t.waiting_for_authorisation.to_owned(),
        ApiError::NoOrganisation => t.no_organisation.to_owned(),
        ApiError::BadCredentials { .. } | ApiError::InvalidToken { .. } | ApiError::InvalidRoomCode { .. } => {
            t.misconfigured.to_owned()
        }
        ApiError::Timeout => t.upstream_timeout.to_owned(),
        ApiError::Decode(_) => t.upstream_garbled.to_owned(),
        ApiError::Network(_) => t.upstream_down.to_owned(),
        ApiError::CircuitOpen { retry_in_secs } => fill(t.upstream_paused, &[("seconds", retry_in_secs)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dingtalk::conference::ConferenceInfo;
    use crate::dingtalk::meeting_api::{EventTime, OnlineMeeting};
    use crate::lang::Lang;

    fn at(date_time: &str) -> Option<EventTime> {
        Some(EventTime { date_time: Some(date_time.to_owned()), ..EventTime::default() })
    }

    #[test]
    fn a_started_meeting_shows_its_code_as_written_its_organiser_and_join() {
        let t = Lang::En.text();
        let started = Started { conference_id: "c1".into(), room_code: "838 722 123".into(), invited: 2 };
        let info = ConferenceInfo {
            conference_id: Some("c1".into()),
            title: Some("Standup *now*".into()),
            status: Some(2),
            start_time: Some(1_800_000_000_000),
            external_link_url: Some("https://meeting.dingtalk.com/j/abc".into()),
            creator_nick: Some("张三".into()),
            ..ConferenceInfo::default()
        };
        let result = Ok(Arc::new(Conferences { list: vec![info], total: 1 }));
        let OutgoingMessage::Markdown { text, .. } =
            started_card(t, chrono_tz::Asia::Shanghai, &started, &result, Some("u1"))
        else {
            panic!("markdown")
        };
        assert!(text.contains("838 722 123"), "{text}");
        assert!(text.contains("Standup ＊now＊"), "{text}");
        assert!(text.contains("张三"), "{text}");
        assert!(text.contains("[Join meeting](https://meeting.dingtalk.com/j/abc)"), "{text}");
        assert!(text.contains("Invited: 2"), "{text}");
        assert!(text.ends_with("@u1"), "{text}");
    }

    #[test]
    fn the_day_is_sorted_all_day_first_and_cancelled_events_left_out() {
        let t = Lang::En.text();
        let event = |summary: &str, start: &str, end: &str| CalendarEvent {
            summary: Some(summary.into()),
            start: at(start),
            end: at(end),
            ..CalendarEvent::default()
        };
        let mut online = event("Review", "2026-12-07T14:00:00+08:00", "2026-12-07T15:00:00+08:00");
        online.online_meeting_info = Some(OnlineMeeting {
            url: Some("dingtalk://dingtalkclient/page/videoConf?confId=x".into()),
            extra_info: serde_json::from_str(r#"{"roomCode":"123 456 789"}"#).ok(),
            ..OnlineMeeting::default()
        });
        let mut cancelled = event("Gone", "2026-12-07T08:00:00+08:00", "2026-12-07T09:00:00+08:00");
        cancelled.status = Some("cancelled".into());
        let all_day = CalendarEvent {
            summary: Some("Offsite".into()),
            is_all_day: Some(true),
            start: Some(EventTime { date: Some("2026-12-07".into()), ..EventTime::default() }),
            ..CalendarEvent::default()
        };
        let events = [online, event("Standup", "2026-12-07T01:30:00Z", "2026-12-07T01:45:00Z"), cancelled, all_day];
        let lines = day_lines(t, chrono_tz::Asia::Shanghai, &events);
        let titles: Vec<&str> = lines.iter().map(|l| l.title.as_str()).collect();
        assert_eq!(titles, ["Offsite", "Standup", "Review"]);
        assert_eq!(lines[1].when, "09:30–09:45");
        assert_eq!(lines[2].code.as_deref(), Some("123 456 789"));
        let OutgoingMessage::Markdown { text, .. } = today_card(t, "2026-12-07", &lines, None) else { panic!() };
        assert!(text.contains("[Join meeting](dingtalk://dingtalkclient/page/videoConf?confId=x)"), "{text}");
        let OutgoingMessage::Markdown { text, .. } = today_card(t, "2026-12-07", &[], None) else { panic!() };
        assert!(text.contains("Nothing on your calendar today (2026-12-07)"), "{text}");
    }

    #[test]
    fn each_documented_refusal_has_its_own_message() {
        let t = Lang::En.text();
        let bad = |code: &str| ApiError::BadRequest { code: code.into() };
        let limit = ApiError::Upstream { code: "waterLimitError".into(), status: 404 };
        let messages = [
            action_error(t, &bad("unknownUserError")),
            action_error(t, &bad("paramsTitleError")),
            action_error(t, &limit),
            action_error(t, &ApiError::Upstream { code: "permissionError".into(), status: 404 }),
            action_error(t, &bad("resourceClose")),
            action_error(t, &ApiError::NoPermission { code: "x".into(), scopes: vec!["Calendar.Event.Read".into()] }),
        ];
        let mut unique = messages.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), messages.len(), "{messages:?}");
        assert!(messages[5].contains("Calendar.Event.Read"));
    }
}
