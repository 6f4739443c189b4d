//! The bot: admits a message (dedupe, journal), then in the background parses it, asks
//! DingTalk, renders the card, replies and marks it done. One path for HTTP callbacks, the
//! Stream, and journaled messages finished after a restart or taken over from another replica.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::access::Access;
use super::budget::Budget;
use super::clock;
use super::command::{self, Command, CommandKind};
use super::i18n::Lang;
use super::live::{CardAnswer, CardView, LiveCards, REFRESH_ACTION, render_view};
use super::render::{self, CodeResult};
use crate::dingtalk::api::ApiError;
use crate::dingtalk::card::CardPress;
use crate::dingtalk::conference::{ConferenceClient, Conferences};
use crate::dingtalk::message::{Body, ConversationKind, InboundMessage};
use crate::dingtalk::reply::{self, OutgoingMessage, Replier};
use crate::state::{Recorded, SendSlot, StateStore, Ticket};
use crate::telemetry::Metrics;

/// Whether a message is new work (recorded: acknowledge it), a redelivery, or could not be
/// recorded (do not acknowledge it: DingTalk sends it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Accepted(Ticket),
    Duplicate,
    NotRecorded,
}

/// Everything the bot needs to answer messages.
pub struct Bot {
    pub lang: Lang,
    pub timezone: Tz,
    pub conferences: ConferenceClient,
    pub replier: Replier,
    pub state: StateStore,
    pub metrics: Arc<Metrics>,
    pub access: Access,
    budget: Arc<Budget>,
    cards: Option<Arc<LiveCards>>,
    tasks: TaskTracker,
}

/// An answer, and what it was made from when it could be an interactive card.
pub struct Composed {
    pub message: OutgoingMessage,
    pub card: Option<CardAnswer>,
}

/// The state-store setting that holds a conversation's language.
const LANG_SETTING: &str = "lang";

