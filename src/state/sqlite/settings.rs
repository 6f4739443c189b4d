//! Settings in the store of record, by scope and name.

use rusqlite::{OptionalExtension, params};

use super::writer::Write;
use super::{SqliteStore, StoreFailure};

impl SqliteStore {
    /// Sets (or with `None` removes) a setting; returns once committed.
    pub async fn set_setting(&self, scope: &str, name: &str, value: Option<&str>) -> Result<(), StoreFailure> {
        let (scope, name, value) = (scope.to_owned(), name.to_owned(), value.map(str::to_owned));
        self.write(|reply| Write::Setting { scope, name, value, reply }).await
    }

    pub async fn setting(&self, scope: &str, name: &str) -> Result<Option<String>, StoreFailure> {
        let (scope, name) = (scope.to_owned(), name.to_owned());
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE scope = ?1 AND name = ?2")?
                .query_row(params![scope, name], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// Every setting: `(scope, name, value)`.
    pub async fn all_settings(&self) -> Result<Vec<(String, String, String)>, StoreFailure> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached("SELECT scope, name, value FROM settings ORDER BY scope, name")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect()
        })
        .await
    }
}
