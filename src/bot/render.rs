//! Cards: view models → DingTalk markdown through the askama templates in `templates/`. Pure.
//!
//! Every interpolated value passes the [`Markdown`] escaper, so a title from another person is
//! shown as text and can never add a link, a heading or HTML to the card.

use std::sync::Arc;

use askama::Template;
use chrono_tz::Tz;

use super::i18n::{Text, fill};
use super::meeting_view::{CodeReport, MAX_LISTED, MeetingView, Status, truncate};
use super::room_code::RoomCode;
use crate::dingtalk::conference::Conferences;
use crate::dingtalk::openapi::{ApiError, endpoints};
use crate::dingtalk::reply::OutgoingMessage;

/// A card's text stays under this many bytes: below the OpenAPI's 15,000-byte `msgParam` and
/// the webhook's 20,000-byte body, with room for JSON escaping and the title.
pub const MAX_CARD_BYTES: usize = 13_000;
const MAX_NOTIFICATION_CHARS: usize = 60;

/// The askama escaper for DingTalk markdown: markdown and HTML punctuation become their
/// full-width look-alikes (which every client shows as text, unlike backslash escapes), line
/// breaks and control characters become spaces, and bidirectional overrides are dropped.
#[derive(Debug, Clone, Copy)]
pub struct Markdown;

impl askama::filters::Escaper for Markdown {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, text: &str) -> std::fmt::Result {
        // Runs of characters that stay as they are are copied whole: most of a card's text.
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if !may_change(c) {
                continue;
            }
            dest.write_str(&text[start..i])?;
            if let Some(c) = escape_char(c) {
                dest.write_char(c)?;
            }
            start = i + c.len_utf8();
        }
        dest.write_str(&text[start..])
    }
}

/// Escapes text for use outside a template (the same rules as the template escaper).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing to a String cannot fail.
    let _ = askama::filters::Escaper::write_escaped_str(&Markdown, &mut out, text);
    out
}

/// False for the characters [`escape_char`] certainly keeps: ASCII letters, digits, space and
/// unmarked punctuation, and every character from U+00A0 on outside the two blocks that hold
/// the invisible ones it drops (U+2000–U+206F, U+FE00–U+FEFF).
fn may_change(c: char) -> bool {
    match c {
        ' '..='~' => matches!(c, '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '\\'),
        '\u{A0}'..='\u{1FFF}' | '\u{2070}'..='\u{FDFF}' => false,
        _ => c < '\u{A0}' || c <= '\u{206F}' || ('\u{FE00}'..='\u{FEFF}').contains(&c),
    }
}

fn escape_char(c: char) -> Option<char> {
    Some(match c {
        '*' => '＊',
        '_' => '＿',
        '`' => '｀',
        '[' => '［',
        ']' => '］',
        '<' => '＜',
        '>' => '＞',
        '#' => '＃',
        '|' => '｜',
        '~' => '～',
        '\\' => '＼',
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}' => return None,
        c if c.is_control() => ' ',
        c => c,
    })
}

/// What happened for one meeting code.
pub type CodeResult = (RoomCode, Result<Arc<Conferences>, ApiError>);

struct ReportView<'a> {
    count_line: String,
    meetings: &'a [MeetingView],
    more_line: Option<String>,
}

struct SectionView<'a> {
    heading: String,
    report: Option<ReportView<'a>>,
    message: String,
}

#[derive(Template)]
#[template(path = "meeting.md")]
struct MeetingCard<'a> {
    t: &'a Text,
    sections: Vec<SectionView<'a>>,
    skipped_note: Option<String>,
    mention: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.md")]
struct NoticeCard<'a> {
    paragraphs: &'a [String],
    mention: Option<&'a str>,
}

/// One command on the help card.
pub struct HelpLine {
    /// The canonical alias and its argument: `/meeting code…`.
    pub usage: String,
    pub description: &'static str,
    /// The other aliases, worded, or nothing.
    pub aliases_note: String,
}

#[derive(Template)]
#[template(path = "help.md")]
struct HelpCard<'a> {
    t: &'a Text,
    preface: Option<String>,
    commands: Vec<HelpLine>,
    mention: Option<&'a str>,
}

