//! `/meeting new [title] [@people…]`: an instant video conference with the sender as organiser and
//! the @-mentioned members invited, answered with its card (a live card, which its meeting's
//! events then keep up to date). Once per message: a redelivered one answers with the meeting it
//! already started.

use std::sync::Arc;

use super::{Composed, Context};
use crate::bot::action_cards::{Started, action_error, started_card};
use crate::bot::i18n::fill;
use crate::bot::live::{CardAnswer, CardView};
use crate::bot::organiser::StartedMeeting;
use crate::bot::render;
use crate::bot::room_code::RoomCode;
use crate::dingtalk::conference::{ConferenceInfo, Conferences};
use crate::dingtalk::message::ConversationKind;
use crate::dingtalk::openapi::ApiError;

pub(super) async fn answer(cx: &Context<'_>, title: Option<String>) -> Composed {
    let t = cx.lang.text();
    let notice = |text: String| Composed::plain(render::notice_card(t, &[text], cx.mention));
    let organiser = cx.organiser;
    if let Some(started) = organiser.book().of_message(&cx.message.id).await {
        tracing::info!(conference_id = %started.conference_id, "this message already started its meeting");
        return composed(cx, &started);
    }
    let corp = cx.message.reply_to.corp_id.as_deref();
    let Some(staff_id) = cx.message.reply_to.sender_staff_id.as_deref() else {
        return notice(t.actions.no_staff_id.to_owned());
    };
    let sender = match organiser.people().get(corp, staff_id).await {
        Ok(sender) => sender,
        Err(err) => return notice(refused(t, "user_get", &err)),
    };
    let mut invitees = Vec::new();
    if cx.message.reply_to.kind == ConversationKind::Group {
        for member in &cx.message.mentioned {
            match organiser.people().get(corp, member).await {
                Ok(person) => invitees.push(person.union_id),
                Err(ApiError::BadRequest { code }) if code == "33012" => {
                    return notice(fill(t.actions.invitee_not_in_org, &[("who", &render::escape(member))]));
                }
                Err(err) => return notice(refused(t, "user_get", &err)),
            }
        }
    }
    let name = cx.message.sender_nick.clone().or(sender.name.clone()).filter(|n| !n.trim().is_empty());
    let title = title.unwrap_or_else(|| match &name {
        Some(name) => fill(t.actions.default_title, &[("name", name)]),
        None => t.actions.default_title_nameless.to_owned(),
    });
    let title: String = title.chars().take(super::parse::MAX_TITLE_CHARS).collect();
    let created = match organiser.api().create(corp, &sender.union_id, &title, &invitees).await {
        Ok(created) => created,
        Err(err) => return notice(refused(t, "conference_create", &err)),
    };
    let Some(conference_id) = created.conference_id.filter(|id| !id.is_empty()) else {
        return notice(t.upstream_garbled.to_owned());
    };
    let started = StartedMeeting {
        corp: corp.map(str::to_owned),
        conversation_id: cx.message.reply_to.conversation_id.clone(),
        organiser_staff_id: staff_id.to_owned(),
        organiser_union_id: sender.union_id,
        organiser_name: name.unwrap_or_else(|| staff_id.to_owned()),
        conference_id,
        room_code: created.room_code.unwrap_or_default(),
        title,
        link: created.external_link_url,
        invited: invitees.len(),
        started_ms: organiser.now_ms(),
    };
    organiser.book().keep(&cx.message.id, &started).await;
    tracing::info!(conference_id = %started.conference_id, invited = started.invited, "meeting started from the chat");
    composed(cx, &started)
}

/// A refusal logged with the call it came from, and worded for the person.
fn refused(t: &crate::bot::i18n::Text, call: &'static str, err: &ApiError) -> String {
    tracing::warn!(call, %err, kind = err.kind(), "DingTalk refused a meeting action");
    action_error(t, err)
}

/// The card of `started` as DingTalk showed it when it started (in progress, now).
fn composed(cx: &Context<'_>, started: &StartedMeeting) -> Composed {
    let info = ConferenceInfo {
        conference_id: Some(started.conference_id.clone()),
        title: Some(started.title.clone()),
        room_code: Some(started.room_code.clone()),
        external_link_url: started.link.clone(),
        status: Some(2),
        start_time: Some(started.started_ms),
        creator_id: Some(started.organiser_union_id.clone()),
        creator_nick: Some(started.organiser_name.clone()),
        biz_type: Some("0".to_owned()),
        ..ConferenceInfo::default()
    };
    let result: Result<Arc<Conferences>, ApiError> = Ok(Arc::new(Conferences { list: vec![info], total: 1 }));
    let shown = Started {
        conference_id: started.conference_id.clone(),
        room_code: started.room_code.clone(),
        invited: started.invited,
    };
    let message = started_card(cx.lang.text(), cx.timezone, &shown, &result, cx.mention);
    let card = match (cx.interactive, RoomCode::parse(&started.room_code)) {
        (true, Ok(code)) => Some(CardAnswer {
            view: CardView {
                codes: vec![code.as_str().to_owned()],
                skipped: 0,
                share: false,
                mention: cx.mention.map(str::to_owned),
                lang: cx.lang.code().to_owned(),
                started: Some(shown),
            },
            results: vec![(code, result)],
        }),
        _ => None,
    };
    Composed { message, card }
}
