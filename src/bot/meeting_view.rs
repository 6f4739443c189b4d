//! The meeting view model: DingTalk's instances ordered, capped and labelled for a card. Pure.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, TimeZone, Timelike};
use chrono_tz::Tz;

use super::i18n::{Text, fill};
use crate::dingtalk::conference::{ConferenceInfo, Conferences};

/// The most instances listed for one code; the rest are counted.
pub const MAX_LISTED: usize = 10;
/// Titles and names are cut to this many characters, so no title can blow the size limit.
const MAX_TITLE_CHARS: usize = 80;
const MAX_NAME_CHARS: usize = 40;
/// A join link longer than this is left out rather than sent broken.
const MAX_URL_BYTES: usize = 1000;

/// A meeting's state, from DingTalk's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    InProgress,
    Upcoming,
    Ended,
    Unknown,
}

impl Status {
    pub fn from_code(code: Option<i64>) -> Self {
        match code {
            Some(2) => Self::InProgress,
            Some(0) => Self::Upcoming,
            Some(1) => Self::Ended,
            _ => Self::Unknown,
        }
    }

    pub fn label(self, t: &Text) -> &'static str {
        match self {
            Self::InProgress => t.status_in_progress,
            Self::Upcoming => t.status_upcoming,
            Self::Ended => t.status_ended,
            Self::Unknown => t.status_unknown,
        }
    }
}

/// One meeting instance, ready to print (all text still unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingView {
    pub title: String,
    pub status: Status,
    pub status_label: &'static str,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration: Option<String>,
    pub creator: Option<String>,
    pub kind: Option<&'static str>,
    /// How many people are in it now (a live card's refresh of a meeting in progress).
    pub active: Option<String>,
    /// How many took part, in all (a live card of a meeting that ended, told by its event).
    pub attended: Option<String>,
    /// An http(s) link safe to put inside `[..](..)`; absent once the meeting has ended.
    pub join_url: Option<String>,
    /// The labels of start, end, duration, host, type, people in it and people who took part,
    /// in the card's language.
    labels: [&'static str; 7],
    start_ms: Option<i64>,
}

impl MeetingView {
    /// The labelled lines shown under the title, in order (start, end, duration, host, type,
    /// people in it, people who took part), those with a value only.
    pub fn details(&self) -> Vec<(&'static str, &str)> {
        let values = [
            self.start.as_deref(),
            self.end.as_deref(),
            self.duration.as_deref(),
            self.creator.as_deref(),
            self.kind,
            self.active.as_deref(),
            self.attended.as_deref(),
        ];
        self.labels.iter().zip(values).filter_map(|(label, value)| Some((*label, value?))).collect()
    }
}

/// Everything behind one code, ordered and capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeReport {
    pub code: String,
    pub total: usize,
    pub meetings: Vec<MeetingView>,
    pub hidden: usize,
}

impl CodeReport {
    /// Orders instances (in progress, upcoming by start, ended latest first) and lists at most `max`.
    pub fn build(code: &str, conferences: &Conferences, t: &Text, tz: Tz, max: usize) -> Self {
        let mut meetings: Vec<MeetingView> = conferences.list.iter().map(|info| view(info, t, tz)).collect();
        meetings.sort_by(|a, b| {
            a.status.cmp(&b.status).then_with(|| match a.status {
                Status::Ended => b.start_ms.cmp(&a.start_ms),
                _ => a.start_ms.unwrap_or(i64::MAX).cmp(&b.start_ms.unwrap_or(i64::MAX)),
            })
        });
        let total = conferences.total.max(meetings.len());
        // A capped list keeps its latest ended meeting: one that just ended stays on its card,
        // saying so, rather than dropping off behind the upcoming ones.
        if meetings.len() > max
            && max >= 2
            && let Some(latest_ended) = meetings.iter().position(|m| m.status == Status::Ended)
            && latest_ended >= max
        {
            let ended = meetings.remove(latest_ended);
            meetings.insert(max - 1, ended);
        }
        meetings.truncate(max);
        let hidden = total - meetings.len();
        Self { code: code.to_owned(), total, meetings, hidden }
    }

    /// The title of the first listed meeting, for the notification line.
    pub fn first_title(&self) -> Option<&str> {
        self.meetings.first().map(|m| m.title.as_str())
    }
}

fn view(info: &ConferenceInfo, t: &Text, tz: Tz) -> MeetingView {
    let status = Status::from_code(info.status);
    let duration = info.conf_duration.or_else(|| match (info.start_time, info.end_time) {
        (Some(start), Some(end)) if end > start => Some(end - start),
        _ => None,
    });
    MeetingView {
        title: info
            .title
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map_or_else(|| t.untitled.to_owned(), |s| truncate(s, MAX_TITLE_CHARS)),
        status,
        status_label: status.label(t),
        start: info.start_time.and_then(|ms| format_time(ms, tz)),
        end: info.end_time.and_then(|ms| format_time(ms, tz)),
        duration: duration.filter(|ms| *ms > 0).map(|ms| format_duration(ms, t)),
        creator: info
            .creator_nick
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| truncate(s, MAX_NAME_CHARS)),
        kind: info.biz_type.as_deref().and_then(|kind| meeting_kind(kind, t)),
        active: info.active_num.filter(|_| status == Status::InProgress).map(|n| n.to_string()),
        attended: info.attend_num.filter(|_| status == Status::Ended).map(|n| n.to_string()),
        join_url: (status != Status::Ended).then(|| info.external_link_url.as_deref().and_then(safe_link)).flatten(),
        labels: [
            t.label_start,
            t.label_end,
            t.label_duration,
            t.label_creator,
            t.label_kind,
            t.label_active,
            t.label_attended,
        ],
        start_ms: info.start_time,
    }
}

