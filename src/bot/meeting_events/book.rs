//! Where the conferences' records are kept: the store's shared registry (Redis for every
//! replica, and this machine's store of record), or, for a store in memory only, this process's
//! memory, so duplicates and order still hold while it runs.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::record::ConferenceRecord;
use crate::state::{SharedRegistry, StateStore, StoreFailure};

pub(super) enum Book {
    Kept(SharedRegistry<ConferenceRecord>),
    Memory(Mutex<HashMap<String, ConferenceRecord>>),
}

impl Book {
    pub(super) fn new(state: &StateStore) -> Self {
        if state.durable().is_some() || state.shares() {
            Self::Kept(state.shared_registry())
        } else {
            Self::Memory(Mutex::new(HashMap::new()))
        }
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<ConferenceRecord>, StoreFailure> {
        match self {
            Self::Kept(registry) => registry.get(key).await,
            Self::Memory(map) => Ok(map.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()),
        }
    }

    pub(super) async fn put(&self, key: &str, record: &ConferenceRecord) -> Result<(), StoreFailure> {
        match self {
            Self::Kept(registry) => registry.put(key, record).await,
            Self::Memory(map) => {
                map.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), record.clone());
                Ok(())
            }
        }
    }

    pub(super) async fn remove(&self, key: &str) -> Result<(), StoreFailure> {
        match self {
            Self::Kept(registry) => registry.remove(key).await,
            Self::Memory(map) => {
                map.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
                Ok(())
            }
        }
    }

    /// The records due by `now`, soonest first.
    pub(super) async fn due(&self, now: i64) -> Result<Vec<(String, ConferenceRecord)>, StoreFailure> {
        match self {
            Self::Kept(registry) => registry.due(now).await,
            Self::Memory(map) => {
                let map = map.lock().unwrap_or_else(PoisonError::into_inner);
                let mut due: Vec<(String, ConferenceRecord)> =
                    map.iter().filter(|(_, r)| r.due_ms <= now).map(|(k, r)| (k.clone(), r.clone())).collect();
                due.sort_by_key(|(_, record)| record.due_ms);
                Ok(due)
            }
        }
    }
}
