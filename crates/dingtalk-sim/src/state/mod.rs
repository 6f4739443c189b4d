//! The simulator's shared state: the scenario, the clock, and one lock over the world as it is
//! now, kept by concern in the submodules (organisations, tokens, meeting codes, sessions, the
//! journal of what was recorded, the Stream gateway). Every change that records something wakes
//! the waiters ([`SimState::wait_until`]).
//!
//! What tests and endpoints do with each concern lives with that concern, in `impl SimState`
//! blocks at the crate's top level (`tokens.rs`, `meetings.rs`, `sessions.rs`, `orgs.rs`,
//! `gateway/`); this module depends on none of them.

pub(crate) mod gateway;
pub(crate) mod meetings;
pub(crate) mod orgs;
pub(crate) mod sessions;
pub(crate) mod tokens;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::SimClock;
use crate::records::stream::StreamRecords;
use crate::records::{OpenApiSend, Records, WebhookPost};
use crate::scenario::Scenario;

/// Everything recorded, and the one sequence every record (and every Stream frame) is numbered
/// from, so a test can tell an ack came before a reply.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub(crate) records: Records,
    pub(crate) seq: u64,
}

impl Journal {
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// The world as it is now, under the one lock.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) orgs: orgs::Orgs,
    pub(crate) tokens: tokens::Tokens,
    pub(crate) codes: meetings::Codes,
    pub(crate) sessions: sessions::Sessions,
    pub(crate) journal: Journal,
    pub(crate) gateway: gateway::Gateway,
    pub(crate) cards: crate::cards::CardBehaviour,
}

/// A wait that ran out of time; says what had been recorded.
#[derive(Debug, thiserror::Error)]
#[error("nothing matched within {timeout:?}; recorded so far: {seen}")]
pub struct WaitTimeout {
    pub timeout: Duration,
    pub seen: String,
}

/// The simulator's state, shared by every endpoint.
#[derive(Debug)]
pub struct SimState {
    scenario: Scenario,
    /// Which organisation each scenario conversation belongs to.
    conversation_corps: HashMap<String, String>,
    clock: SimClock,
    base_url: String,
    http: reqwest::Client,
    world: Mutex<World>,
    changes: watch::Sender<u64>,
}

impl SimState {
    /// State for `scenario`, reading `clock`, reachable at `base_url` (`http://127.0.0.1:port`).
    pub fn new(scenario: Scenario, clock: SimClock, base_url: &str) -> Self {
        let world = World {
            orgs: orgs::Orgs::new(&scenario),
            tokens: tokens::Tokens::new(&scenario.app.suite_ticket),
            codes: meetings::Codes::new(&scenario),
            sessions: sessions::Sessions::default(),
            journal: Journal::default(),
            gateway: gateway::Gateway::with_redelivery(scenario.stream.redelivery()),
            cards: crate::cards::CardBehaviour::default(),
        };
        Self {
            conversation_corps: orgs::conversation_corps(&scenario),
            scenario,
            clock,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: crate::http::client(Duration::from_secs(30)),
            world: Mutex::new(world),
            changes: watch::channel(0).0,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        // Nothing panics while holding the lock; if something did, the data is still usable.
        self.world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the world under the lock, then wakes every waiter.
    pub(crate) fn update<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let out = f(&mut self.lock());
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        out
    }

    /// Runs `f` on the gateway's state and its records under the one lock, so what it records is
    /// numbered from the shared sequence; then wakes every waiter.
    pub(crate) fn with_gateway<T>(
        &self,
        f: impl FnOnce(&mut gateway::Gateway, &mut StreamRecords, &mut u64) -> T,
    ) -> T {
        self.update(|world| {
            let World { gateway, journal, .. } = world;
            f(gateway, &mut journal.records.stream, &mut journal.seq)
        })
    }

    /// Reads the gateway's state and records under the lock, waking no one.
    pub(crate) fn read_gateway<T>(&self, f: impl FnOnce(&gateway::Gateway, &StreamRecords) -> T) -> T {
        let world = self.lock();
        f(&world.gateway, &world.journal.records.stream)
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// `http://127.0.0.1:port`: the api.dingtalk.com and oapi.dingtalk.com stand-in.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The HTTP client the callback sender posts with.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The app's AppKey (Client ID).
    pub fn client_id(&self) -> &str {
        &self.scenario.app.client_id
    }

    /// The app's AppSecret: it signs callbacks and gets tokens.
    pub fn client_secret(&self) -> &str {
        &self.scenario.app.client_secret
    }

    /// The app's own organisation (`app.corp_id`): its messages are the default ones, its
    /// meetings the top-level `[[codes]]`, and an internal app's token is its.
    pub fn home_corp(&self) -> &str {
        &self.scenario.app.corp_id
    }

    /// The organisation a scenario conversation belongs to.
    pub fn conversation_corp(&self, conversation_id: &str) -> Option<&str> {
        self.conversation_corps.get(conversation_id).map(String::as_str)
    }

    /// The bot's settings for talking to this simulator, as `DINGMEET_*` variables.
    pub fn bot_env(&self) -> Vec<(String, String)> {
        let host = reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        [
            ("DINGMEET_CLIENT_ID", self.client_id().to_owned()),
            ("DINGMEET_CLIENT_SECRET", self.client_secret().to_owned()),
            ("DINGMEET_API_BASE", self.base_url.clone()),
            ("DINGMEET_WEBHOOK_HOSTS", host),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A copy of everything recorded.
    pub fn records(&self) -> Records {
        self.lock().journal.records.clone()
    }

    /// Counts over the records ([`Records::tally`]), without copying them.
    pub fn tally(&self, mention_prefix: Option<&str>) -> crate::records::Tally {
        self.lock().journal.records.tally(mention_prefix)
    }

    /// Waits until `check` finds something in the records, or `timeout` passes. `check` runs
    /// at once and again after every change, so nothing is missed and nothing sleeps.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Records) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            if let Some(found) = check(&self.lock().journal.records) {
                return Ok(found);
            }
            // The sender lives as long as `self`, so `changed` fails only after a deadline.
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let records = self.records();
                let seen = format!(
                    "{} webhook posts ({} delivered), {} OpenAPI sends ({} accepted), {}",
                    records.webhook_posts.len(),
                    records.delivered_posts().len(),
                    records.openapi_sends.len(),
                    records.accepted_sends().len(),
                    records.stream.summary()
                );
                return Err(WaitTimeout { timeout, seen });
            }
        }
    }

    /// Waits for at least `count` delivered webhook posts; returns every delivered post.
    pub async fn wait_for_webhook_posts(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<WebhookPost>, WaitTimeout> {
        self.wait_until(timeout, |records| {
            let delivered: Vec<WebhookPost> = records.delivered_posts().into_iter().cloned().collect();
            (delivered.len() >= count).then_some(delivered)
        })
        .await
    }

    /// Waits for at least `count` accepted OpenAPI sends; returns every accepted send.
    pub async fn wait_for_openapi_sends(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<OpenApiSend>, WaitTimeout> {
        self.wait_until(timeout, |records| {
            let accepted: Vec<OpenApiSend> = records.accepted_sends().into_iter().cloned().collect();
            (accepted.len() >= count).then_some(accepted)
        })
        .await
    }

    /// Waits until `code` has been asked about at least `count` times.
    pub async fn wait_for_conference_calls(
        &self,
        code: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        self.wait_until(timeout, |records| (records.conference_calls(code) >= count).then_some(())).await
    }
}
