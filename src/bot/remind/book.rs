//! Where reminders are kept: the store of record on this machine, and Redis when replicas
//! share one (read from Redis while it answers, so any replica can send what another set up).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::plan::Conversation;
use crate::state::{Claim, Kept, Registry, StateStore, StoreFailure};

pub(super) struct Book {
    state: StateStore,
    local: Registry<Conversation>,
}

/// A kept time in ms as the local store's `SystemTime`.
fn system_time(ms: i64) -> SystemTime {
    let ms = u64::try_from(ms).unwrap_or(0);
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl Book {
    /// `None` for a store in memory only: reminders must outlive the process.
    pub(super) fn open(state: &StateStore) -> Option<Self> {
        Some(Self { state: state.clone(), local: state.registry::<Conversation>()? })
    }

    pub(super) async fn get(&self, conversation: &str) -> Result<Option<Conversation>, StoreFailure> {
        if let Some(shared) = self.state.shared(Conversation::KIND, conversation).await {
            return Ok(shared.and_then(|payload| decode(conversation, &payload)));
        }
        self.local.get(conversation).await
    }

    /// Keeps a conversation's reminders (forgets the conversation when it has none left).
    pub(super) async fn put(&self, conversation: &str, kept: &Conversation) -> Result<(), StoreFailure> {
        if kept.reminders.is_empty() {
            self.state.remove_shared(Conversation::KIND, conversation).await;
            self.local.remove(conversation).await?;
            return Ok(());
        }
        let due = kept.due_ms();
        if self.state.sharing()
            && let Ok(payload) = serde_json::to_string(kept)
            && !self.state.put_shared(Conversation::KIND, conversation, due, &payload).await
        {
            tracing::warn!(conversation, "reminders could not be shared through Redis: kept on this replica only");
        }
        self.local.put(conversation, due.map(system_time), kept).await
    }

    /// The conversations with reminders due by `until_ms`.
    pub(super) async fn due(&self, until_ms: i64) -> Result<Vec<(String, Conversation)>, StoreFailure> {
        if let Some(rows) = self.state.due_shared(Conversation::KIND, until_ms).await {
            return Ok(rows
                .into_iter()
                .filter_map(|(key, payload)| Some((key.clone(), decode(&key, &payload)?)))
                .collect());
        }
        self.local.due(system_time(until_ms)).await
    }

    /// When the soonest reminder is due, if any (looked up to `until_ms`).
    pub(super) async fn next_due(&self, until_ms: i64) -> Option<i64> {
        let due = self.due(until_ms).await.ok()?;
        due.iter().filter_map(|(_, kept)| kept.due_ms()).min()
    }

    pub(super) async fn claim(&self, key: &str, ttl_ms: i64) -> Claim {
        self.state.claim(key, ttl(ttl_ms)).await
    }

    pub(super) async fn finish_claim(&self, key: &str, ttl_ms: i64) {
        self.state.finish_claim(key, ttl(ttl_ms)).await;
    }
}

fn ttl(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(1).max(1))
}

fn decode(key: &str, payload: &str) -> Option<Conversation> {
    serde_json::from_str(payload)
        .inspect_err(|err| tracing::warn!(%key, %err, "a kept reminder record is skipped: it does not read"))
        .ok()
}
