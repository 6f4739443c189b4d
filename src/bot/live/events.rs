//! Meeting events on live cards: what a conference's events say is shown on every card of it,
//! from what the card keeps, without a lookup. A start or an end is shown at once (until the
//! budget's ceiling), with the count of that moment; a change of only how many are in the
//! meeting at most once per `DINGMEET_CARD_MEMBER_UPDATE_SECS` per card after the card's last
//! update (the caller comes back when the pause is over, so the last count lands), and only while
//! the budget has room to spare: counts are the first thing it drops. A card whose meetings
//! cannot change any more is then left alone.

use super::shown::{self, ConferenceNews, Patched};
use super::view::{card_params, digest, ms, next_look, render_view};
use super::{LiveCard, LiveCards};
use crate::dingtalk::openapi::call_purpose::{self, Purpose};
use crate::lang::Lang;

/// What showing a conference's news on one card came to.
enum Shown {
    /// Shown, or nothing to show: the card needs nothing more for this news.
    Done,
    /// A count waits for the card's pause to end, at this time.
    Later(i64),
    /// The card no longer shows the conference (gone, final, or never did).
    Gone,
}

impl LiveCards {
    /// Shows `news` of conference `conference_id` of organisation `corp` on every live card of
    /// it; `Some(at)`: a count waits on some card, call again at `at`. No card, no call.
    pub async fn show_news(&self, corp: Option<&str>, conference_id: &str, news: &ConferenceNews) -> Option<i64> {
        self.budget.note_events(corp.unwrap_or_default());
        let cards = self.cards_showing(corp, conference_id).await;
        if cards.is_empty() {
            return None;
        }
        let mut later: Option<i64> = None;
        let mut gone = Vec::new();
        for out_track_id in cards {
            let shown =
                call_purpose::with_purpose(Purpose::Refresh, self.show_on(corp, &out_track_id, conference_id, news))
                    .await;
            match shown {
                Shown::Done => {}
                Shown::Later(at) => later = Some(later.map_or(at, |l| l.min(at))),
                Shown::Gone => gone.push(out_track_id),
            }
        }
        self.unindex(corp, conference_id, &gone).await;
        later
    }

    /// Keeps `card` after a look that began when it showed `sent_before`: an event that changed
    /// the card meanwhile is newer than the look, so that copy is kept, with the look's next
    /// time; a card an event let go meanwhile stays gone.
    pub(super) async fn keep_after_look(&self, out_track_id: &str, card: LiveCard, sent_before: &str) {
        let held = self.card_locks.hold(out_track_id).await;
        match self.book.get(out_track_id).await {
            Ok(Some(stored)) if stored.sent != sent_before => {
                let kept = LiveCard { due_ms: card.due_ms, looked_up_ms: card.looked_up_ms, ..stored };
                self.keep(out_track_id, &kept).await;
            }
            Ok(None) => tracing::debug!(out_track_id, "a card let go during its look stays gone"),
            _ => self.keep(out_track_id, &card).await,
        }
        held.release().await;
    }

    /// [`Self::show_on_held`], one writer of the card at a time.
    async fn show_on(
        &self,
        corp: Option<&str>,
        out_track_id: &str,
        conference_id: &str,
        news: &ConferenceNews,
    ) -> Shown {
        let held = self.card_locks.hold(out_track_id).await;
        let shown = self.show_on_held(corp, out_track_id, conference_id, news).await;
        held.release().await;
        shown
    }

    async fn show_on_held(
        &self,
        corp: Option<&str>,
        out_track_id: &str,
        conference_id: &str,
        news: &ConferenceNews,
    ) -> Shown {
        let mut card: LiveCard = match self.book.get(out_track_id).await {
            Ok(Some(card)) => card,
            Ok(None) => return Shown::Gone,
            Err(err) => {
                tracing::warn!(%err, out_track_id, "a live card could not be read for an event; tried again later");
                return Shown::Later(self.clock.now_ms().saturating_add(ms(self.options.refresh)));
            }
        };
        if card.corp.as_deref().unwrap_or_default() != corp.unwrap_or_default() || card.shown.is_empty() {
            return Shown::Gone;
        }
        let now = self.clock.now_ms();
        if now >= card.until_ms {
            return Shown::Gone;
        }
        let mut results = shown::results(&card.shown);
        let patched = shown::patch(&mut results, conference_id, news);
        match patched {
            Patched::Absent => return Shown::Gone,
            Patched::Unchanged => return Shown::Done,
            Patched::Count if now.saturating_sub(card.count_sent_ms) < ms(self.options.member_update) => {
                self.metrics.card("update", "event_paced");
                return Shown::Later(card.count_sent_ms.saturating_add(ms(self.options.member_update)));
            }
            // Counts are the first thing the budget drops: the next start or end carries the count.
            Patched::Count if !self.budget.may_show_count(corp.unwrap_or_default()) => {
                self.metrics.card("update", "count_budget");
                return Shown::Done;
            }
            Patched::Status if !self.budget.may_show_status(corp.unwrap_or_default()) => {
                self.metrics.card("update", "budget");
                return Shown::Later(now.saturating_add(ms(self.options.refresh)));
            }
            Patched::Count | Patched::Status => {}
        }
        let message = render_view(&card.view, self.timezone, &results);
        let t = card.view.lang.parse::<Lang>().unwrap_or_default().text();
        let params = card_params(t, &message, &results, self.options.callback.is_some());
        let sent = digest(&params);
        if sent != card.sent {
            if let Err(err) = self.client.update(corp, out_track_id, &params).await {
                self.metrics.card("update", err.kind());
                tracing::warn!(out_track_id, %err, "a live card could not be updated for an event; trying again");
                return Shown::Later(now.saturating_add(ms(self.options.refresh)));
            }
            self.metrics.card("update", "event");
            tracing::info!(out_track_id, conference_id, "live card updated from a meeting event");
            card.sent = sent;
        }
        // A start or end shows the count of the moment too: the count's pause begins again.
        card.count_sent_ms = now;
        card.shown = shown::keep(&results);
        if next_look(&results, now, self.options.refresh, card.until_ms).is_none() {
            tracing::info!(out_track_id, "live card final: its meetings ended");
            self.forget(out_track_id).await;
            return Shown::Gone;
        }
        self.keep(out_track_id, &card).await;
        Shown::Done
    }
}
