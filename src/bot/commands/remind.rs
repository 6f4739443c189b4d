//! `/remind`: set, list or cancel the conversation's meeting reminders (the reminders answer
//! it; a bot without them says it cannot).

use super::Context;
use crate::bot::remind::RemindRequest;
use crate::bot::render;
use crate::dingtalk::reply::OutgoingMessage;

pub(super) async fn answer(cx: &Context<'_>, request: RemindRequest) -> OutgoingMessage {
    match cx.reminders {
        Some(reminders) => reminders.answer(cx.message, request, cx.lang, cx.mention).await,
        None => {
            let t = cx.lang.text();
            render::notice_card(t, &[t.misconfigured.to_owned()], cx.mention)
        }
    }
}
