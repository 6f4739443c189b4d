//! The bot: [`Bot::receive`] is the one way in for a message from either transport (it checks
//! where the reply would go, records it in the journal, which is also the dedupe, and counts);
//! then, in the background, it parses the message, asks DingTalk, renders the card, replies and
//! marks it done. Journaled messages left unfinished by a crash, or by a stopped replica on
//! Redis, take the same path ([`Bot::resume`], [`Bot::take_over`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::access::Access;
use super::budget::Budget;
use super::card_memo::CardMemo;
use super::command::{self, Command};
use super::live::{CardAnswer, CardView, LiveCards};
use super::remind::Reminders;
use super::render::{self, CodeResult};
use crate::dingtalk::api::ApiError;
use crate::dingtalk::conference::{ConferenceClient, Conferences};
use crate::dingtalk::message::{Body, ConversationKind, InboundMessage, Message};
use crate::dingtalk::reply::{self, OutgoingMessage, Replier};
use crate::dingtalk::token::TokenProvider;
use crate::dingtalk::webhook::{HostNotAllowed, WebhookHosts};
use crate::lang::Lang;
use crate::state::{Recorded, SendSlot, StateStore, Ticket};
use crate::telemetry::{Metrics, Outcome};

/// What became of a message handed to [`Bot::receive`]: the transport acknowledges it unless
/// it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    /// New work, being answered in the background.
    Accepted,
    /// A redelivery, not processed again.
    Duplicate,
    /// Its session webhook points at a host off the allow-list: nothing is done with it.
    Refused(HostNotAllowed),
    /// It could not be recorded in the journal (the store failed): not acknowledged, so
    /// DingTalk sends it again.
    NotRecorded,
}

impl Admission {
    /// Whether the transport should acknowledge the delivery.
    pub fn acknowledged(&self) -> bool {
        !matches!(self, Self::Refused(_) | Self::NotRecorded)
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Accepted => Outcome::Accepted,
            Self::Duplicate => Outcome::Duplicate,
            Self::Refused(_) => Outcome::WebhookHostNotAllowed,
            Self::NotRecorded => Outcome::NotRecorded,
        }
    }
}

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
    cards: CardMemo,
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
}

/// An answer, and what it was made from when it could be an interactive card.
pub struct Composed {
    pub message: OutgoingMessage,
    pub card: Option<CardAnswer>,
}

/// The state-store setting that holds a conversation's language.
const LANG_SETTING: &str = "lang";

