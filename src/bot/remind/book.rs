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
        let local = self.local.get(conversation).await?;
        if let Some(kept) = &local
            && kept.unshared
        {
            // Changed here while Redis was unreachable: newer than what Redis holds.
            return Ok(Some(kept.clone()).filter(|kept| !kept.reminders.is_empty()));
        }
        if let Some(shared) = self.state.shared(Conversation::KIND, conversation).await {
            return Ok(shared.and_then(|payload| decode(conversation, &payload)));
        }
        Ok(local)
    }

    /// Keeps a conversation's reminders (forgets the conversation when it has none left).
    /// With Redis configured but unreachable, the change is kept here, marked unshared and due
    /// at once, so the first pass with Redis back shares it.
    pub(super) async fn put(&self, conversation: &str, kept: &Conversation) -> Result<(), StoreFailure> {
        let shared = self.share(conversation, kept).await;
        if shared && kept.reminders.is_empty() {
            self.local.remove(conversation).await?;
            return Ok(());
        }
        let due = if shared { kept.due_ms() } else { Some(0) };
        let local = Conversation { unshared: !shared, ..kept.clone() };
        self.local.put(conversation, due.map(system_time), &local).await
    }

    /// Puts (or removes) the record in Redis; true when done or when there is no Redis.
    async fn share(&self, conversation: &str, kept: &Conversation) -> bool {
        if !self.state.shares() {
            return true;
        }
        let done = if kept.reminders.is_empty() {
            self.state.remove_shared(Conversation::KIND, conversation).await.is_some()
        } else {
            let payload = serde_json::to_string(&Conversation { unshared: false, ..kept.clone() }).unwrap_or_default();
            self.state.put_shared(Conversation::KIND, conversation, kept.due_ms(), &payload).await
        };
        if !done {
            tracing::warn!(
                conversation,
                "Redis did not answer: a reminder change is kept here and shared when it is back"
            );
        }
        done
    }

    /// The conversations with reminders due by `until_ms`: from Redis while it answers (after
    /// sharing what was kept here while it did not), else from this replica's store.
    pub(super) async fn due(&self, until_ms: i64) -> Result<Vec<(String, Conversation)>, StoreFailure> {
        let Some(rows) = self.state.due_shared(Conversation::KIND, until_ms).await else {
            return self.local.due(system_time(until_ms)).await;
        };
        let mut due: Vec<(String, Conversation)> =
            rows.into_iter().filter_map(|(key, payload)| Some((key.clone(), decode(&key, &payload)?))).collect();
        for (key, kept) in self.local.due(system_time(0)).await? {
            if !kept.unshared || !self.share(&key, &kept).await {
                continue;
            }
            tracing::info!(conversation = %key, "reminders kept while Redis was unreachable are shared now");
            due.retain(|(known, _)| *known != key);
            if kept.reminders.is_empty() {
                self.local.remove(&key).await?;
                continue;
            }
            let kept = Conversation { unshared: false, ..kept };
            self.local.put(&key, kept.due_ms().map(system_time), &kept).await?;
            if kept.due_ms().is_some_and(|at| at <= until_ms) {
                due.push((key, kept));
            }
        }
        Ok(due)
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
