//! The bot: [`Bot::receive`] is the one way in for a message from either transport (it checks
//! where the reply would go, records it in the journal, which is also the dedupe, and counts);
//! then, in the background, it parses the message, asks DingTalk, renders the card, replies and
//! marks it done. Journaled messages left unfinished by a crash, or by a stopped replica on
//! Redis, take the same path ([`Bot::resume`], [`Bot::take_over`]). The other ways in: a press
//! of a live card's button (`card_press`) and a third-party app's lifecycle events, such as
//! suite tickets and installs (`app_events`).

mod answer;
mod app_events;
mod card_press;
mod intake;

use std::sync::Arc;

use chrono_tz::Tz;
use tokio_util::task::TaskTracker;

pub use self::intake::Admission;
use super::access::Access;
use super::budget::Budget;
pub use super::commands::Composed;
use super::commands::LANG_SETTING;
use super::live::LiveCards;
use super::meeting_card_memo::MeetingCardMemo;
use super::meeting_events::MeetingEvents;
use super::organiser::Organiser;
use super::remind::Reminders;
use crate::clock::SharedClock;
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::openapi::token::TokenProvider;
use crate::dingtalk::reply::Replier;
use crate::dingtalk::webhook::WebhookHosts;
use crate::lang::Lang;
use crate::state::StateStore;
use crate::telemetry::Metrics;

/// Everything the bot needs to answer messages.
pub struct Bot {
    lang: Lang,
    timezone: Tz,
    conferences: ConferenceClient,
    hosts: WebhookHosts,
    replier: Replier,
    state: StateStore,
    metrics: Arc<Metrics>,
    access: Access,
    reminders: Option<Arc<Reminders>>,
    budget: Arc<Budget>,
    live: Option<Arc<LiveCards>>,
    events: Arc<MeetingEvents>,
    clock: SharedClock,
    organiser: Organiser,
    cards: MeetingCardMemo,
    tasks: TaskTracker,
}

/// The parts a bot is made of (see `app::build`).
pub struct BotParts {
    pub lang: Lang,
    pub timezone: Tz,
    pub conferences: ConferenceClient,
    pub hosts: WebhookHosts,
    pub replier: Replier,
    pub state: StateStore,
    pub metrics: Arc<Metrics>,
    pub access: Access,
    pub reminders: Option<Arc<Reminders>>,
    /// Counts OpenAPI calls (the clients' token provider counts into the same budget) and
    /// paces background work by it.
    pub budget: Arc<Budget>,
    /// Answers meeting questions that can still change with interactive cards kept live.
    pub live: Option<Arc<LiveCards>>,
    /// DingTalk's meeting events, which keep the live cards up to date.
    pub events: Arc<MeetingEvents>,
    /// What a reply's session webhook expiry is compared against (the simulator's clock in
    /// tests and the sandbox, as for the background work).
    pub clock: SharedClock,
    /// Acts in DingTalk for the person asking (`/meeting new`, `/meeting end`, `/today`).
    pub organiser: Organiser,
}

impl Bot {
    pub fn new(parts: BotParts) -> Self {
        let BotParts {
            lang,
            timezone,
            conferences,
            hosts,
            replier,
            state,
            metrics,
            access,
            reminders,
            budget,
            live,
            events,
            clock,
            organiser,
        } = parts;
        Self {
            lang,
            timezone,
            conferences,
            hosts,
            replier,
            state,
            metrics,
            access,
            reminders,
            budget,
            live,
            events,
            clock,
            organiser,
            cards: MeetingCardMemo::default(),
            tasks: TaskTracker::new(),
        }
    }

    /// The metrics every part of the bot reports to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The access tokens the bot calls DingTalk with.
    pub fn tokens(&self) -> &TokenProvider {
        self.conferences.tokens()
    }

    /// Keeps and sends `/remind` reminders (without them, `/remind` says it cannot).
    #[must_use]
    pub fn with_reminders(mut self, reminders: Arc<Reminders>) -> Self {
        self.reminders = Some(reminders);
        self
    }

    /// The `/remind` reminders, when the bot keeps them.
    pub fn reminders(&self) -> Option<&Arc<Reminders>> {
        self.reminders.as_ref()
    }

    /// The live cards, when answers may be interactive cards.
    pub fn live_cards(&self) -> Option<&Arc<LiveCards>> {
        self.live.as_ref()
    }

    /// DingTalk's meeting events, from either transport.
    pub fn meeting_events(&self) -> &Arc<MeetingEvents> {
        &self.events
    }

    /// The monthly OpenAPI budget every call is counted against.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// The conference lookups, with their cache.
    pub fn conferences(&self) -> &ConferenceClient {
        &self.conferences
    }

    /// The conversation's language: its `/lang` choice, else the configured default.
    pub async fn language(&self, conversation_id: &str) -> Lang {
        let chosen = self.state.settings().get(conversation_id, LANG_SETTING).await;
        chosen.and_then(|code| code.parse().ok()).unwrap_or(self.lang)
    }

    /// Stops taking background work and waits for what is in flight, then for the store to
    /// commit what it was told.
    pub async fn drain(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.budget.persist().await;
        self.state.flush().await;
    }
}