impl Bot {
    pub fn new(parts: BotParts) -> Self {
        let BotParts { lang, timezone, conferences, hosts, replier, state, metrics, access, reminders, budget, live } =
            parts;
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
            cards: CardMemo::default(),
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

    /// The monthly OpenAPI budget every call is counted against.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// The conference lookups, with their cache.
    pub fn conferences(&self) -> &ConferenceClient {
        &self.conferences
    }

    /// The one way in, for a message from either transport: checks where its reply would go,
    /// dedupes it by `msgId`, counts it, and answers it in the background. Its log lines go in
    /// the current span, which the transport opened to name the message.
    pub async fn receive(self: &Arc<Self>, message: InboundMessage) -> Admission {
        match self.admit(message).await {
            Ok((message, ticket)) => {
                self.spawn(message, ticket, tracing::Span::current());
                Admission::Accepted
            }
            Err(admission) => admission,
        }
    }

    /// [`Bot::receive`] without the answering: the message checked, new and recorded (the
    /// transport acknowledges it only now), or why not (counted either way).
    pub async fn admit(&self, message: InboundMessage) -> Result<(Message, Ticket), Admission> {
        let admitted = match message.check_webhook(&self.hosts) {
            Err(refused) => {
                tracing::warn!(
                    host = %refused.host,
                    "message refused: its sessionWebhook host is not on DINGMEET_WEBHOOK_HOSTS"
                );
                Err(Admission::Refused(refused))
            }
            Ok(message) => {
                let payload = || serde_json::to_string(&message).unwrap_or_default();
                match self.state.record(&message.id, payload).await {
                    Ok(Recorded::New(ticket)) => Ok((message, ticket)),
                    Ok(Recorded::Duplicate) => {
                        tracing::info!("duplicate delivery acknowledged, not processed again");
                        Err(Admission::Duplicate)
                    }
                    Err(err) => {
                        tracing::error!(
                            %err,
                            "message not acknowledged: it could not be recorded (DingTalk sends it again)"
                        );
                        Err(Admission::NotRecorded)
                    }
                }
            }
        };
        self.metrics.callback(admitted.as_ref().map_or_else(Admission::outcome, |_| Outcome::Accepted));
        admitted
    }

    /// Answers `message` in the background, its lines in `span`, then marks it done;
    /// [`Bot::drain`] waits for every such task.
    fn spawn(self: &Arc<Self>, message: Message, ticket: Ticket, span: tracing::Span) {
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
        let message = match serde_json::from_str::<InboundMessage>(payload) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(%err, "a journaled message that no longer reads is dropped");
                self.state.finish(&ticket).await;
                return;
            }
        };
        let span = tracing::info_span!("message", msg_id = %message.id);
        // The allow-list may have changed since: an unlisted webhook is not posted to.
        match message.check_webhook(&self.hosts) {
            Ok(message) => self.spawn(message, ticket, span),
            Err(refused) => {
                span.in_scope(
                    || tracing::warn!(host = %refused.host, "a journaled message's webhook host is no longer allowed"),
                );
                self.state.finish(&ticket).await;
            }
        }
    }

    /// Whether a transport's own delivery id (a Stream frame's) is seen for the first time; a
    /// redelivery is counted as a duplicate.
    pub async fn first_delivery(&self, delivery_id: &str) -> bool {
        if self.state.first_seen(&format!("frame:{delivery_id}")).await {
            return true;
        }
        self.metrics.callback(Outcome::Duplicate);
        tracing::info!(frame_id = %delivery_id, "redelivered frame acknowledged, not processed again");
        false
    }

    /// The conversation's language: its `/lang` choice, else the configured default.
    pub async fn language(&self, conversation_id: &str) -> Lang {
        let chosen = self.state.get_setting(conversation_id, LANG_SETTING).await;
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

    /// Parses, answers and replies; every failure ends in a log line, never a panic.
    async fn process(&self, message: &Message, ticket: &Ticket) {
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
        if let (Some(live), Some(card)) = (&self.live, card) {
            let at = match (&answer, message.reply_to.sender_staff_id.as_deref()) {
                (OutgoingMessage::Markdown { at_user_ids, .. }, Some(staff))
                    if at_user_ids.iter().any(|id| id == staff) =>
                {
                    BTreeMap::from([(staff.to_owned(), message.sender_nick.clone().unwrap_or_default())])
                }
                _ => BTreeMap::new(),
            };
            match live.deliver(&message.reply_to, &answer, &card, &at).await {
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

    /// The reply to `message`: a meeting card, help, or a friendly explanation.
    pub async fn answer(&self, message: &Message) -> OutgoingMessage {
        self.compose(message).await.message
    }

    /// The reply to `message`, with what a meeting answer was made from (so it can go out as a
    /// live card).
    pub async fn compose(&self, message: &Message) -> Composed {
        let lang = self.language(&message.reply_to.conversation_id).await;
        let t = lang.text();
        let mention = match message.reply_to.kind {
            ConversationKind::Group => render::mention_for(message.reply_to.sender_staff_id.as_deref()),
            ConversationKind::Single => None,
        };
        let plain = |message| Composed { message, card: None };
        if let Err(refusal) = self.access.check(message) {
            tracing::info!(reason = refusal.label(), "message refused by an allow-list");
            self.metrics.refused(refusal.label());
            return plain(render::notice_card(t, &[t.not_allowed.to_owned()], mention));
        }
        let text = match &message.body {
            Body::Text(text) => text,
            Body::Unsupported(kind) => {
                tracing::info!(msgtype = %kind, "message type not supported");
                self.metrics.command("unsupported");
                return plain(render::notice_card(t, &[t.unsupported_message.to_owned()], mention));
            }
        };
        let command = match command::parse(text) {
            Ok(command) => command,
            Err(err) => {
                self.metrics.command("invalid");
                return plain(render::parse_error_card(t, &err, mention));
            }
        };
        self.metrics.command(command.kind().label());
        let corp = message.reply_to.corp_id.as_deref();
        let view = |codes: &[command::RoomCode], skipped: usize, share: bool| CardView {
            codes: codes.iter().map(|code| code.as_str().to_owned()).collect(),
            skipped,
            share,
            mention: if share { None } else { mention.map(str::to_owned) },
            lang: lang.code().to_owned(),
        };
        match command {
            Command::Help => plain(render::help_card(t, None, mention)),
            Command::Meeting { codes, skipped } => {
                let lookups = codes.into_iter().map(|code| async move {
                    let result = self.lookup(corp, &code).await;
                    (code, result)
                });
                let results: Vec<CodeResult> = futures_util::future::join_all(lookups).await;
                let message = self.cards.meeting_card(t, self.timezone, &results, skipped, mention);
                let codes: Vec<_> = results.iter().map(|(code, _)| code.clone()).collect();
                Composed { message, card: Some(CardAnswer { view: view(&codes, skipped, false), results }) }
            }
            Command::Share(code) => {
                let result = self.lookup(corp, &code).await;
                let message = render::share_card(t, self.timezone, &code, &result);
                let view = view(std::slice::from_ref(&code), 0, true);
                Composed { message, card: Some(CardAnswer { view, results: vec![(code, result)] }) }
            }
            Command::Remind(request) => plain(match &self.reminders {
                Some(reminders) => reminders.answer(message, request, lang, mention).await,
                None => render::notice_card(t, &[t.misconfigured.to_owned()], mention),
            }),
            Command::Lang(None) => plain(render::notice_card(t, &[t.lang_current.to_owned()], mention)),
            Command::Lang(Some(lang)) => {
                self.state.set_setting(&message.reply_to.conversation_id, LANG_SETTING, lang.code()).await;
                let t = lang.text();
                plain(render::notice_card(t, &[t.lang_switched.to_owned()], mention))
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
