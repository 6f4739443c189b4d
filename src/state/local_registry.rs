//! Typed records kept on this machine (live cards, reminders, the budget's ledgers): each kind a
//! Rust type, stored as JSON in the store of record's `jobs` table by kind and key, optionally
//! with a due time. The local side of a [`super::SharedRegistry`].

use std::marker::PhantomData;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{SqliteStore, StoreFailure};

/// A kind of kept record: its name in the store (stable: renaming it forgets what was kept).
pub trait Kept: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

/// The records of one kind kept on this machine.
pub struct LocalRegistry<T> {
    store: SqliteStore,
    kind: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for LocalRegistry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LocalRegistry").field(&self.store).finish()
    }
}

impl<T: Kept> LocalRegistry<T> {
    pub(super) fn new(store: SqliteStore) -> Self {
        Self { store, kind: PhantomData }
    }

    /// Keeps `value` under `key` (replacing what was there), due at `due` if it is scheduled.
    pub async fn put(&self, key: &str, due: Option<SystemTime>, value: &T) -> Result<(), StoreFailure> {
        let payload = serde_json::to_string(value).map_err(|err| self.store.failure(err.to_string()))?;
        self.store.put_job(T::KIND, key, due, payload).await
    }

    pub async fn get(&self, key: &str) -> Result<Option<T>, StoreFailure> {
        match self.store.job(T::KIND, key).await? {
            Some(payload) => self.decode(&payload).map(Some),
            None => Ok(None),
        }
    }

    /// Forgets `key`; true if it was kept.
    pub async fn remove(&self, key: &str) -> Result<bool, StoreFailure> {
        self.store.remove_job(T::KIND, key).await
    }

    /// The records due at or before `until`, soonest first. One that no longer decodes (written
    /// by another version) is skipped with a log line rather than failing the rest.
    pub async fn due(&self, until: SystemTime) -> Result<Vec<(String, T)>, StoreFailure> {
        let rows = self.store.due_jobs(T::KIND, until).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, payload)| match self.decode(&payload) {
                Ok(value) => Some((key, value)),
                Err(err) => {
                    tracing::warn!(kind = T::KIND, %key, %err, "a kept record is skipped");
                    None
                }
            })
            .collect())
    }

    /// Every record of this kind, due or not (one that no longer decodes is skipped).
    pub async fn all(&self) -> Result<Vec<(String, T)>, StoreFailure> {
        let rows = self.store.jobs(T::KIND).await?;
        Ok(rows.into_iter().filter_map(|(key, payload)| Some((key, self.decode(&payload).ok()?))).collect())
    }

    pub(super) fn failure(&self, problem: String) -> StoreFailure {
        self.store.failure(problem)
    }

    fn decode(&self, payload: &str) -> Result<T, StoreFailure> {
        serde_json::from_str(payload).map_err(|err| self.store.failure(format!("a {} record: {err}", T::KIND)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;
    use crate::state::{StateOptions, StateStore};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Reminder {
        conversation: String,
        code: String,
    }

    impl Kept for Reminder {
        const KIND: &'static str = "test-reminder";
    }

    #[tokio::test]
    async fn typed_records_round_trip_and_come_due() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        let reminders = store.local_registry::<Reminder>().expect("a durable store");
        let due = SystemTime::now() - Duration::from_secs(1);
        let value = Reminder { conversation: "cid".to_owned(), code: "123456789".to_owned() };
        reminders.put("cid/123456789", Some(due), &value).await.expect("kept");
        assert_eq!(reminders.get("cid/123456789").await.expect("read"), Some(value));
        assert_eq!(reminders.due(SystemTime::now()).await.expect("read").len(), 1);
        assert!(reminders.remove("cid/123456789").await.expect("removed"));
        assert!(StateStore::memory(Duration::from_secs(1)).local_registry::<Reminder>().is_none());
    }
}
