//! `/today`: the sender's meetings of the day, in the bot's time zone, from their primary
//! calendar. A calendar is private: asked in a group, the list goes to the sender 1:1 and the
//! group is told only that it did.

use chrono::{Days, TimeZone};

use super::Context;
use crate::bot::action_cards::{action_error, day_label, day_lines, today_card};
use crate::bot::i18n::fill;
use crate::bot::render;
use crate::dingtalk::message::ConversationKind;
use crate::dingtalk::reply::{OutgoingMessage, ReplyError};

pub(super) async fn answer(cx: &Context<'_>) -> OutgoingMessage {
    let t = cx.lang.text();
    let notice = |text: String| render::notice_card(t, &[text], cx.mention);
    let corp = cx.message.reply_to.corp_id.as_deref();
    let Some(staff_id) = cx.message.reply_to.sender_staff_id.as_deref() else {
        return notice(t.actions.no_staff_id.to_owned());
    };
    let person = match cx.organiser.people().get(corp, staff_id).await {
        Ok(person) => person,
        Err(err) => return notice(logged(t, "user_get", &err)),
    };
    let Some((day, start, end)) = day_window(cx.timezone, cx.organiser.now_ms()) else {
        return notice(t.upstream_error.to_owned());
    };
    let events = match cx.organiser.api().events(corp, &person.union_id, &start, &end).await {
        Ok(events) => events,
        Err(err) => return notice(logged(t, "calendar_events", &err)),
    };
    let lines = day_lines(t, cx.timezone, &events);
    let date = day_label(day);
    if cx.message.reply_to.kind == ConversationKind::Single {
        return today_card(t, &date, &lines, None);
    }
    let private = today_card(t, &date, &lines, None);
    match cx.organiser.send_privately(&cx.message.reply_to, staff_id, &private).await {
        Ok(()) => notice(t.actions.sent_privately.to_owned()),
        Err(err) => {
            tracing::warn!(%err, "the day's calendar could not be sent 1:1");
            let reason = match &err {
                ReplyError::OpenApi(api) => action_error(t, api),
                _ => t.upstream_error.to_owned(),
            };
            notice(fill(t.actions.not_sent_privately, &[("reason", &reason)]))
        }
    }
}

fn logged(t: &crate::bot::i18n::Text, call: &'static str, err: &crate::dingtalk::openapi::ApiError) -> String {
    tracing::warn!(call, %err, kind = err.kind(), "DingTalk refused a meeting action");
    action_error(t, err)
}

/// Today in `tz` at `now_ms`, and its start and the next day's start in RFC 3339.
fn day_window(tz: chrono_tz::Tz, now_ms: i64) -> Option<(chrono::NaiveDate, String, String)> {
    let day = tz.timestamp_millis_opt(now_ms).single()?.date_naive();
    let start = tz.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).earliest()?;
    let next = day.checked_add_days(Days::new(1))?;
    let end = tz.from_local_datetime(&next.and_hms_opt(0, 0, 0)?).earliest()?;
    Some((day, start.to_rfc3339(), end.to_rfc3339()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_runs_from_local_midnight_to_the_next() {
        // 2026-12-07 01:00 in Shanghai is 2026-12-06 17:00 UTC.
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 17, 0, 0).unwrap().timestamp_millis();
        let (day, start, end) = day_window(chrono_tz::Asia::Shanghai, now).expect("a window");
        assert_eq!(day.to_string(), "2026-12-07");
        assert_eq!(start, "2026-12-07T00:00:00+08:00");
        assert_eq!(end, "2026-12-08T00:00:00+08:00");
    }
}
