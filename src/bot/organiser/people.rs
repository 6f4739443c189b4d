//! Who a staff id is for the newer APIs: its unionId (and name), asked of DingTalk once and kept
//! for good in the store (DingTalk says a unionId never changes), with the answers of this
//! process in memory in front of it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::dingtalk::meeting_api::{MeetingApi, Person};
use crate::dingtalk::openapi::ApiError;
use crate::state::{Kept, Shared, SharedRegistry, StateStore};

/// The most people remembered in memory (the store keeps them all).
const MAX_IN_MEMORY: usize = 10_000;

/// A person's unionId, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPerson {
    pub union_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl Kept for KnownPerson {
    const KIND: &'static str = "union_id";
}

impl Shared for KnownPerson {
    fn due_ms(&self) -> Option<i64> {
        None
    }
}

/// Staff ids → unionIds, by organisation.
pub struct People {
    api: MeetingApi,
    kept: SharedRegistry<KnownPerson>,
    memory: Mutex<HashMap<String, KnownPerson>>,
}

impl People {
    pub fn new(api: MeetingApi, state: &StateStore) -> Self {
        Self { api, kept: state.shared_registry(), memory: Mutex::new(HashMap::new()) }
    }

    /// The person behind `staff_id` in `corp`: from memory, the store, or DingTalk (then kept).
    pub async fn get(&self, corp: Option<&str>, staff_id: &str) -> Result<KnownPerson, ApiError> {
        let key = format!("{}/{staff_id}", corp.unwrap_or_default());
        if let Some(known) = self.memory.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(known.clone());
        }
        let known = match self.kept.get(&key).await {
            Ok(Some(known)) => known,
            other => {
                if let Err(err) = other {
                    tracing::warn!(%err, "a kept unionId could not be read; asking DingTalk");
                }
                let Person { union_id, name } = self.api.person(corp, staff_id).await?;
                let known = KnownPerson { union_id, name };
                if let Err(err) = self.kept.put(&key, &known).await {
                    tracing::warn!(%err, "a unionId could not be kept; it is asked again after a restart");
                }
                known
            }
        };
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if memory.len() >= MAX_IN_MEMORY {
            memory.clear();
        }
        memory.insert(key, known.clone());
        Ok(known)
    }
}
