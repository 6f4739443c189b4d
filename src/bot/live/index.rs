//! Which live cards show a conference: kept for every replica by organisation and
//! `conferenceId`, so a meeting event finds its cards without a lookup (and one for a conference
//! on no card costs nothing). A card is added when it is delivered or looked at again; it leaves
//! when it is final, and the entry is forgotten once every card in it has ended its life.

use serde::{Deserialize, Serialize};

use super::LiveCards;
use crate::state::{Kept, Shared};

/// The cards showing one conference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConferenceCards {
    /// (card's `outTrackId`, until when it is live).
    pub cards: Vec<(String, i64)>,
    /// Changed while Redis was unreachable and not shared yet.
    #[serde(default)]
    pub unshared: bool,
}

impl Kept for ConferenceCards {
    const KIND: &'static str = "conference_cards";
}

impl Shared for ConferenceCards {
    const QUEUED_WHILE_AWAY: bool = true;

    /// Due when the last of its cards ends its life, to be forgotten then.
    fn due_ms(&self) -> Option<i64> {
        self.cards.iter().map(|(_, until)| *until).max()
    }

    fn is_queued(&self) -> bool {
        self.unshared
    }

    fn set_queued(&mut self, queued: bool) {
        self.unshared = queued;
    }

    fn is_spent(&self) -> bool {
        self.cards.is_empty()
    }
}

/// The index key of conference `conference_id` of organisation `corp`.
pub fn index_key(corp: Option<&str>, conference_id: &str) -> String {
    format!("{}/{conference_id}", corp.unwrap_or_default())
}

impl LiveCards {
    /// Records that card `out_track_id` (live until `until_ms`) shows each of `conference_ids`
    /// of organisation `corp`. A card made some other way than [`LiveCards::deliver`] (a new
    /// meeting's card, its conference known) is indexed with this too.
    pub async fn index_card(&self, corp: Option<&str>, conference_ids: &[String], out_track_id: &str, until_ms: i64) {
        for conference_id in conference_ids {
            self.change_index(&index_key(corp, conference_id), |entry| {
                if entry.cards.iter().any(|(id, _)| id == out_track_id) {
                    return false;
                }
                entry.cards.push((out_track_id.to_owned(), until_ms));
                true
            })
            .await;
        }
    }

    /// The cards showing conference `conference_id` of organisation `corp`.
    pub async fn cards_showing(&self, corp: Option<&str>, conference_id: &str) -> Vec<String> {
        match self.index.get(&index_key(corp, conference_id)).await {
            Ok(entry) => entry.map(|entry| entry.cards.into_iter().map(|(id, _)| id).collect()).unwrap_or_default(),
            Err(err) => {
                tracing::warn!(%err, conference_id, "the cards of a conference could not be read");
                Vec::new()
            }
        }
    }

    /// Takes `gone` out of conference `conference_id`'s cards (final, forgotten, or no longer
    /// showing it).
    pub(super) async fn unindex(&self, corp: Option<&str>, conference_id: &str, gone: &[String]) {
        if gone.is_empty() {
            return;
        }
        self.change_index(&index_key(corp, conference_id), |entry| {
            let before = entry.cards.len();
            entry.cards.retain(|(id, _)| !gone.contains(id));
            entry.cards.len() != before
        })
        .await;
    }

    /// Forgets the entries whose cards have all ended their life.
    pub(super) async fn prune_index(&self, now: i64) {
        let due = match self.index.due(now).await {
            Ok(due) => due,
            Err(err) => {
                tracing::debug!(%err, "the card index could not be read; pruned later");
                return;
            }
        };
        for (key, _) in due {
            self.change_index(&key, |entry| {
                let before = entry.cards.len();
                entry.cards.retain(|(_, until)| *until > now);
                entry.cards.len() != before
            })
            .await;
        }
    }

    /// Reads, changes and writes back one entry, one writer at a time (`change` says whether it
    /// changed anything).
    async fn change_index(&self, key: &str, change: impl FnOnce(&mut ConferenceCards) -> bool) {
        let held = self.index_locks.hold(key).await;
        match self.index.get(key).await {
            Ok(entry) => {
                let mut entry = entry.unwrap_or_default();
                if change(&mut entry)
                    && let Err(err) = self.index.put(key, &entry).await
                {
                    tracing::warn!(%err, key, "the cards of a conference could not be kept; its events may miss a card");
                }
            }
            Err(err) => tracing::warn!(%err, key, "the cards of a conference could not be read"),
        }
        held.release().await;
    }
}
