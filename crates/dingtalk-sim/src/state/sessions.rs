//! Session webhooks handed out with robot messages, and each conversation's recent posts for
//! DingTalk's per-minute limit; and [`SessionsView`], how the sender, the webhook endpoint and
//! tests use them.

use std::collections::{HashMap, VecDeque};

use super::SimState;
use crate::ids;
use crate::records::WebhookPost;

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
    /// Until when (simulator ms) every post fails on the way, and how.
    failing: Option<(i64, PostFailure)>,
}

/// How the session webhook fails while told to (a test's or the playground's outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostFailure {
    /// It answers this HTTP status with an HTML error page, not DingTalk's JSON.
    Status(u16),
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

/// The session webhooks, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct SessionsView<'a> {
    state: &'a SimState,
}

impl<'a> SessionsView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Opens a session for a conversation; it expires at `expires_ms` (simulator time).
    pub fn open(&self, conversation_id: &str, conversation_type: &str, expires_ms: i64) -> Session {
        let session = Session {
            id: ids::hex(32),
            conversation_id: conversation_id.to_owned(),
            conversation_type: conversation_type.to_owned(),
            created_ms: self.state.clock().now_ms(),
            expires_ms,
        };
        self.state.lock().sessions.insert(session.clone());
        session
    }

    /// The session webhook URL for a session id.
    pub fn url(&self, session_id: &str) -> String {
        format!("{}/robot/sendBySession?session={session_id}", self.state.base_url())
    }

    /// The session, if it exists and has not expired by the simulator clock.
    pub fn live(&self, session_id: &str) -> Option<Session> {
        let now = self.state.clock().now_ms();
        self.state.lock().sessions.live(session_id, now).cloned()
    }

    /// Ends every session now: the next post to any answers `300001`.
    pub fn expire_all(&self) {
        let now = self.state.clock().now_ms();
        self.state.lock().sessions.expire_all(now);
    }

    /// Takes one of the conversation's posts for the current minute, if any is left.
    pub(crate) fn take_post_slot(&self, conversation_id: &str) -> bool {
        let now = self.state.clock().now_ms();
        let limit = self.state.scenario().sessions.posts_per_minute;
        self.state.lock().sessions.take_post_slot(conversation_id, now, limit)
    }

    pub(crate) fn record_post(&self, mut post: WebhookPost) {
        self.state.update(|world| {
            post.seq = world.journal.next_seq();
            world.journal.records.webhook_posts.push(post);
        });
    }

    /// Every post fails as `failure` says until `until_ms` (simulator time): the post is recorded
    /// (with `errcode` -1) and not delivered.
    pub fn fail_posts_until(&self, until_ms: i64, failure: PostFailure) {
        self.state.lock().sessions.failing = Some((until_ms, failure));
    }

    /// How posts fail now, if they do.
    pub(crate) fn failing_now(&self) -> Option<PostFailure> {
        let now = self.state.clock().now_ms();
        let failing = self.state.lock().sessions.failing;
        failing.filter(|(until, _)| now < *until).map(|(_, failure)| failure)
    }

    /// Every session-webhook post so far, answered or refused.
    pub fn webhook_posts(&self) -> Vec<WebhookPost> {
        self.state.lock().journal.records.webhook_posts.clone()
    }
}
