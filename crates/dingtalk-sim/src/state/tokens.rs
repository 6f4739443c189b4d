//! Access tokens handed out, whose each is and until when, and the suite ticket the classic
//! third-party route accepts now; and [`TokensView`], what endpoints and tests do with them.

use std::collections::HashMap;

use super::SimState;
use crate::ids;
use crate::records::TokenCall;

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

/// What a token check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    /// Never issued, expired by the simulator clock, or revoked.
    Invalid,
}

/// The tokens, seen through the shared state: what endpoints and tests do with them.
#[derive(Debug, Clone, Copy)]
pub struct TokensView<'a> {
    state: &'a SimState,
}

impl<'a> TokensView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// The suite ticket the classic `corpAccessToken` route accepts now.
    pub fn suite_ticket(&self) -> String {
        self.state.lock().tokens.suite_ticket().to_owned()
    }

    /// Makes `ticket` the only suite ticket the classic route accepts (the previous one is stale).
    pub fn set_suite_ticket(&self, ticket: &str) {
        self.state.lock().tokens.set_suite_ticket(ticket);
    }

    /// Issues a token for organisation `corp`, valid for the scenario's lifetime; returns it and
    /// `expireIn`.
    pub fn issue(&self, corp: &str) -> (String, u64) {
        let lifetime = self.state.scenario().app.token_lifetime_secs;
        let token = ids::hex(32);
        let lifetime_ms = i64::try_from(lifetime.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires_ms = self.state.clock().now_ms().saturating_add(lifetime_ms);
        self.state.update(|world| {
            world.tokens.insert(token.clone(), corp, expires_ms);
            world.journal.records.tokens_issued += 1;
        });
        (token, lifetime)
    }

    /// Records a token request and its answer.
    pub(crate) fn record_call(&self, mut call: TokenCall) {
        self.state.update(|world| {
            call.seq = world.journal.next_seq();
            world.journal.records.token_requests += 1;
            world.journal.records.token_calls.push(call);
        });
    }

    pub fn check(&self, token: &str) -> TokenCheck {
        if self.corp_of(token).is_some() { TokenCheck::Valid } else { TokenCheck::Invalid }
    }

    /// The organisation a valid token was issued to; `None` for a token never issued, expired by
    /// the simulator clock, or revoked.
    pub fn corp_of(&self, token: &str) -> Option<String> {
        let now = self.state.clock().now_ms();
        self.state.lock().tokens.corp_of(token, now)
    }

    /// Makes every issued token invalid: the next call with one answers `InvalidAuthentication`
    /// (`40014` on the old-style endpoints).
    pub fn revoke_all(&self) {
        self.state.lock().tokens.revoke_all();
    }

    /// Requests to any token endpoint, successful or not.
    pub fn requests(&self) -> usize {
        self.state.lock().journal.records.token_requests
    }

    /// Every token request so far, in order.
    pub fn calls(&self) -> Vec<TokenCall> {
        self.state.lock().journal.records.token_calls.clone()
    }

    /// Tokens handed out.
    pub fn issued_count(&self) -> usize {
        self.state.lock().journal.records.tokens_issued
    }

    /// The text of every token handed out and not revoked (to prove none reaches a log).
    pub fn issued_texts(&self) -> Vec<String> {
        self.state.lock().tokens.texts()
    }
}