/// Who to @-mention in a group reply: a staff id made only of characters that cannot disturb
/// the markdown (DingTalk needs the raw `@staffId` text to notify).
pub fn mention_for(staff_id: Option<&str>) -> Option<&str> {
    staff_id.filter(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

fn markdown(title: String, text: String, mention: Option<&str>) -> OutgoingMessage {
    OutgoingMessage::Markdown {
        title: escape(&truncate(&title, MAX_NOTIFICATION_CHARS)),
        text,
        at_user_ids: mention.map(|m| vec![m.to_owned()]).unwrap_or_default(),
    }
}

fn render<T: Template>(template: &T) -> String {
    template.render().unwrap_or_else(|err| {
        // The templates are compiled in; failing to render one is a bug, not bad input.
        tracing::error!(%err, "a card failed to render");
        String::new()
    })
}

/// The answer to `/meeting`: one section per code, shrunk until it fits DingTalk's limits.
pub fn meeting_card(
    t: &Text,
    tz: Tz,
    results: &[CodeResult],
    skipped: usize,
    mention: Option<&str>,
) -> OutgoingMessage {
    let mut text = String::new();
    let mut reports = Vec::new();
    for max in [MAX_LISTED, 8, 6, 4, 3, 2, 1] {
        reports = results
            .iter()
            .map(|(code, result)| result.as_ref().map(|found| CodeReport::build(code.as_str(), found, t, tz, max)))
            .collect::<Vec<_>>();
        let card = MeetingCard {
            t,
            sections: results.iter().zip(&reports).map(|((code, _), report)| section(t, code, report)).collect(),
            skipped_note: (skipped > 0).then(|| fill(t.skipped_codes, &[("count", &skipped)])),
            mention,
        };
        text = render(&card);
        if text.len() <= MAX_CARD_BYTES {
            break;
        }
    }
    let title = match (results, reports.first()) {
        ([(code, _)], Some(Ok(report))) => match report.first_title() {
            Some(first) => fill(t.card_title_one, &[("code", code), ("first", &first)]),
            None => fill(t.code_heading, &[("code", code)]),
        },
        ([(code, _)], _) => fill(t.code_heading, &[("code", code)]),
        _ => fill(t.card_title_many, &[("count", &results.len())]),
    };
    markdown(title, text, mention)
}

fn section<'a>(t: &Text, code: &RoomCode, report: &'a Result<CodeReport, &ApiError>) -> SectionView<'a> {
    let heading = fill(t.code_heading, &[("code", code)]);
    match report {
        Ok(report) if report.meetings.is_empty() => {
            SectionView { heading, report: None, message: fill(t.not_found, &[("code", code)]) }
        }
        Ok(report) => SectionView {
            heading,
            report: Some(ReportView {
                count_line: fill(t.instance_count, &[("count", &report.total)]),
                meetings: &report.meetings,
                more_line: (report.hidden > 0).then(|| fill(t.more_not_listed, &[("count", &report.hidden)])),
            }),
            message: String::new(),
        },
        Err(err) => SectionView { heading, report: None, message: error_message(t, code, err) },
    }
}

/// What to tell a person when DingTalk failed: what happened and what to do next.
pub fn error_message(t: &Text, code: &RoomCode, err: &ApiError) -> String {
    match err {
        ApiError::InvalidRoomCode { .. } | ApiError::BadRequest { .. } => fill(t.invalid_code, &[("code", code)]),
        ApiError::NoPermission { scopes, .. } if !scopes.is_empty() => {
            fill(t.no_permission, &[("scope", &scopes.join(", "))])
        }
        // A lookup refused another way (an IP allow-list): the permission lookups need.
        ApiError::NoPermission { .. } | ApiError::Forbidden { .. } => {
            fill(t.no_permission, &[("scope", &endpoints::CONFERENCE_INFOS.permission.unwrap_or_default())])
        }
        ApiError::Throttled { .. } => t.throttled.to_owned(),
        ApiError::NotAuthorized { .. } => t.not_authorized.to_owned(),
        ApiError::SuiteTicket { .. } => t.waiting_for_authorisation.to_owned(),
        ApiError::NoOrganisation => t.no_organisation.to_owned(),
        ApiError::BadCredentials { .. } | ApiError::InvalidToken { .. } => t.misconfigured.to_owned(),
        ApiError::Upstream { .. } => t.upstream_error.to_owned(),
        ApiError::Timeout => t.upstream_timeout.to_owned(),
        ApiError::Decode(_) => t.upstream_garbled.to_owned(),
        ApiError::Network(_) => t.upstream_down.to_owned(),
        ApiError::CircuitOpen { retry_in_secs } => fill(t.upstream_paused, &[("seconds", retry_in_secs)]),
    }
}

