//! A Refresh press on a live card: fresh data for the person who asked.

use super::LiveCards;
use crate::dingtalk::openapi::call_purpose::{self, Purpose};

impl LiveCards {
    /// A Refresh press on card `out_track_id` by someone of organisation `corp`: shows fresh
    /// data. A card the bot does not know, or of another organisation, is left as it is.
    pub async fn pressed(&self, corp: Option<&str>, out_track_id: &str) -> bool {
        let card = match self.book.get(out_track_id).await {
            Ok(Some(card)) => card,
            Ok(None) => {
                self.metrics.card("press", "unknown_card");
                tracing::info!(out_track_id, "a press on a card this bot does not keep; ignored");
                return false;
            }
            Err(err) => {
                tracing::warn!(%err, "a pressed card could not be read");
                return false;
            }
        };
        if card.corp.as_deref().unwrap_or_default() != corp.unwrap_or_default() {
            self.metrics.card("press", "other_organisation");
            tracing::warn!(out_track_id, "a press from another organisation than the card's; ignored");
            return false;
        }
        let now = self.clock.now_ms();
        call_purpose::with_purpose(Purpose::Refresh, self.refresh(out_track_id, card, now, true)).await;
        self.metrics.card("press", "refreshed");
        true
    }
}