fn meeting_kind(biz_type: &str, t: &Text) -> Option<&'static str> {
    match biz_type.trim() {
        "0" => Some(t.kind_instant),
        "3" => Some(t.kind_booked),
        "audio_conf" => Some(t.kind_audio),
        _ => None,
    }
}

/// `2026-11-26 14:30` in `tz`.
pub fn format_time(ms: i64, tz: Tz) -> Option<String> {
    let utc = DateTime::from_timestamp_millis(ms)?;
    let local = tz.from_utc_datetime(&utc.naive_utc());
    let mut out = String::with_capacity(16);
    let Ok(year @ 0..=9999) = u32::try_from(local.year()) else {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute()
        );
        return Some(out);
    };
    // Digit by digit: this runs for every time on every card, and `write!` costs several times more.
    let digits = |out: &mut String, n: u32, width: u32| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + u8::try_from(n / 10_u32.pow(place) % 10).unwrap_or(0)));
        }
    };
    digits(&mut out, year, 4);
    out.push('-');
    digits(&mut out, local.month(), 2);
    out.push('-');
    digits(&mut out, local.day(), 2);
    out.push(' ');
    digits(&mut out, local.hour(), 2);
    out.push(':');
    digits(&mut out, local.minute(), 2);
    Some(out)
}

/// `1 小时 5 分钟`, `45 分钟`, `30 秒`.
pub fn format_duration(ms: i64, t: &Text) -> String {
    let secs = ms / 1000;
    let (hours, minutes) = (secs / 3600, (secs % 3600) / 60);
    if hours > 0 {
        fill(t.duration_hours_minutes, &[("hours", &hours), ("minutes", &minutes)])
    } else if minutes > 0 {
        fill(t.duration_minutes, &[("minutes", &minutes)])
    } else {
        fill(t.duration_seconds, &[("seconds", &secs.max(1))])
    }
}