#[derive(Template)]
#[template(path = "share.md")]
struct ShareCard<'a> {
    t: &'a Text,
    meeting: &'a MeetingView,
    code_heading: String,
}

/// The team card for `/share`: the meeting in progress, else the next to start, with a join
/// button; no @-mention, so it reads well when forwarded. A plain notice when there is none.
pub fn share_card(t: &Text, tz: Tz, code: &RoomCode, result: &Result<Arc<Conferences>, ApiError>) -> OutgoingMessage {
    let conferences = match result {
        Ok(found) => found,
        Err(err) => return notice_card(t, &[error_message(t, code, err)], None),
    };
    let report = CodeReport::build(code.as_str(), conferences, t, tz, usize::MAX);
    let joinable = report.meetings.iter().find(|m| matches!(m.status, Status::InProgress | Status::Upcoming));
    let Some(meeting) = joinable else {
        let text = if report.meetings.is_empty() { t.not_found } else { t.share_all_ended };
        return notice_card(t, &[fill(text, &[("code", code)])], None);
    };
    let Some(url) = meeting.join_url.clone() else {
        return notice_card(t, &[fill(t.share_no_link, &[("code", code), ("title", &meeting.title)])], None);
    };
    let text = render(&ShareCard { t, meeting, code_heading: fill(t.code_heading, &[("code", code)]) });
    OutgoingMessage::ActionCard {
        title: escape(&truncate(&meeting.title, MAX_NOTIFICATION_CHARS)),
        text,
        button_title: t.join.to_owned(),
        button_url: url,
    }
}

/// A short answer of one or more paragraphs (errors, refusals, notes).
pub fn notice_card(t: &Text, paragraphs: &[String], mention: Option<&str>) -> OutgoingMessage {
    let title = paragraphs.first().cloned().unwrap_or_else(|| t.error_title.to_owned());
    markdown(title, render(&NoticeCard { paragraphs, mention }), mention)
}

/// The help card listing `commands`; `preface` explains why it is shown.
pub fn help_card(t: &Text, preface: Option<String>, commands: Vec<HelpLine>, mention: Option<&str>) -> OutgoingMessage {
    let title = preface.clone().unwrap_or_else(|| t.help_title.to_owned());
    markdown(title, render(&HelpCard { t, preface, commands, mention }), mention)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_copying_escaper_escapes_as_the_character_one_does() {
        let samples = [
            "plain title 123",
            "周会 *重要* [链接](x) <b>#1</b> |a|~b~ `c` \\",
            "line\nbreak\ttab\u{7f}\u{85}",
            "\u{202E}evil\u{2066}\u{200B}\u{FEFF}\u{2014}—\u{2070}⁰\u{FE0F}️",
            "",
        ];
        for text in samples {
            let expected: String = text.chars().filter_map(escape_char).collect();
            assert_eq!(escape(text), expected, "{text:?}");
        }
        for code in (0..0x3_0000).filter_map(char::from_u32) {
            if !may_change(code) {
                assert_eq!(escape_char(code), Some(code), "{code:?} must be kept as it is");
            }
        }
    }

    #[test]
    fn hostile_text_cannot_format_the_card() {
        assert_eq!(
            escape("**bold** [x](http://evil) <font color=red>hi</font>\n# head"),
            "＊＊bold＊＊ ［x］(http://evil) ＜font color=red＞hi＜/font＞ ＃ head"
        );
        assert_eq!(escape("a\u{202E}b\u{200B}c"), "abc");
    }

    #[test]
    fn mentions_must_be_plain_ids() {
        assert_eq!(mention_for(Some("manager807")), Some("manager807"));
        assert_eq!(mention_for(Some("user_01-x")), Some("user_01-x"));
        assert_eq!(mention_for(Some("a](http://x)")), None);
        assert_eq!(mention_for(Some("")), None);
        assert_eq!(mention_for(None), None);
    }
}
