//! A third-party app's suite tickets: the newest DingTalk pushed, kept in the state store (Redis
//! when configured, so a restart or another replica has it), and the configured seed, which is
//! only tried after it and never written over it.

use std::sync::{PoisonError, RwLock};

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use super::StateStore;
use crate::dingtalk::openapi::token::SuiteTicketSource;

/// The state-store scope and name of the newest pushed ticket.
pub const SUITE_TICKET_SCOPE: &str = "isv";
pub const SUITE_TICKET_NAME: &str = "suite_ticket";

/// The suite tickets of a third-party app.
pub struct SuiteTickets {
    store: StateStore,
    /// The newest ticket this process was told about, in case the store lost it (Redis down and
    /// the in-memory fallback evicted it).
    latest: RwLock<Option<SecretString>>,
    /// `DINGMEET_SUITE_TICKET`: the ticket to start with until DingTalk pushes one.
    seed: Option<SecretString>,
}

impl std::fmt::Debug for SuiteTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuiteTickets").field("store", &self.store).field("seed", &self.seed.is_some()).finish()
    }
}

impl SuiteTickets {
    pub fn new(store: StateStore, seed: Option<SecretString>) -> Self {
        let seed = seed.filter(|s| !s.expose_secret().trim().is_empty());
        Self { store, latest: RwLock::new(None), seed }
    }

    /// The tickets to try, best first, without repeats: the stored (pushed) one, this process's
    /// newest, then the seed.
    pub async fn candidates(&self) -> Vec<SecretString> {
        let stored = self.store.settings().get(SUITE_TICKET_SCOPE, SUITE_TICKET_NAME).await.map(SecretString::from);
        let latest = self.latest.read().unwrap_or_else(PoisonError::into_inner).clone();
        let mut out: Vec<SecretString> = Vec::with_capacity(3);
        for ticket in [stored, latest, self.seed.clone()].into_iter().flatten() {
            let text = ticket.expose_secret();
            if !text.is_empty() && !out.iter().any(|t| t.expose_secret() == text) {
                out.push(ticket);
            }
        }
        out
    }

    /// Keeps a pushed ticket: in the store for every replica and restart, and in this process.
    pub async fn remember(&self, ticket: &str) {
        let ticket = ticket.trim();
        if ticket.is_empty() {
            return;
        }
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(SecretString::from(ticket));
        self.store.settings().set(SUITE_TICKET_SCOPE, SUITE_TICKET_NAME, ticket).await;
        tracing::info!(backend = ?self.store.backend(), "suite ticket from DingTalk stored");
    }
}

impl SuiteTicketSource for SuiteTickets {
    fn candidates(&self) -> BoxFuture<'_, Vec<SecretString>> {
        Box::pin(SuiteTickets::candidates(self))
    }

    fn remember(&self, ticket: &str) -> BoxFuture<'_, ()> {
        let ticket = ticket.to_owned();
        Box::pin(async move { SuiteTickets::remember(self, &ticket).await })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn texts(tickets: &[SecretString]) -> Vec<&str> {
        tickets.iter().map(ExposeSecret::expose_secret).collect()
    }

    #[tokio::test]
    async fn a_pushed_ticket_comes_before_the_seed_and_the_seed_never_replaces_it() {
        let store = StateStore::memory(Duration::from_secs(60));
        let tickets = SuiteTickets::new(store.clone(), Some(SecretString::from("seeded")));
        assert_eq!(texts(&tickets.candidates().await), ["seeded"]);
        assert_eq!(store.settings().get(SUITE_TICKET_SCOPE, SUITE_TICKET_NAME).await, None, "a seed is not stored");

        tickets.remember("pushed-1").await;
        assert_eq!(texts(&tickets.candidates().await), ["pushed-1", "seeded"]);

        // A restart with the same store and the same seed: the pushed ticket still comes first.
        let restarted = SuiteTickets::new(store.clone(), Some(SecretString::from("seeded")));
        assert_eq!(texts(&restarted.candidates().await), ["pushed-1", "seeded"]);
        restarted.remember("pushed-2").await;
        assert_eq!(texts(&tickets.candidates().await), ["pushed-2", "pushed-1", "seeded"]);
    }

    #[tokio::test]
    async fn no_ticket_and_blank_ones_give_nothing_to_try() {
        let tickets = SuiteTickets::new(StateStore::memory(Duration::from_secs(60)), Some(SecretString::from("  ")));
        assert!(tickets.candidates().await.is_empty());
        tickets.remember(" ").await;
        assert!(tickets.candidates().await.is_empty());
    }

    #[tokio::test]
    async fn debug_output_shows_no_ticket() {
        let tickets =
            SuiteTickets::new(StateStore::memory(Duration::from_secs(60)), Some(SecretString::from("s3cr3t")));
        tickets.remember("pushed-s3cr3t").await;
        assert!(!format!("{tickets:?}").contains("s3cr3t"));
    }
}
