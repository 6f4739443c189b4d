//! Access tokens handed out, whose each is and until when, and the suite ticket the classic
//! third-party route accepts now.

use std::collections::HashMap;

/// A token handed out: whose it is and until when.
#[derive(Debug, Clone)]
struct IssuedToken {
    corp_id: String,
    /// Simulator ms.
    expires_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: HashMap<String, IssuedToken>,
    suite_ticket: String,
}

impl Tokens {
    pub(crate) fn new(suite_ticket: &str) -> Self {
        Self { issued: HashMap::new(), suite_ticket: suite_ticket.to_owned() }
    }

    pub(crate) fn insert(&mut self, token: String, corp: &str, expires_ms: i64) {
        self.issued.insert(token, IssuedToken { corp_id: corp.to_owned(), expires_ms });
    }

    /// The organisation `token` was issued to, if it is still valid at `now_ms`.
    pub(crate) fn corp_of(&self, token: &str, now_ms: i64) -> Option<String> {
        self.issued.get(token).filter(|issued| now_ms < issued.expires_ms).map(|issued| issued.corp_id.clone())
    }

    pub(crate) fn revoke_all(&mut self) {
        self.issued.clear();
    }

    /// Every token issued to `corp` stops working.
    pub(crate) fn revoke_corp(&mut self, corp: &str) {
        self.issued.retain(|_, issued| issued.corp_id != corp);
    }

    pub(crate) fn texts(&self) -> Vec<String> {
        self.issued.keys().cloned().collect()
    }

    pub(crate) fn suite_ticket(&self) -> &str {
        &self.suite_ticket
    }

    pub(crate) fn set_suite_ticket(&mut self, ticket: &str) {
        ticket.clone_into(&mut self.suite_ticket);
    }
}
