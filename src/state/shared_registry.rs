//! Typed records every replica sees (live cards, reminders): kept in Redis when it is configured
//! (a hash of payloads and a sorted set of due times per kind) and on this machine (a
//! [`LocalRegistry`]), read from Redis while it answers, so any replica can do what another set
//! up, and from this machine while it does not. A kind whose changes must not be lost to an
//! outage ([`Shared::QUEUED_WHILE_AWAY`]) keeps them here, marked in the record and due at once,
//! and the first pass over what is due with Redis back shares them. Claims make sure only one
//! replica does a record's work. After Redis lost its data (its marker, `redis/marker.rs`), the
//! next pass over what is due puts back the records this machine keeps, where Redis lacks them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Claim, Kept, LocalRegistry, StateStore, StoreFailure};

/// A kind of record every replica sees.
pub trait Shared: Kept + Clone {
    /// Whether a change made while Redis is unreachable waits on this replica to be shared once
    /// it is back. If not, it is kept on this replica only, and Redis's copy is what the replicas
    /// see when it answers again.
    const QUEUED_WHILE_AWAY: bool = false;

    /// When the record's work is next due, in ms since the epoch; `None`: nothing scheduled.
    fn due_ms(&self) -> Option<i64>;

    /// Whether the record is a change waiting to be shared (kinds queued while Redis is away).
    fn is_queued(&self) -> bool {
        false
    }

    /// Marks the record as a change waiting to be shared, or as shared.
    fn set_queued(&mut self, _queued: bool) {}

    /// Whether nothing is left in the record: it is forgotten rather than kept.
    fn is_spent(&self) -> bool {
        false
    }
}

/// The records of one kind, in Redis for every replica and on this machine.
pub struct SharedRegistry<T> {
    store: StateStore,
    local: Option<LocalRegistry<T>>,
    /// The [`super::redis`] store's emptied generation whose loss this registry made good.
    republished: AtomicU64,
}

impl<T> std::fmt::Debug for SharedRegistry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRegistry").field("store", &self.store).field("local", &self.local.is_some()).finish()
    }
}

/// A kept time in ms as the local store's `SystemTime`.
fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn decode<T: Kept>(key: &str, payload: &str) -> Option<T> {
    serde_json::from_str(payload)
        .inspect_err(|err| tracing::warn!(kind = T::KIND, %key, %err, "a shared record is skipped: it does not read"))
        .ok()
}

impl<T: Shared> SharedRegistry<T> {
    pub(super) fn new(store: StateStore, local: Option<LocalRegistry<T>>) -> Self {
        Self { store, local, republished: AtomicU64::new(0) }
    }

    /// This registry if it is kept on this machine too (`None` for a store in memory only), for
    /// records that must outlive the process.
    pub fn kept_locally(self) -> Option<Self> {
        self.local.is_some().then_some(self)
    }

    /// A record: from Redis while it answers (another replica may have changed it), else from
    /// this machine; a change waiting here to be shared is newer than Redis's copy.
    pub async fn get(&self, key: &str) -> Result<Option<T>, StoreFailure> {
        let local = if T::QUEUED_WHILE_AWAY { self.local_get(key).await? } else { None };
        if let Some(kept) = &local
            && kept.is_queued()
        {
            return Ok(Some(kept.clone()).filter(|kept| !kept.is_spent()));
        }
        if let Some(shared) = &self.store.shared
            && let Some(payload) = Box::pin(shared.kept(T::KIND, key)).await
        {
            return Ok(payload.and_then(|payload| decode(key, &payload)));
        }
        match local {
            Some(kept) => Ok(Some(kept)),
            None if T::QUEUED_WHILE_AWAY => Ok(None),
            None => self.local_get(key).await,
        }
    }

    async fn local_get(&self, key: &str) -> Result<Option<T>, StoreFailure> {
        match &self.local {
            Some(local) => local.get(key).await,
            None => Ok(None),
        }
    }