impl Bot {
    pub fn new(
        lang: Lang,
        timezone: Tz,
        conferences: ConferenceClient,
        replier: Replier,
        state: StateStore,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            lang,
            timezone,
            conferences,
            replier,
            state,
            metrics,
            access: Access::default(),
            budget: Arc::new(Budget::new(u64::MAX, clock::system(), None, Arc::new(Metrics::new()))),
            cards: None,
            tasks: TaskTracker::new(),
        }
    }

    /// Counts OpenAPI calls against `budget` and paces background work by it (the clients'
    /// token provider must count into the same budget).
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// Answers meeting questions that can still change with interactive cards kept live.
    #[must_use]
    pub fn with_cards(mut self, cards: Arc<LiveCards>) -> Self {
        self.cards = Some(cards);
        self
    }

    pub fn cards(&self) -> Option<&Arc<LiveCards>> {
        self.cards.as_ref()
    }

    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// Restricts who is answered.
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// The conversation's language: its `/lang` choice, else the configured default.
    pub async fn language(&self, conversation_id: &str) -> Lang {
        let chosen = self.state.get_setting(conversation_id, LANG_SETTING).await;
        chosen.and_then(|code| code.parse().ok()).unwrap_or(self.lang)
    }

    /// Records the message in the journal (which is also the duplicate check: a redelivery
    /// within the dedupe window is a duplicate). Acknowledge only what is accepted.
    pub async fn admit(&self, message: &InboundMessage) -> Admission {
        let payload = || serde_json::to_string(message).unwrap_or_default();
        match self.state.record(&message.id, payload).await {
            Ok(Recorded::New(ticket)) => Admission::Accepted(ticket),
            Ok(Recorded::Duplicate) => Admission::Duplicate,
            Err(err) => {
                self.metrics.callback("not_recorded");
                tracing::error!(%err, "message not acknowledged: it could not be recorded (DingTalk sends it again)");
                Admission::NotRecorded
            }
        }
    }

    /// Answers `message` in the background, its log lines in a `message` span with its id;
    /// [`Bot::drain`] waits for every such task.
    pub fn spawn(self: &Arc<Self>, message: InboundMessage, ticket: Ticket) {
        let span = tracing::info_span!("message", msg_id = %message.id);
        self.spawn_in(message, ticket, span);
    }

    /// Answers `message` in the background, its log lines in `span` (which should name the
    /// message: an HTTP callback's span already does).
    pub fn spawn_in(self: &Arc<Self>, message: InboundMessage, ticket: Ticket, span: tracing::Span) {
        let bot = Arc::clone(self);
        self.tasks.spawn(
            async move {
                bot.process(&message, &ticket).await;
                bot.state.finish(&ticket).await;
            }
            .instrument(span),
        );
    }

    /// Finishes the messages this replica's journal holds undone (it was killed, or stopped
    /// before their replies went out), each once, alongside new ones.
    pub async fn resume(self: &Arc<Self>) {
        let unfinished = self.state.unfinished().await;
        if !unfinished.is_empty() {
            tracing::info!(messages = unfinished.len(), "finishing the messages accepted before the restart");
        }
        for (ticket, payload) in unfinished {
            self.resume_one(ticket, &payload).await;
        }
    }

    /// With Redis: until `stop`, takes over the journaled messages of replicas that stopped
    /// acknowledging them, and keeps this replica's own claims fresh.
    pub async fn take_over(self: Arc<Self>, stop: CancellationToken) {
        let Some(every) = self.state.take_over_every() else { return };
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let taken = self.state.take_over().await;
            if !taken.is_empty() {
                tracing::info!(messages = taken.len(), "taking over messages another replica accepted and left");
            }
            for (ticket, payload) in taken {
                self.resume_one(ticket, &payload).await;
            }
        }
    }

    async fn resume_one(self: &Arc<Self>, ticket: Ticket, payload: &str) {
        match serde_json::from_str::<InboundMessage>(payload) {
            Ok(mut message) => {
                // The allow-list may have changed since: an unlisted webhook is not posted to.
                if !self.replier.hosts().check(&mut message.reply_to) {
                    message.reply_to.session_webhook = None;
                }
                self.spawn(message, ticket);
            }
            Err(err) => {
                tracing::warn!(%err, "a journaled message that no longer reads is dropped");
                self.state.finish(&ticket).await;
            }
        }
    }

    /// Stops taking background work and waits for what is in flight, then for the store to
    /// commit what it was told.
    pub async fn drain(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.budget.persist().await;
        self.state.flush().await;
    }

    /// Parses, answers and replies; every failure ends in a log line, never a panic.
    pub async fn process(&self, message: &InboundMessage, ticket: &Ticket) {
        let _in_flight = self.metrics.in_flight();
        let conversation = &message.reply_to.conversation_id;
        match self.state.wait_for_send_slot(conversation).await {
            SendSlot::Granted { waited } if !waited.is_zero() => {
                tracing::info!(waited_ms = waited.as_millis(), "reply waited for a slot under the rate limit");
            }
            SendSlot::Granted { .. } => {}
            SendSlot::Refused { retry_after } => {
                self.metrics.refused("rate_limited");
                tracing::warn!(
                    %conversation,
                    retry_after_secs = retry_after.as_secs(),
                    "reply dropped: the conversation is at DINGMEET_RATE_LIMIT_PER_MINUTE (DingTalk throttles a \
                     robot for 10 minutes beyond 20 a minute)"
                );
                return;
            }
        }
        let Composed { message: answer, card } = self.compose(message).await;
        if !self.state.claim_reply(&message.id, ticket).await {
            tracing::info!("already answered by another replica; not sent again");
            return;
        }
        if let (Some(cards), Some(card)) = (&self.cards, card) {
            let at = match (&answer, message.reply_to.sender_staff_id.as_deref()) {
                (OutgoingMessage::Markdown { at_user_ids, .. }, Some(staff))
                    if at_user_ids.iter().any(|id| id == staff) =>
                {
                    BTreeMap::from([(staff.to_owned(), message.sender_nick.clone().unwrap_or_default())])
                }
                _ => BTreeMap::new(),
            };
            match cards.deliver(&message.reply_to, &answer, &card, &at).await {
                Ok(()) => {
                    let latency_us = u64::try_from(message.received.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tracing::info!(channel = "card", latency_us, "replied");
                    return;
                }
                Err(why) => tracing::debug!(?why, "answering in markdown"),
            }
        }
        match self.replier.send(&message.reply_to, &answer, reply::now_ms()).await {
            Ok(channel) => {
                let latency_us = u64::try_from(message.received.elapsed().as_micros()).unwrap_or(u64::MAX);
                tracing::info!(channel = channel.label(), latency_us, "replied");
            }
            Err(err) => tracing::warn!(%err, "could not deliver the reply"),
        }
    }

    /// A press of a live card's button (its callback body): Refresh shows fresh data on the
    /// card; anything else, a card the bot does not keep, or another organisation's, changes nothing.
    pub async fn card_pressed(&self, body: &[u8]) {
        let press = match CardPress::parse(body) {
            Ok(press) => press,
            Err(err) => {
                tracing::warn!(%err, "a card callback that does not read; ignored");
                return;
            }
        };
        let (Some(cards), Some(out_track_id)) = (&self.cards, press.out_track_id.as_deref()) else {
            tracing::info!("a card callback without a card this bot can refresh; ignored");
            return;
        };
        if !press.action_ids().iter().any(|id| id == REFRESH_ACTION) {
            tracing::info!(actions = ?press.action_ids(), "a card press that is not Refresh; nothing to do");
            return;
        }
        cards.pressed(press.corp_id.as_deref(), out_track_id).await;
    }

    /// Keeps a third-party app's newest suite ticket, pushed by DingTalk (in the state store, so
    /// replicas and restarts have it; the configured seed is only tried after it).
    pub async fn remember_suite_ticket(&self, ticket: &str) {
        if !self.conferences.tokens().remember_suite_ticket(ticket).await {
            tracing::info!("suite_ticket event ignored: DINGMEET_APP_TYPE is not third_party");
        }
    }

    /// An organisation removed the app (or changed what it granted): forget its token and its
    /// cached meetings, so neither is used again; the next message fetches afresh.
    pub async fn forget_organisation(&self, corp: &str) {
        self.conferences.tokens().invalidate(Some(corp)).await;
        self.conferences.forget(corp);
        tracing::info!(corp, "organisation's access token and cached meetings dropped");
    }

    /// The reply to `message`: a meeting card, help, or a friendly explanation.
    pub async fn answer(&self, message: &InboundMessage) -> OutgoingMessage {
        self.compose(message).await.message
    }

    /// The reply to `message`, with what a meeting answer was made from.
    pub async fn compose(&self, message: &InboundMessage) -> Composed {
        let lang = self.language(&message.reply_to.conversation_id).await;
        let mention = match message.reply_to.kind {
            ConversationKind::Group => render::mention_for(message.reply_to.sender_staff_id.as_deref()),
            ConversationKind::Single => None,
        };
        let view = |codes: &[command::RoomCode], skipped: usize, share: bool| CardView {
            codes: codes.iter().map(|code| code.as_str().to_owned()).collect(),
            skipped,
            share,
            mention: if share { None } else { mention.map(str::to_owned) },
            lang: lang.code().to_owned(),
        };
        let command = match (self.access.check(message), &message.body) {
            (Ok(()), Body::Text(text)) => command::parse(text).ok(),
            _ => None,
        };
        let corp = message.reply_to.corp_id.as_deref();
        let (view, results) = match command {
            Some(Command::Share(code)) => {
                self.metrics.command(CommandKind::Share.label());
                let result = self.lookup(corp, &code).await;
                (view(std::slice::from_ref(&code), 0, true), vec![(code, result)])
            }
            Some(Command::Meeting { codes, skipped }) => {
                self.metrics.command(CommandKind::Meeting.label());
                let lookups = codes.into_iter().map(|code| async move {
                    let result = self.lookup(corp, &code).await;
                    (code, result)
                });
                let results: Vec<CodeResult> = futures_util::future::join_all(lookups).await;
                let codes: Vec<_> = results.iter().map(|(code, _)| code.clone()).collect();
                (view(&codes, skipped, false), results)
            }
            _ => return self.composed_other(message).await,
        };
        let message = render_view(&view, self.timezone, &results);
        Composed { message, card: Some(CardAnswer { view, results }) }
    }

    async fn composed_other(&self, message: &InboundMessage) -> Composed {
        Composed { message: self.answer_other(message).await, card: None }
    }

    /// The reply to anything but a meeting question.
    async fn answer_other(&self, message: &InboundMessage) -> OutgoingMessage {
        let t = self.language(&message.reply_to.conversation_id).await.text();
        let mention = match message.reply_to.kind {
            ConversationKind::Group => render::mention_for(message.reply_to.sender_staff_id.as_deref()),
            ConversationKind::Single => None,
        };
        if let Err(refusal) = self.access.check(message) {
            tracing::info!(reason = refusal.label(), "message refused by an allow-list");
            self.metrics.refused(refusal.label());
            return render::notice_card(t, &[t.not_allowed.to_owned()], mention);
        }
        let text = match &message.body {
            Body::Text(text) => text,
            Body::Unsupported(kind) => {
                tracing::info!(msgtype = %kind, "message type not supported");
                self.metrics.command("unsupported");
                return render::notice_card(t, &[t.unsupported_message.to_owned()], mention);
            }
        };
        let command = match command::parse(text) {
            Ok(command) => command,
            Err(err) => {
                self.metrics.command("invalid");
                return render::parse_error_card(t, &err, mention);
            }
        };
        self.metrics.command(command.kind().label());
        match command {
            Command::Help => render::help_card(t, None, mention),
            Command::Meeting { codes, skipped } => {
                let corp = message.reply_to.corp_id.as_deref();
                let lookups = codes.into_iter().map(|code| async move {
                    let result = self.lookup(corp, &code).await;
                    (code, result)
                });
                let results: Vec<CodeResult> = futures_util::future::join_all(lookups).await;
                render::meeting_card(t, self.timezone, &results, skipped, mention)
            }
            Command::Share(code) => {
                let result = self.lookup(message.reply_to.corp_id.as_deref(), &code).await;
                render::share_card(t, self.timezone, &code, &result)
            }
            Command::Lang(None) => render::notice_card(t, &[t.lang_current.to_owned()], mention),
            Command::Lang(Some(lang)) => {
                self.state.set_setting(&message.reply_to.conversation_id, LANG_SETTING, lang.code()).await;
                let t = lang.text();
                render::notice_card(t, &[t.lang_switched.to_owned()], mention)
            }
        }
    }

    async fn lookup(&self, corp: Option<&str>, code: &command::RoomCode) -> Result<Arc<Conferences>, ApiError> {
        let result = self.conferences.infos(corp, code.as_str()).await;
        if let Err(err) = &result {
            tracing::warn!(code = %code, %err, kind = err.kind(), "meeting lookup failed");
        }
        result
    }
}
