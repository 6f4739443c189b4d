//! The simulator's shared state: the scenario, the clock, and one lock over the world as it is
//! now, kept by concern in the submodules. Each concern has its data (under the lock, in
//! [`World`]) and a view ([`SimState::tokens`], [`SimState::meetings`], …) that holds what tests
//! and endpoints do with it; every change that records something wakes the waiters
//! ([`SimState::wait_until`], in `waits`).
//!
//! The state knows nothing of HTTP: the endpoints (`crate::endpoints`) read and change it through
//! the views, never the reverse.

pub mod calendars;
pub mod card_presses;
pub mod cards;
pub mod event_emit;
pub mod event_push;
pub mod gateway;
pub mod isv;
pub mod meeting_changes;
pub mod meeting_events;
pub mod meetings;
pub mod orgs;
pub mod sessions;
pub mod stream;
pub mod stream_push;
pub mod tokens;
pub mod users;
pub mod video_conferences;
mod waits;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::SimClock;
use crate::records::Records;
use crate::scenario::Scenario;

pub use waits::WaitTimeout;

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
    pub(crate) users: users::Users,
    pub(crate) tokens: tokens::Tokens,
    pub(crate) codes: meetings::Codes,
    pub(crate) sessions: sessions::Sessions,
    pub(crate) journal: Journal,
    pub(crate) gateway: gateway::Gateway,
    pub(crate) cards: cards::CardBehaviour,
    pub(crate) events: meeting_events::MeetingEvents,
    pub(crate) conferences: video_conferences::VideoConferences,
    pub(crate) calendars: calendars::Calendars,
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
            users: users::Users::new(&scenario),
            tokens: tokens::Tokens::new(&scenario.app.suite_ticket),
            codes: meetings::Codes::new(&scenario),
            sessions: sessions::Sessions::default(),
            journal: Journal::default(),
            gateway: gateway::Gateway::with_redelivery(scenario.stream.redelivery()),
            cards: cards::CardBehaviour::default(),
            events: meeting_events::MeetingEvents::new(&scenario.events),
            conferences: video_conferences::VideoConferences::default(),
            calendars: calendars::Calendars::new(&scenario, clock.now_ms()),
        };
        Self {
            conversation_corps: orgs::conversation_corps(&scenario),
            scenario,
            clock,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: crate::http_client::client(Duration::from_secs(30)),
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

    /// Access tokens: issuing, checking, revoking, and the token requests recorded.
    pub fn tokens(&self) -> tokens::TokensView<'_> {
        tokens::TokensView::new(self)
    }

    /// Organisations: who has installed the app and what they granted.
    pub fn orgs(&self) -> orgs::OrgsView<'_> {
        orgs::OrgsView::new(self)
    }

    /// The people of each organisation (the old-style `user/get` answers from them).
    pub fn users(&self) -> users::UsersView<'_> {
        users::UsersView::new(self)
    }

    /// What a third-party app is told over the Stream, with the change behind each message.
    pub fn isv(&self) -> isv::IsvView<'_> {
        isv::IsvView::new(self)
    }

    /// Meeting codes: how each answers, the lookups, and the organiser's changes to a meeting.
    pub fn meetings(&self) -> meetings::MeetingsView<'_> {
        meetings::MeetingsView::new(self)
    }

    /// Session webhooks and what was posted to them.
    pub fn sessions(&self) -> sessions::SessionsView<'_> {
        sessions::SessionsView::new(self)
    }

    /// The card platform: refusals, delivered cards, button presses.
    pub fn cards(&self) -> cards::CardsView<'_> {
        cards::CardsView::new(self)
    }

    /// The Stream gateway: pushes, connections and their misbehaviour, and what it recorded.
    pub fn stream(&self) -> stream::StreamView<'_> {
        stream::StreamView::new(self)
    }

    /// DingTalk's meeting events: where they go, the scenario's misbehaviour, join and leave.
    pub fn events(&self) -> meeting_events::EventsView<'_> {
        meeting_events::EventsView::new(self)
    }

    /// Video conferences created and closed through the API, and DingTalk's limits on them.
    pub fn conferences(&self) -> video_conferences::ConferencesView<'_> {
        video_conferences::ConferencesView::new(self)
    }

    /// People's primary calendars.
    pub fn calendars(&self) -> calendars::CalendarsView<'_> {
        calendars::CalendarsView::new(self)
    }

    /// Ticks after every recorded change (the event pusher waits on it).
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
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

    /// The bot's settings for talking to this simulator, as `DINGMEET_*` variables. The one
    /// address serves the old-style (`oapi.dingtalk.com`) endpoints too.
    pub fn bot_env(&self) -> Vec<(String, String)> {
        let host = reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        [
            ("DINGMEET_CLIENT_ID", self.client_id().to_owned()),
            ("DINGMEET_CLIENT_SECRET", self.client_secret().to_owned()),
            ("DINGMEET_API_BASE", self.base_url.clone()),
            ("DINGMEET_OAPI_BASE", self.base_url.clone()),
            ("DINGMEET_WEBHOOK_HOSTS", host),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}