/// Cuts to `max` characters, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An http(s) URL made safe for a markdown link target, or `None`: the scheme must be http or
/// https with a plain host (no user info), and every character that could end the link,
/// start another or break the line is percent-encoded. (Not a full URL parse: DingTalk's
/// links are ordinary, and this runs for every meeting of every card.)
pub fn safe_link(url: &str) -> Option<String> {
    let url = url.trim();
    let lower_scheme = url.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower_scheme.starts_with("https://") {
        &url[8..]
    } else if lower_scheme.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_ok = !authority.is_empty()
        && authority.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !host_ok {
        return None;
    }
    let mut safe = String::with_capacity(url.len() + 8);
    for c in url.chars() {
        match c {
            '(' | ')' | '[' | ']' | '<' | '>' | '"' | '`' | '\\' | '{' | '}' | '|' | '^' | ' ' => {
                safe.push_str(&format!("%{:02X}", c as u32));
            }
            c if c.is_ascii_control() || c.is_whitespace() || !c.is_ascii() => {
                let mut bytes = [0; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    safe.push_str(&format!("%{byte:02X}"));
                }
            }
            c => safe.push(c),
        }
    }
    (safe.len() <= MAX_URL_BYTES).then_some(safe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::i18n::{EN, ZH};

    fn info(title: &str, status: i64, start: i64) -> ConferenceInfo {
        ConferenceInfo {
            title: Some(title.into()),
            status: Some(status),
            start_time: Some(start),
            external_link_url: Some(format!("https://meeting.dingtalk.com/j/{title}")),
            ..ConferenceInfo::default()
        }
    }

    fn report(list: Vec<ConferenceInfo>) -> CodeReport {
        let total = list.len();
        CodeReport::build("123456789", &Conferences { list, total }, &ZH, chrono_tz::Asia::Shanghai, MAX_LISTED)
    }

    #[test]
    fn in_progress_then_upcoming_by_start_then_ended_latest_first() {
        let r = report(vec![
            info("ended-old", 1, 1_000),
            info("upcoming-late", 0, 9_000),
            info("ended-new", 1, 5_000),
            info("running", 2, 3_000),
            info("upcoming-soon", 0, 7_000),
        ]);
        let titles: Vec<_> = r.meetings.iter().map(|m| m.title.as_str()).collect();
        assert_eq!(titles, ["running", "upcoming-soon", "upcoming-late", "ended-new", "ended-old"]);
    }

    #[test]
    fn at_most_ten_are_listed_and_the_rest_counted() {
        let r = report((0..25).map(|i| info(&format!("m{i}"), 1, i)).collect());
        assert_eq!((r.meetings.len(), r.hidden, r.total), (10, 15, 25));
    }

    #[test]
    fn a_capped_list_keeps_its_latest_ended_meeting_last() {
        let mut list: Vec<ConferenceInfo> = (0..12).map(|i| info(&format!("up{i}"), 0, 10_000 + i)).collect();
        list.push(info("ended-old", 1, 1_000));
        list.push(info("just-ended", 1, 5_000));
        let r = report(list);
        let titles: Vec<_> = r.meetings.iter().map(|m| m.title.as_str()).collect();
        assert_eq!(titles, ["up0", "up1", "up2", "up3", "up4", "up5", "up6", "up7", "up8", "just-ended"]);
        assert_eq!(r.hidden, 4);
        let short = report((0..12).map(|i| info(&format!("up{i}"), 0, i)).collect());
        assert_eq!(short.meetings.last().map(|m| m.title.as_str()), Some("up9"), "none ended: the upcoming fill it");
    }

    #[test]
    fn the_total_from_dingtalk_counts_instances_not_fetched() {
        let list = vec![info("a", 2, 1)];
        let r = CodeReport::build("1", &Conferences { list, total: 240 }, &ZH, chrono_tz::Asia::Shanghai, MAX_LISTED);
        assert_eq!((r.total, r.hidden), (240, 239));
    }

    #[test]
    fn ended_meetings_have_no_join_link() {
        let r = report(vec![info("done", 1, 1), info("live", 2, 2)]);
        assert!(r.meetings.iter().find(|m| m.title == "done").expect("done").join_url.is_none());
        assert!(r.meetings.iter().find(|m| m.title == "live").expect("live").join_url.is_some());
    }

    #[test]
    fn times_are_shown_in_the_configured_zone() {
        // 2026-11-26 06:30 UTC.
        let ms = 1_795_674_600_000;
        assert_eq!(format_time(ms, chrono_tz::Asia::Shanghai).as_deref(), Some("2026-11-26 14:30"));
        assert_eq!(format_time(ms, chrono_tz::UTC).as_deref(), Some("2026-11-26 06:30"));
        assert_eq!(format_time(ms, chrono_tz::America::New_York).as_deref(), Some("2026-11-26 01:30"));
        assert_eq!(format_time(0, chrono_tz::UTC).as_deref(), Some("1970-01-01 00:00"));
        assert_eq!(format_time(253_402_300_800_000, chrono_tz::UTC).as_deref(), Some("10000-01-01 00:00"));
        assert_eq!(format_time(-62_135_596_800_000, chrono_tz::UTC).as_deref(), Some("0001-01-01 00:00"));
    }

    #[test]
    fn durations_read_naturally_in_both_languages() {
        assert_eq!(format_duration(3_900_000, &ZH), "1 小时 5 分钟");
        assert_eq!(format_duration(3_900_000, &EN), "1 h 5 min");
        assert_eq!(format_duration(45 * 60_000, &EN), "45 min");
        assert_eq!(format_duration(1000, &EN), "1 s");
    }

    #[test]
    fn only_http_links_survive_and_parentheses_are_encoded() {
        assert_eq!(safe_link("javascript:alert(1)"), None);
        assert_eq!(safe_link("dingtalk://x"), None);
        assert_eq!(safe_link("https://a.example/x(1)").as_deref(), Some("https://a.example/x%281%29"));
        assert_eq!(safe_link("https://a.example/a b").as_deref(), Some("https://a.example/a%20b"));
        assert_eq!(safe_link(&format!("https://a.example/{}", "x".repeat(2000))), None);
        assert_eq!(safe_link("https://user@evil.example/"), None);
        assert_eq!(safe_link("https:///path"), None);
        assert_eq!(safe_link("HTTPS://a.example/会议").as_deref(), Some("HTTPS://a.example/%E4%BC%9A%E8%AE%AE"));
        assert_eq!(safe_link("https://a.example/x\n[y](z)").as_deref(), Some("https://a.example/x%0A%5By%5D%28z%29"));
    }

    #[test]
    fn long_titles_are_cut() {
        let r = report(vec![info(&"长".repeat(500), 2, 1)]);
        assert_eq!(r.meetings[0].title.chars().count(), MAX_TITLE_CHARS);
    }

    #[test]
    fn missing_fields_fall_back_gracefully() {
        let r = report(vec![ConferenceInfo::default()]);
        let m = &r.meetings[0];
        assert_eq!(
            (m.title.as_str(), m.status, m.start.as_deref(), m.join_url.as_deref()),
            ("（无标题）", Status::Unknown, None, None)
        );
    }

    #[test]
    fn biz_types_are_named() {
        assert_eq!(meeting_kind("0", &ZH), Some("即时会议"));
        assert_eq!(meeting_kind("3", &EN), Some("Scheduled meeting"));
        assert_eq!(meeting_kind("audio_conf", &EN), Some("Audio meeting"));
        assert_eq!(meeting_kind("9", &EN), None);
    }
}
