//! Per-conversation settings (a conversation's `/lang`; store-wide ones under a scope of their
//! own, such as the suite ticket): in Redis while it answers, for every replica; in SQLite, the
//! store of record on this machine; mirrored in memory, which answers every message's lookup.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::StateStore;
use super::memory::MAX_CONVERSATIONS;
use super::redis::CLEARED;

/// Whether every durable setting is also in memory, so a miss there is a miss: true until more
/// settings exist than the memory side keeps.
pub(super) struct SettingsMirror {
    complete: AtomicBool,
    written: AtomicUsize,
}

impl SettingsMirror {
    pub(super) fn new() -> Self {
        Self { complete: AtomicBool::new(true), written: AtomicUsize::new(0) }
    }

    /// `count` settings were loaded from the store of record at start.
    pub(super) fn loaded(&self, count: usize) {
        self.written.store(count, Ordering::Relaxed);
        self.complete.store(count < MAX_CONVERSATIONS / 2, Ordering::Relaxed);
    }

    fn wrote_one(&self) {
        let written = self.written.fetch_add(1, Ordering::Relaxed) + 1;
        if written >= MAX_CONVERSATIONS / 2 {
            self.complete.store(false, Ordering::Relaxed);
        }
    }

    fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }
}

/// The settings view of the store.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub(super) store: &'a StateStore,
}

impl Settings<'_> {
    /// A conversation's setting (for example its language), if set.
    pub async fn get(self, conversation: &str, key: &str) -> Option<String> {
        let store = self.store;
        // Redis's answer when it has one (a cleared setting is one); none at all may be a Redis
        // that lost its data, so this machine's answers.
        if let Some(shared) = &store.shared
            && let Some(Some(value)) = Box::pin(shared.setting(conversation, key)).await
        {
            let value = Some(value).filter(|value| value != CLEARED);
            store.local.set_setting(conversation, key, value.as_deref()).await;
            return value;
        }
        let value = store.local.setting(conversation, key).await;
        if value.is_some() || store.settings_mirror.is_complete() {
            return value;
        }
        let durable = store.durable.as_ref()?;
        match Box::pin(durable.setting(conversation, key)).await {
            Ok(value) => {
                store.local.set_setting(conversation, key, value.as_deref()).await;
                value
            }
            Err(err) => {
                tracing::error!(%err, "a setting could not be read: using the default");
                None
            }
        }
    }

    /// Sets a conversation's setting. While Redis is unreachable the value is kept in this
    /// replica only.
    pub async fn set(self, conversation: &str, key: &str, value: &str) {
        self.store_value(conversation, key, Some(value)).await;
    }

    /// Removes a conversation's setting.
    pub async fn clear(self, conversation: &str, key: &str) {
        self.store_value(conversation, key, None).await;
    }

    async fn store_value(self, conversation: &str, key: &str, value: Option<&str>) {
        let store = self.store;
        store.local.set_setting(conversation, key, value).await;
        if let Some(durable) = &store.durable {
            store.settings_mirror.wrote_one();
            if let Err(err) = Box::pin(durable.set_setting(conversation, key, value)).await {
                tracing::error!(%err, "a setting could not be stored: it holds until this process stops");
            }
        }
        if let Some(shared) = &store.shared {
            Box::pin(shared.set_setting(conversation, key, value)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn settings_are_kept_per_scope() {
        let store = StateStore::memory(Duration::from_secs(60));
        let settings = store.settings();
        assert_eq!(settings.get("cid1", "lang").await, None);
        settings.set("cid1", "lang", "en").await;
        assert_eq!(settings.get("cid1", "lang").await.as_deref(), Some("en"));
        assert_eq!(settings.get("cid2", "lang").await, None);
    }
}
