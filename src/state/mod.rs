//! Shared state: duplicate detection (and later rate limits and per-conversation settings).
//! In memory by default; one place to swap in a store shared by several replicas.

use std::time::Duration;

/// The bot's state store.
#[derive(Clone)]
pub struct StateStore {
    seen: moka::future::Cache<String, ()>,
    settings: moka::future::Cache<String, String>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateStore(memory)")
    }
}

impl StateStore {
    /// An in-process store; keys are forgotten after `dedupe_ttl`.
    pub fn memory(dedupe_ttl: Duration) -> Self {
        Self {
            seen: moka::future::Cache::builder().max_capacity(1_000_000).time_to_live(dedupe_ttl).build(),
            settings: moka::future::Cache::builder().max_capacity(100_000).build(),
        }
    }

    /// A per-conversation setting (e.g. its language), if one was set.
    pub async fn get_setting(&self, scope: &str, name: &str) -> Option<String> {
        self.settings.get(&setting_key(scope, name)).await
    }

    /// Remembers a per-conversation setting.
    pub async fn set_setting(&self, scope: &str, name: &str, value: &str) {
        self.settings.insert(setting_key(scope, name), value.to_owned()).await;
    }

    /// Records `key` and returns true if it was not seen within the TTL (atomic: of any number
    /// of concurrent callers with one key, exactly one gets true).
    pub async fn first_seen(&self, key: &str) -> bool {
        self.seen.entry_by_ref(key).or_insert(()).await.is_fresh()
    }
}

/// Where the newest suite ticket of a third-party app is kept (shared by replicas with Redis).
pub const SUITE_TICKET_SCOPE: &str = "isv";
pub const SUITE_TICKET_NAME: &str = "suite_ticket";

impl crate::dingtalk::token::SuiteTicketSource for StateStore {
    fn current(&self) -> futures_util::future::BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.get_setting(SUITE_TICKET_SCOPE, SUITE_TICKET_NAME).await })
    }
}

fn setting_key(scope: &str, name: &str) -> String {
    format!("setting:{scope}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_fresh_exactly_once_even_under_a_race() {
        let store = StateStore::memory(Duration::from_secs(60));
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.first_seen("msg-1").await })
            })
            .collect();
        let mut fresh = 0;
        for handle in handles {
            fresh += usize::from(handle.await.expect("task"));
        }
        assert_eq!(fresh, 1);
        assert!(store.first_seen("msg-2").await);
    }

    #[tokio::test]
    async fn settings_are_kept_per_scope() {
        let store = StateStore::memory(Duration::from_secs(60));
        assert_eq!(store.get_setting("cid1", "lang").await, None);
        store.set_setting("cid1", "lang", "en").await;
        assert_eq!(store.get_setting("cid1", "lang").await.as_deref(), Some("en"));
        assert_eq!(store.get_setting("cid2", "lang").await, None);
    }
}
