//! `/share <code>`: a join card for everyone, for the meeting in progress or next under the code.

use super::{Composed, Context};
use crate::bot::render;
use crate::bot::room_code::RoomCode;

pub(super) async fn answer(cx: &Context<'_>, code: RoomCode) -> Composed {
    let result = cx.lookup(&code).await;
    let message = render::share_card(cx.lang.text(), cx.timezone, &code, &result);
    Composed { message, card: cx.card_answer(vec![(code, result)], 0, true) }
}
