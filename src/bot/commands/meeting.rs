//! `/meeting <code…>`: every meeting behind up to five codes, looked up at once, on one card.

use super::{Composed, Context};
use crate::bot::render::CodeResult;
use crate::bot::room_code::RoomCode;

pub(super) async fn answer(cx: &Context<'_>, codes: Vec<RoomCode>, skipped: usize) -> Composed {
    let lookups = codes.into_iter().map(|code| async move {
        let result = cx.lookup(&code).await;
        (code, result)
    });
    let results: Vec<CodeResult> = futures_util::future::join_all(lookups).await;
    let message = cx.cards.meeting_card(cx.lang.text(), cx.timezone, &results, skipped, cx.mention);
    Composed { message, card: cx.card_answer(results, skipped, false) }
}
