//! Session webhooks handed out with robot messages, and each conversation's recent posts for
//! DingTalk's per-minute limit.

use std::collections::{HashMap, VecDeque};

/// A session webhook the simulator handed out with a robot message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `session` query value: 32 lower-case hex digits.
    pub id: String,
    pub conversation_id: String,
    /// `"1"` 1:1, `"2"` group.
    pub conversation_type: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    sessions: HashMap<String, Session>,
    /// Accepted posts per conversation (simulator ms), for the per-minute limit.
    recent_posts: HashMap<String, VecDeque<i64>>,
}

impl Sessions {
    pub(crate) fn insert(&mut self, session: Session) {
        self.sessions.insert(session.id.clone(), session);
    }

    /// The session, if it exists and has not expired at `now_ms`.
    pub(crate) fn live(&self, session_id: &str, now_ms: i64) -> Option<&Session> {
        self.sessions.get(session_id).filter(|s| now_ms < s.expires_ms)
    }

    /// Ends every session at `now_ms`.
    pub(crate) fn expire_all(&mut self, now_ms: i64) {
        for session in self.sessions.values_mut() {
            session.expires_ms = session.expires_ms.min(now_ms);
        }
    }

    /// Takes one of the conversation's `limit` posts for the minute before `now_ms`, if any is
    /// left.
    pub(crate) fn take_post_slot(&mut self, conversation_id: &str, now_ms: i64, limit: usize) -> bool {
        let recent = self.recent_posts.entry(conversation_id.to_owned()).or_default();
        while recent.front().is_some_and(|at| now_ms.saturating_sub(*at) >= 60_000) {
            recent.pop_front();
        }
        if recent.len() >= limit {
            return false;
        }
        recent.push_back(now_ms);
        true
    }
}
