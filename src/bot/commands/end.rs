//! `/meeting end [code]`: its organiser ends a meeting started from the chat (with no code, the
//! last they started in this conversation). Anyone else is refused before anything is called.

use super::Context;
use crate::bot::action_cards::action_error;
use crate::bot::i18n::fill;
use crate::bot::live::{ConferenceNews, Phase};
use crate::bot::render;
use crate::bot::room_code::RoomCode;
use crate::dingtalk::reply::OutgoingMessage;

pub(super) async fn answer(cx: &Context<'_>, code: Option<RoomCode>) -> OutgoingMessage {
    let t = cx.lang.text();
    let notice = |text: String| render::notice_card(t, &[text], cx.mention);
    let corp = cx.message.reply_to.corp_id.as_deref();
    let Some(staff_id) = cx.message.reply_to.sender_staff_id.as_deref() else {
        return notice(t.actions.no_staff_id.to_owned());
    };
    let book = cx.organiser.book();
    let started = match &code {
        Some(code) => book.of_code(corp, code).await,
        None => book.last_of(&cx.message.reply_to.conversation_id, staff_id).await,
    };
    let Some(started) = started else {
        return notice(match &code {
            Some(code) => fill(t.actions.end_not_started_here, &[("code", code)]),
            None => t.actions.end_nothing_started.to_owned(),
        });
    };
    if started.organiser_staff_id != staff_id {
        tracing::info!(conference_id = %started.conference_id, "refused to end a meeting for someone not its organiser");
        return notice(fill(t.actions.end_not_organiser, &[("name", &render::escape(&started.organiser_name))]));
    }
    if let Err(err) = cx.organiser.api().close(corp, &started.conference_id, &started.organiser_union_id).await {
        tracing::warn!(call = "conference_close", %err, kind = err.kind(), "DingTalk refused a meeting action");
        return notice(action_error(t, &err));
    }
    tracing::info!(conference_id = %started.conference_id, "meeting ended from the chat");
    if let Some(live) = cx.live {
        let news = ConferenceNews {
            phase: Some(Phase::Ended),
            end_time: Some(cx.organiser.now_ms()),
            ..ConferenceNews::default()
        };
        live.show_news(corp, &started.conference_id, &news).await;
    }
    notice(fill(t.actions.ended, &[("title", &render::escape(&started.title))]))
}
