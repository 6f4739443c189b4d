//! The meetings started from the chat, kept so `/meeting end` knows who may end which and a
//! redelivered `/meeting new` answers with the meeting it already started: each under the
//! message that started it, its code, and its organiser's last in the conversation.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::bot::room_code::RoomCode;
use crate::state::{Kept, Shared, SharedRegistry, StateStore};

/// A meeting started from the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedMeeting {
    pub corp: Option<String>,
    pub conversation_id: String,
    pub organiser_staff_id: String,
    pub organiser_union_id: String,
    pub organiser_name: String,
    pub conference_id: String,
    /// As DingTalk writes it (spaces kept).
    pub room_code: String,
    pub title: String,
    #[serde(default)]
    pub link: Option<String>,
    pub invited: usize,
    pub started_ms: i64,
}

impl Kept for StartedMeeting {
    const KIND: &'static str = "started_meeting";
}

impl Shared for StartedMeeting {
    fn due_ms(&self) -> Option<i64> {
        None
    }
}

/// The most records remembered in memory (the store keeps them all).
const MAX_IN_MEMORY: usize = 10_000;

/// The book of meetings started from the chat: in the store, and in memory for a bot without one
/// (no `DINGMEET_DATA_DIR`), which then remembers them until it stops.
pub struct StartedBook {
    kept: SharedRegistry<StartedMeeting>,
    memory: Mutex<HashMap<String, StartedMeeting>>,
}

fn by_message(msg_id: &str) -> String {
    format!("msg/{msg_id}")
}

fn by_code(corp: Option<&str>, code: &RoomCode) -> String {
    format!("code/{}/{code}", corp.unwrap_or_default())
}

fn by_organiser(conversation: &str, staff_id: &str) -> String {
    format!("last/{conversation}/{staff_id}")
}

impl StartedBook {
    pub fn new(state: &StateStore) -> Self {
        Self { kept: state.shared_registry(), memory: Mutex::new(HashMap::new()) }
    }

    async fn read(&self, key: &str) -> Option<StartedMeeting> {
        match self.kept.get(key).await {
            Ok(Some(meeting)) => return Some(meeting),
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, key, "a started meeting could not be read from the store"),
        }
        self.memory.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    /// The meeting message `msg_id` started, if it did.
    pub async fn of_message(&self, msg_id: &str) -> Option<StartedMeeting> {
        self.read(&by_message(msg_id)).await
    }

    /// The meeting behind `code` started from the chat in `corp`, if any.
    pub async fn of_code(&self, corp: Option<&str>, code: &RoomCode) -> Option<StartedMeeting> {
        self.read(&by_code(corp, code)).await
    }

    /// The last meeting `staff_id` started in `conversation`.
    pub async fn last_of(&self, conversation: &str, staff_id: &str) -> Option<StartedMeeting> {
        self.read(&by_organiser(conversation, staff_id)).await
    }

    /// Keeps `meeting`, started by message `msg_id`.
    pub async fn keep(&self, msg_id: &str, meeting: &StartedMeeting) {
        let mut keys = vec![by_message(msg_id), by_organiser(&meeting.conversation_id, &meeting.organiser_staff_id)];
        if let Ok(code) = RoomCode::parse(&meeting.room_code) {
            keys.push(by_code(meeting.corp.as_deref(), &code));
        }
        for key in keys {
            if let Err(err) = self.kept.put(&key, meeting).await {
                tracing::warn!(%err, key, "a started meeting could not be kept in the store");
            }
            let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
            if memory.len() >= MAX_IN_MEMORY {
                memory.clear();
            }
            memory.insert(key, meeting.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_bot_without_a_store_remembers_what_it_started_until_it_stops() {
        let book = StartedBook::new(&StateStore::memory(Duration::from_secs(60)));
        let meeting = StartedMeeting {
            corp: Some("corp".into()),
            conversation_id: "cid".into(),
            organiser_staff_id: "u1".into(),
            organiser_union_id: "union1".into(),
            organiser_name: "张三".into(),
            conference_id: "c1".into(),
            room_code: "123 456 789".into(),
            title: "周会".into(),
            link: None,
            invited: 0,
            started_ms: 0,
        };
        book.keep("msg1", &meeting).await;
        assert_eq!(book.of_message("msg1").await.as_ref(), Some(&meeting));
        assert_eq!(book.last_of("cid", "u1").await.as_ref(), Some(&meeting));
        let code = RoomCode::parse("123456789").expect("a code");
        assert_eq!(book.of_code(Some("corp"), &code).await.as_ref(), Some(&meeting));
        assert_eq!(book.of_code(Some("other"), &code).await, None, "another organisation's code");
        assert_eq!(book.last_of("cid", "u2").await, None);
    }
}
