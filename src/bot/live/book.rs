//! Where live cards are kept: this replica's store of record, and Redis when replicas share
//! one (read from Redis while it answers, so any replica can refresh a card another delivered).

use std::time::{Duration, SystemTime};

use super::LiveCard;
use crate::state::{Kept, Registry, StateStore};

pub(super) struct Book {
    registry: Option<Registry<LiveCard>>,
    state: StateStore,
}

fn system_time(at_ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0))
}
impl Book {
    pub(super) fn open(state: &StateStore) -> Self {
        Self { registry: state.registry(), state: state.clone() }
    }

    /// Keeps `card` for its look at `due`: in this replica's store, and in Redis for every
    /// replica when it is shared.
    pub(super) async fn keep(&self, out_track_id: &str, due: i64, card: &LiveCard) {
        let card = LiveCard { due_ms: due, ..card.clone() };
        if self.state.shares() {
            let payload = serde_json::to_string(&card).unwrap_or_default();
            if !self.state.put_shared(LiveCard::KIND, out_track_id, Some(due), &payload).await {
                tracing::warn!(out_track_id, "Redis did not answer: a live card is kept on this replica only");
            }
        }
        let Some(registry) = &self.registry else { return };
        if let Err(err) = registry.put(out_track_id, Some(system_time(due)), &card).await {
            tracing::warn!(%err, out_track_id, "a live card could not be kept; it stays as it is now");
        }
    }

    pub(super) async fn forget(&self, out_track_id: &str) {
        if self.state.shares() {
            self.state.remove_shared(LiveCard::KIND, out_track_id).await;
        }
        let Some(registry) = &self.registry else { return };
        if let Err(err) = registry.remove(out_track_id).await {
            tracing::warn!(%err, out_track_id, "a finished live card could not be forgotten");
        }
    }

    /// The live cards due by `now`: every replica's from Redis while it answers, else this one's.
    pub(super) async fn due(&self, now: i64) -> Option<Vec<(String, LiveCard)>> {
        if let Some(rows) = self.state.due_shared(LiveCard::KIND, now).await {
            let decoded = rows.into_iter().filter_map(|(key, payload)| match serde_json::from_str(&payload) {
                Ok(card) => Some((key, card)),
                Err(err) => {
                    tracing::warn!(%key, %err, "a shared live card that does not read is skipped");
                    None
                }
            });
            return Some(decoded.collect());
        }
        match self.registry.as_ref()?.due(system_time(now)).await {
            Ok(due) => Some(due),
            Err(err) => {
                tracing::warn!(%err, "live cards could not be read; trying again shortly");
                None
            }
        }
    }

    /// A kept card: from Redis while it answers (another replica may have delivered it), else
    /// from this replica's store.
    pub(super) async fn kept(&self, out_track_id: &str) -> Result<Option<LiveCard>, String> {
        if let Some(shared) = self.state.shared(LiveCard::KIND, out_track_id).await {
            return Ok(shared.and_then(|payload| serde_json::from_str(&payload).ok()));
        }
        match &self.registry {
            Some(registry) => registry.get(out_track_id).await.map_err(|err| err.to_string()),
            None => Ok(None),
        }
    }
}