    /// Keeps `record` for every replica and on this machine (forgets it when it is spent). With
    /// Redis configured but unreachable, a queued kind's change is kept here, marked and due at
    /// once, so the first pass with Redis back shares it.
    pub async fn put(&self, key: &str, record: &T) -> Result<(), StoreFailure> {
        let shared = self.share(key, record).await;
        let Some(local) = &self.local else { return Ok(()) };
        if shared && record.is_spent() {
            local.remove(key).await?;
            return Ok(());
        }
        if !T::QUEUED_WHILE_AWAY {
            return local.put(key, record.due_ms().map(system_time), record).await;
        }
        let mut kept = record.clone();
        kept.set_queued(!shared);
        let due = if shared { kept.due_ms() } else { Some(0) };
        local.put(key, due.map(system_time), &kept).await
    }

    /// Puts (or, when spent, removes) the record in Redis; true when done or when there is no
    /// Redis.
    async fn share(&self, key: &str, record: &T) -> bool {
        let Some(shared) = &self.store.shared else { return true };
        let done = if record.is_spent() {
            Box::pin(shared.remove_kept(T::KIND, key)).await.is_some()
        } else {
            let payload = if T::QUEUED_WHILE_AWAY {
                let mut shared = record.clone();
                shared.set_queued(false);
                serde_json::to_string(&shared)
            } else {
                serde_json::to_string(record)
            };
            Box::pin(shared.put_kept(T::KIND, key, record.due_ms(), &payload.unwrap_or_default())).await
        };
        if !done && T::QUEUED_WHILE_AWAY {
            tracing::warn!(
                kind = T::KIND,
                key,
                "Redis did not answer: a change is kept here and shared when it is back"
            );
        } else if !done {
            tracing::warn!(kind = T::KIND, key, "Redis did not answer: a record is kept on this replica only");
        }
        done
    }

    /// Forgets a record, in Redis (if it answers) and on this machine.
    pub async fn remove(&self, key: &str) -> Result<(), StoreFailure> {
        if let Some(shared) = &self.store.shared {
            Box::pin(shared.remove_kept(T::KIND, key)).await;
        }
        match &self.local {
            Some(local) => local.remove(key).await.map(drop),
            None => Ok(()),
        }
    }

    /// The records due by `until_ms`, soonest first: every replica's from Redis while it answers
    /// (after sharing the changes queued here while it did not), else this machine's.
    pub async fn due(&self, until_ms: i64) -> Result<Vec<(String, T)>, StoreFailure> {
        self.republish_if_emptied().await?;
        let rows = match &self.store.shared {
            Some(shared) => Box::pin(shared.due_kept(T::KIND, until_ms)).await,
            None => None,
        };
        let Some(rows) = rows else {
            let Some(local) = &self.local else { return Ok(Vec::new()) };
            let mut due = local.due(system_time(until_ms)).await?;
            if T::QUEUED_WHILE_AWAY {
                // A queued change is kept due at the epoch to be found once Redis is back; its
                // work is due when the record says.
                due.retain(|(_, kept)| kept.due_ms().is_some_and(|at| at <= until_ms));
            }
            return Ok(due);
        };
        let mut due: Vec<(String, T)> =
            rows.into_iter().filter_map(|(key, payload)| Some((key.clone(), decode(&key, &payload)?))).collect();
        if T::QUEUED_WHILE_AWAY {
            self.share_queued(until_ms, &mut due).await?;
        }
        Ok(due)
    }

    /// Puts back, where Redis lacks them, the records kept here, once per time Redis was found
    /// to have lost its data.
    async fn republish_if_emptied(&self) -> Result<(), StoreFailure> {
        let (Some(shared), Some(local)) = (&self.store.shared, &self.local) else { return Ok(()) };
        let generation = shared.emptied_generation();
        if generation <= self.republished.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut records = Vec::new();
        for (key, mut kept) in local.all().await? {
            if kept.is_spent() {
                continue;
            }
            kept.set_queued(false);
            let payload = serde_json::to_string(&kept).map_err(|err| local.failure(err.to_string()))?;
            records.push((key, kept.due_ms(), payload));
        }
        if let Some(missing) = Box::pin(shared.republish_kept(T::KIND, &records)).await {
            self.republished.store(generation, Ordering::Release);
            if missing > 0 {
                tracing::info!(kind = T::KIND, records = missing, "records Redis had lost are put back");
            }
        }
        Ok(())
    }

