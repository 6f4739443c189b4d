//! What `/remind` answers and what a reminder looks like. Pure: every value from DingTalk or a
//! person is escaped by the templates, and the join link is checked before it becomes a button.

use askama::Template;
use chrono_tz::Tz;

use super::plan::{Conversation, Instance, Reminder};
use crate::bot::i18n::{Text, fill};
use crate::bot::meeting_view::{format_time, safe_link, truncate};
use crate::bot::render::{self, escape};
use crate::dingtalk::reply::OutgoingMessage;

const MAX_TITLE_CHARS: usize = 80;
const MAX_NOTIFICATION_CHARS: usize = 60;

#[derive(Template)]
#[template(path = "reminder.md")]
struct ReminderCard<'a> {
    title: &'a str,
    heading: String,
    start: Option<String>,
    start_label: &'a str,
    colon: &'a str,
    code_heading: String,
    footer: String,
}

fn title_of<'a>(t: &'a Text, instance: &'a Instance) -> String {
    let title = instance.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or(t.untitled);
    truncate(title, MAX_TITLE_CHARS)
}

/// The reminder for one instance: an action card with a Join button when its link is usable,
/// markdown otherwise; no @-mention.
pub(super) fn reminder(t: &Text, tz: Tz, reminder: &Reminder, instance: &Instance) -> OutgoingMessage {
    let title = title_of(t, instance);
    let minutes = &reminder.minutes;
    let (heading, notification) = if instance.started {
        (t.reminder_started_heading.to_owned(), fill(t.reminder_started_title, &[("title", &title)]))
    } else {
        (
            fill(t.reminder_heading, &[("minutes", minutes)]),
            fill(t.reminder_title, &[("title", &title), ("minutes", minutes)]),
        )
    };
    let code = &reminder.code;
    let footer = match reminder.set_by.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => fill(t.reminder_set_by, &[("name", &truncate(name, 40)), ("code", code)]),
        None => fill(t.reminder_set_by_nobody, &[("code", code)]),
    };
    let card = ReminderCard {
        title: &title,
        heading,
        start: format_time(instance.start_ms, tz),
        start_label: t.label_start,
        colon: t.colon,
        code_heading: fill(t.code_heading, &[("code", code)]),
        footer,
    };
    let text = card.render().unwrap_or_else(|err| {
        tracing::error!(%err, "a reminder failed to render");
        String::new()
    });
    let title = escape(&truncate(&notification, MAX_NOTIFICATION_CHARS));
    match instance.url.as_deref().and_then(safe_link) {
        Some(url) => OutgoingMessage::ActionCard { title, text, button_title: t.join.to_owned(), button_url: url },
        None => OutgoingMessage::Markdown { title, text, at_user_ids: Vec::new() },
    }
}

/// The confirmation of `/remind <code>`: which meetings, at what times, and how to stop.
pub(super) fn confirmation(t: &Text, tz: Tz, reminder: &Reminder, days: u32, mention: Option<&str>) -> OutgoingMessage {
    let code = &reminder.code;
    let mut paragraphs = vec![fill(t.remind_confirm_intro, &[("code", code), ("minutes", &reminder.minutes)])];
    for instance in &reminder.instances {
        let start = format_time(instance.start_ms, tz).unwrap_or_default();
        paragraphs.push(format!(
            "- {}",
            fill(t.remind_confirm_item, &[("title", &title_of(t, instance)), ("start", &start)])
        ));
    }
    paragraphs.push(if reminder.next_lookup_ms.is_some() {
        fill(t.remind_confirm_daily, &[("days", &days)])
    } else {
        t.remind_confirm_once.to_owned()
    });
    paragraphs.push(fill(t.remind_how_to_stop, &[("code", code)]));
    render::notice_card(t, &paragraphs, mention)
}

/// `/remind` alone: this conversation's reminders.
pub(super) fn list(t: &Text, tz: Tz, kept: Option<&Conversation>, mention: Option<&str>) -> OutgoingMessage {
    let reminders = kept.map(|c| c.reminders.as_slice()).unwrap_or_default();
    if reminders.is_empty() {
        return render::notice_card(t, &[t.remind_list_empty.to_owned()], mention);
    }
    let mut paragraphs = vec![t.remind_list_title.to_owned()];
    for reminder in reminders {
        let (code, minutes) = (&reminder.code, &reminder.minutes);
        let line = match reminder.next() {
            Some(next) => {
                let start = format_time(next.start_ms, tz).unwrap_or_default();
                fill(
                    t.remind_list_item_next,
                    &[("code", code), ("minutes", minutes), ("title", &title_of(t, next)), ("start", &start)],
                )
            }
            None => fill(t.remind_list_item, &[("code", code), ("minutes", minutes)]),
        };
        paragraphs.push(format!("- {line}"));
    }
    render::notice_card(t, &paragraphs, mention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::remind::plan::Stage;
    use crate::lang::Lang;

    fn sample(title: &str, url: Option<&str>) -> (Reminder, Instance) {
        let instance = Instance {
            id: "c1".into(),
            title: Some(title.into()),
            start_ms: 1_800_000_000_000,
            end_ms: None,
            url: url.map(str::to_owned),
            started: false,
            stage: Stage::Checked,
        };
        let reminder = Reminder {
            code: "123456789".into(),
            minutes: 5,
            set_by: Some("张三".into()),
            lang: "zh".into(),
            set_at_ms: 0,
            until_ms: i64::MAX,
            next_lookup_ms: None,
            instances: vec![instance.clone()],
        };
        (reminder, instance)
    }

    #[test]
    fn a_reminder_carries_title_time_link_who_and_how_to_stop() {
        let (reminder, instance) = sample("周会 *重要*", Some("https://meeting.dingtalk.com/j/1"));
        let message = super::reminder(Lang::Zh.text(), chrono_tz::Asia::Shanghai, &reminder, &instance);
        let OutgoingMessage::ActionCard { title, text, button_url, .. } = message else { panic!("an action card") };
        assert_eq!(button_url, "https://meeting.dingtalk.com/j/1");
        assert!(title.contains("5 分钟后开始"), "{title}");
        assert!(text.contains("周会 ＊重要＊") && text.contains("2027-01-15 16:00"), "{text}");
        assert!(text.contains("张三 设置的提醒") && text.contains("/remind off 123456789"), "{text}");
    }

    #[test]
    fn a_reminder_without_a_safe_link_is_markdown() {
        let (reminder, instance) = sample("x", Some("javascript:alert(1)"));
        let message = super::reminder(Lang::En.text(), chrono_tz::UTC, &reminder, &instance);
        assert!(matches!(message, OutgoingMessage::Markdown { ref at_user_ids, .. } if at_user_ids.is_empty()));
    }
}
