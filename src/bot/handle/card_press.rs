//! What the bot does with a press of a live card's button (over the Stream or the HTTP card
//! callback): Refresh shows fresh data on the card; anything else, a card the bot does not keep,
//! or one of another organisation, changes nothing.

use super::Bot;
use crate::bot::live::REFRESH_ACTION;
use crate::dingtalk::card::CardPress;

impl Bot {
    /// Acts on a card callback's body (acknowledged already by the transport).
    pub async fn card_pressed(&self, body: &[u8]) {
        let press = match CardPress::parse(body) {
            Ok(press) => press,
            Err(err) => {
                tracing::warn!(%err, "a card callback that does not read; ignored");
                return;
            }
        };
        let (Some(live), Some(out_track_id)) = (self.live_cards(), press.out_track_id.as_deref()) else {
            tracing::info!("a card callback without a card this bot can refresh; ignored");
            return;
        };
        if !press.action_ids().iter().any(|id| id == REFRESH_ACTION) {
            tracing::info!(actions = ?press.action_ids(), "a card press that is not Refresh; nothing to do");
            return;
        }
        live.pressed(press.corp_id.as_deref(), out_track_id).await;
    }
}