    /// Shares what was changed here while Redis was unreachable (kept due at the epoch), and
    /// puts it in `due` in place of Redis's older copy when it is due by `until_ms`.
    async fn share_queued(&self, until_ms: i64, due: &mut Vec<(String, T)>) -> Result<(), StoreFailure> {
        let Some(local) = &self.local else { return Ok(()) };
        for (key, kept) in local.due(system_time(0)).await? {
            if !kept.is_queued() || !self.share(&key, &kept).await {
                continue;
            }
            tracing::info!(kind = T::KIND, %key, "changes kept while Redis was unreachable are shared now");
            due.retain(|(known, _)| *known != key);
            if kept.is_spent() {
                local.remove(&key).await?;
                continue;
            }
            let mut kept = kept;
            kept.set_queued(false);
            local.put(&key, kept.due_ms().map(system_time), &kept).await?;
            if kept.due_ms().is_some_and(|at| at <= until_ms) {
                due.push((key, kept));
            }
        }
        Ok(())
    }

    /// When the soonest record is due, if any (looked up to `until_ms`).
    pub async fn next_due(&self, until_ms: i64) -> Option<i64> {
        let due = self.due(until_ms).await.ok()?;
        due.iter().filter_map(|(_, kept)| kept.due_ms()).min()
    }

    /// Claims a piece of a record's work for `ttl`, so one replica does it.
    pub async fn claim(&self, key: &str, ttl: Duration) -> Claim {
        self.store.claims().claim(key, ttl).await
    }

    /// Marks a claimed piece of work done for `ttl`, so no replica does it again.
    pub async fn finish_claim(&self, key: &str, ttl: Duration) {
        self.store.claims().finish(key, ttl).await;
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::state::StateOptions;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        due_ms: Option<i64>,
        #[serde(default)]
        queued: bool,
    }

    impl Kept for Note {
        const KIND: &'static str = "test-note";
    }

    impl Shared for Note {
        const QUEUED_WHILE_AWAY: bool = true;

        fn due_ms(&self) -> Option<i64> {
            self.due_ms
        }

        fn is_queued(&self) -> bool {
            self.queued
        }

        fn set_queued(&mut self, queued: bool) {
            self.queued = queued;
        }

        fn is_spent(&self) -> bool {
            self.due_ms.is_none()
        }
    }

    #[tokio::test]
    async fn without_redis_records_are_kept_on_this_machine_and_forgotten_when_spent() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        let notes = store.shared_registry::<Note>().kept_locally().expect("a durable store");
        let note = Note { due_ms: Some(1_000), queued: false };
        notes.put("a", &note).await.expect("kept");
        notes.put("b", &Note { due_ms: Some(5_000), queued: false }).await.expect("kept");
        assert_eq!(notes.get("a").await.expect("read"), Some(note.clone()), "not queued: there is no Redis");
        assert_eq!(notes.due(2_000).await.expect("read"), [("a".to_owned(), note)]);
        assert_eq!(notes.next_due(10_000).await, Some(1_000));
        notes.put("a", &Note { due_ms: None, queued: false }).await.expect("forgotten");
        assert_eq!(notes.get("a").await.expect("read"), None);
        notes.remove("b").await.expect("removed");
        assert!(notes.due(10_000).await.expect("read").is_empty());
        assert_eq!(notes.claim("a", Duration::from_secs(1)).await, Claim::Mine, "no other replica to ask");
    }

    #[tokio::test]
    async fn a_store_in_memory_only_keeps_no_records() {
        let store = StateStore::memory(Duration::from_secs(60));
        assert!(store.shared_registry::<Note>().kept_locally().is_none());
        let notes = store.shared_registry::<Note>();
        notes.put("a", &Note { due_ms: Some(1), queued: false }).await.expect("nothing to keep it in");
        assert_eq!(notes.get("a").await.expect("read"), None);
        assert!(notes.due(10).await.expect("read").is_empty());
    }
}
