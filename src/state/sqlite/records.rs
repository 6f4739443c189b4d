//! The registries' records in the store of record: the `jobs` table, by kind and key, with an
//! optional due time.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::writer::Write;
use super::{SqliteStore, StoreFailure};
use crate::clock::epoch_ms as wall_ms;

impl SqliteStore {
    pub async fn put_job(
        &self,
        kind: &'static str,
        key: &str,
        due: Option<SystemTime>,
        payload: String,
    ) -> Result<(), StoreFailure> {
        let (key, due_ms) = (key.to_owned(), due.map(wall_ms));
        self.write(|reply| Write::PutJob { kind, key, due_ms, payload, reply }).await
    }

    pub async fn remove_job(&self, kind: &'static str, key: &str) -> Result<bool, StoreFailure> {
        let key = key.to_owned();
        self.write(|reply| Write::RemoveJob { kind, key, reply }).await
    }

    pub async fn job(&self, kind: &'static str, key: &str) -> Result<Option<String>, StoreFailure> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT payload FROM jobs WHERE kind = ?1 AND key = ?2")?
                .query_row(params![kind, key], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// Every job of `kind`, due or not: `(key, payload)`.
    pub async fn jobs(&self, kind: &'static str) -> Result<Vec<(String, String)>, StoreFailure> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached("SELECT key, payload FROM jobs WHERE kind = ?1 ORDER BY key")?;
            let rows = statement.query_map(params![kind], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// The jobs of `kind` due at or before `until`, soonest first: `(key, payload)`.
    pub async fn due_jobs(&self, kind: &'static str, until: SystemTime) -> Result<Vec<(String, String)>, StoreFailure> {
        let until = wall_ms(until);
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT key, payload FROM jobs WHERE kind = ?1 AND due_ms IS NOT NULL AND due_ms <= ?2 ORDER BY due_ms",
            )?;
            let rows = statement.query_map(params![kind, until], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::sqlite::tests::open;

    #[tokio::test]
    async fn jobs_are_kept_by_kind_and_key_and_found_when_due() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _) = open(dir.path());
        let now = SystemTime::now();
        store.put_job("reminder", "a", Some(now - Duration::from_secs(5)), "A".to_owned()).await.expect("put");
        store.put_job("reminder", "b", Some(now + Duration::from_secs(60)), "B".to_owned()).await.expect("put");
        store.put_job("card", "a", None, "card".to_owned()).await.expect("put");
        assert_eq!(store.due_jobs("reminder", now).await.expect("read"), [("a".to_owned(), "A".to_owned())]);
        assert_eq!(store.job("card", "a").await.expect("read").as_deref(), Some("card"));
        assert_eq!(store.jobs("card").await.expect("read"), [("a".to_owned(), "card".to_owned())], "due or not");
        assert!(store.remove_job("reminder", "a").await.expect("removed"));
        assert!(!store.remove_job("reminder", "a").await.expect("removed"));
        assert!(store.due_jobs("reminder", now).await.expect("read").is_empty());
    }
}
