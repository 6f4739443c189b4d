//! Presses of a delivered card's buttons, as DingTalk calls them back: over the Stream for a
//! card created with `callbackType` `STREAM`, to the registered HTTP route otherwise.

use serde_json::{Value, json};

use super::cards::CardsView;
use super::stream_push::Pushed;

impl CardsView<'_> {
    /// The callback body of `user_id` pressing button `action` on card `out_track_id` (the
    /// Stream SDKs' `CardCallbackMessage`), from organisation `corp`.
    pub fn press_body(&self, out_track_id: &str, corp: &str, user_id: &str, action: &str) -> Value {
        let card = self.card(out_track_id);
        let content = json!({"cardPrivateData": {"actionIds": [action], "params": {}}}).to_string();
        json!({
            "outTrackId": out_track_id,
            "corpId": corp,
            "userId": user_id,
            "userIdType": 1,
            "spaceType": card.as_ref().map(|c| c.space_type.clone()),
            "spaceId": card.as_ref().map(|c| c.space_id.clone()),
            "type": "actionCallback",
            "extension": "{}",
            "value": "",
            "content": content,
        })
    }

    /// `user_id` presses button `action` on card `out_track_id`: pushed over the Stream when the
    /// card was created with `callbackType` `STREAM` (`None` otherwise: DingTalk would not call back).
    pub fn press(&self, out_track_id: &str, user_id: &str, action: &str) -> Option<Pushed> {
        let card = self.card(out_track_id)?;
        if card.callback_type.as_deref() != Some("STREAM") {
            return None;
        }
        let body = self.press_body(out_track_id, &card.corp_id, user_id, action);
        Some(self.state.stream().push_card_data(&body.to_string()))
    }

    /// `user_id` presses button `action` on card `out_track_id`, posted to the HTTP route its
    /// `callbackRouteKey` was registered for, with the robot callbacks' `timestamp`/`sign`
    /// headers when `signed`. Returns the HTTP status; `None` when the card has no registered
    /// route (DingTalk would not call back).
    pub async fn press_http(&self, out_track_id: &str, user_id: &str, action: &str, signed: bool) -> Option<u16> {
        let timestamp = signed.then(|| self.state.clock().now_ms());
        self.press_http_at(out_track_id, user_id, action, timestamp).await
    }

    /// As [`CardsView::press_http`], signed with `timestamp_ms` when given (the playground
    /// signs with the wall clock the bot checks against, however far the simulated clock ran).
    pub async fn press_http_at(
        &self,
        out_track_id: &str,
        user_id: &str,
        action: &str,
        timestamp_ms: Option<i64>,
    ) -> Option<u16> {
        let card = self.card(out_track_id)?;
        let key = card.callback_route_key.clone()?;
        let url = self.route_url(&key)?;
        let body = self.press_body(out_track_id, &card.corp_id, user_id, action);
        let mut request = self.state.http().post(url).json(&body);
        if let Some(timestamp) = timestamp_ms {
            let timestamp = timestamp.to_string();
            let sign = crate::sign::sign(&timestamp, self.state.client_secret());
            request = request.header("timestamp", timestamp).header("sign", sign);
        }
        Some(request.send().await.map_or(0, |answer| answer.status().as_u16()))
    }
}
