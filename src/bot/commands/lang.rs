//! `/lang [zh|en]`: shows the conversation's reply language, or switches it (kept in the store).

use super::Context;
use crate::bot::render;
use crate::dingtalk::reply::OutgoingMessage;
use crate::lang::Lang;

/// The state-store setting that holds a conversation's language.
pub const LANG_SETTING: &str = "lang";

pub(super) async fn answer(cx: &Context<'_>, choice: Option<Lang>) -> OutgoingMessage {
    let Some(lang) = choice else {
        let t = cx.lang.text();
        return render::notice_card(t, &[t.lang_current.to_owned()], cx.mention);
    };
    cx.state.settings().set(&cx.message.reply_to.conversation_id, LANG_SETTING, lang.code()).await;
    // The confirmation is already in the new language.
    let t = lang.text();
    render::notice_card(t, &[t.lang_switched.to_owned()], cx.mention)
}
