//! Live meeting cards: an answer that can still change (a meeting in progress, or starting
//! within the card's life) is delivered as an interactive card, kept in the store with what it
//! shows, and updated in place when that changes: from the meeting events of its conferences
//! (`events.rs`, found through `index.rs`), and, for an organisation that sends no events, by
//! looking again shortly after each known start, every refresh interval while a meeting is in
//! progress, and once more when it ends (`fallback.rs`: what is left of the polling once events
//! come). Everything else, and every refusal of the card API, stays today's markdown reply.

mod events;
mod fallback;
mod index;
mod lookup;
mod press;
mod record;
mod shown;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

pub use self::fallback::{SAFETY_LOOK_AFTER, note_events_from, org_sends_events};
pub use self::index::{ConferenceCards, index_key};
pub use self::record::LiveCard;
pub use self::shown::{ConferenceNews, Phase, Shown, changeable_conferences};
pub use self::view::{AFTER_CHANGE, CardAnswer, CardView, REFRESH_ACTION, card_params, next_look, render_view};
use self::view::{digest, ms};
use super::budget::{Budget, MAX_STRETCH, Pace};
use super::record_lock::RecordLocks;
use crate::clock::SharedClock;
use crate::dingtalk::card::{Callback, CardClient, CardError, NewCard, Space};
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::message::{ConversationKind, ReplyTarget};
use crate::dingtalk::openapi::call_purpose::{self, Purpose};
use crate::dingtalk::reply::OutgoingMessage;
use crate::lang::Lang;
use crate::state::{Claim, Kept, SharedRegistry, StateStore};
use crate::telemetry::Metrics;

/// A Refresh press within this long of the last lookup shows that lookup instead of another.
pub const FRESH_ENOUGH: Duration = Duration::from_secs(10);
/// How long an organisation's refusal of the card API is remembered (no card is tried meanwhile).
pub const REFUSAL_MEMORY: Duration = Duration::from_secs(3600);
/// How often the scheduler looks for due cards.
const TICK: Duration = Duration::from_millis(500);
/// How many ticks between two passes forgetting the index entries of cards past their life.
const PRUNE_EVERY_TICKS: u32 = 600;
/// How long a replica holds a card's look before another may take it (one that died mid-look
/// lets it go then); once done the look is not taken again.
const LOOK_LEASE: Duration = Duration::from_secs(60);
/// How interactive answers are made.
#[derive(Debug, Clone)]
pub struct CardOptions {
    pub template_id: String,
    pub refresh: Duration,
    /// The least time between two updates of a card for people joining or leaving.
    pub member_update: Duration,
    pub live: Duration,
    /// How Refresh presses come back; `None`: the cards have no Refresh button.
    pub callback: Option<Callback>,
}

/// Why an answer went as markdown rather than a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markdown {
    /// Nothing on it can change.
    Final,
    /// The card API refused this organisation a short while ago.
    Refused,
    /// The month's OpenAPI budget is nearly spent.
    Budget,
    /// No way to address the chat (a 1:1 chat without the sender's staff id).
    NoSpace,
    /// The card call failed just now.
    Failed,
}

/// Interactive cards: delivery, the book of live ones and their updates.
pub struct LiveCards {
    client: CardClient,
    conferences: ConferenceClient,
    options: CardOptions,
    /// The live cards, seen by every replica (which claim each look).
    book: SharedRegistry<LiveCard>,
    /// Which cards show each conference, for its events.
    index: SharedRegistry<ConferenceCards>,
    index_locks: RecordLocks,
    /// One writer at a time for a card an event and a look may both change.
    card_locks: RecordLocks,
    state: StateStore,
    budget: Arc<Budget>,
    clock: SharedClock,
    timezone: Tz,
    metrics: Arc<Metrics>,
    /// Organisation → until when its refusal is remembered.
    refusals: Mutex<HashMap<String, i64>>,
}

impl LiveCards {
    #[expect(clippy::too_many_arguments, reason = "the wiring of one component, called once in app.rs")]
    pub fn new(
        client: CardClient,
        conferences: ConferenceClient,
        options: CardOptions,
        state: &StateStore,
        budget: Arc<Budget>,
        clock: SharedClock,
        timezone: Tz,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            conferences,
            options,
            book: state.shared_registry(),
            index: state.shared_registry(),
            index_locks: RecordLocks::new(state, ConferenceCards::KIND),
            card_locks: RecordLocks::new(state, LiveCard::KIND),
            state: state.clone(),
            budget,
            clock,
            timezone,
            metrics,
            refusals: Mutex::new(HashMap::new()),
        }
    }

    fn org(corp: Option<&str>) -> &str {
        corp.unwrap_or_default()
    }

    fn refused(&self, org: &str, now: i64) -> bool {
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        match refusals.get(org) {
            Some(until) if *until > now => true,
            Some(_) => {
                refusals.remove(org);
                false
            }
            None => false,
        }
    }

    fn remember_refusal(&self, org: &str, now: i64, err: &CardError) {
        let newly = {
            let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
            refusals.insert(org.to_owned(), now.saturating_add(ms(REFUSAL_MEMORY))).is_none()
        };
        if newly {
            tracing::warn!(
                corp = org,
                %err,
                retry_in_secs = REFUSAL_MEMORY.as_secs(),
                "DingTalk refused an interactive card: grant the app the Card.Instance.Write permission and check \
                 that DINGMEET_CARD_TEMPLATE_ID is published; answering in markdown meanwhile"
            );
        }
    }

    /// Keeps `card` for its next look (at its `due_ms`), for every replica.
    async fn keep(&self, out_track_id: &str, card: &LiveCard) {
        if let Err(err) = self.book.put(out_track_id, card).await {
            tracing::warn!(%err, out_track_id, "a live card could not be kept; it stays as it is now");
        }
    }

    async fn forget(&self, out_track_id: &str) {
        if let Err(err) = self.book.remove(out_track_id).await {
            tracing::warn!(%err, out_track_id, "a finished live card could not be forgotten");
        }
    }

    /// Delivers `answer` as an interactive card when it can still change and the card API and
    /// the budget allow; otherwise says why it must go as markdown (at once, by the caller).
    pub async fn deliver(
        &self,
        target: &ReplyTarget,
        message: &OutgoingMessage,
        answer: &CardAnswer,
        at: &BTreeMap<String, String>,
    ) -> Result<(), Markdown> {
        let now = self.clock.now_ms();
        let until = now.saturating_add(ms(self.options.live));
        let corp = target.corp_id.as_deref();
        let org = Self::org(corp);
        let Some(due) = next_look(&answer.results, now, self.options.refresh, until) else {
            return Err(Markdown::Final);
        };
        let events = org_sends_events(&self.state, org).await;
        // With events a card costs its creation and an update per start and end ahead of it.
        let (due, changes) = if events {
            self.budget.note_events(org);
            (
                fallback::next_look_with_events(&answer.results, now, until),
                fallback::changes_ahead(&answer.results, now, until),
            )
        } else {
            (due, Vec::new())
        };
        if self.refused(org, now) {
            self.metrics.card("create", "refused_before");
            return Err(Markdown::Refused);
        }
        let affordable =
            if events { self.budget.may_create_event_card(org, &changes) } else { self.budget.may_create_card(org) };
        if !affordable {
            self.metrics.card("create", "budget");
            return Err(Markdown::Budget);
        }
        let space = match (target.kind, target.sender_staff_id.as_deref()) {
            (ConversationKind::Group, _) => Space::Group(target.conversation_id.clone()),
            (ConversationKind::Single, Some(staff_id)) => Space::Robot(staff_id.to_owned()),
            (ConversationKind::Single, None) => return Err(Markdown::NoSpace),
        };
        let t = answer.view.lang.parse::<Lang>().unwrap_or_default().text();
        let params = card_params(t, message, &answer.results, self.options.callback.is_some());
        let out_track_id = format!("dingmeet-{now:x}-{:016x}", fastrand::u64(..));
        let robot_code = target.robot_code.clone().unwrap_or_else(|| self.conferences.tokens().client_id().to_owned());
        let at = if matches!(space, Space::Group(_)) { at.clone() } else { BTreeMap::new() };
        let card = NewCard {
            template_id: &self.options.template_id,
            out_track_id: &out_track_id,
            params: &params,
            space: &space,
            robot_code: &robot_code,
            at: &at,
            callback: self.options.callback.as_ref(),
        };
        // Kept before it is created: DingTalk shows the card before its API answers, and a
        // press in between must find it.
        let kept = LiveCard {
            corp: corp.map(str::to_owned),
            space: space.clone(),
            view: answer.view.clone(),
            until_ms: until,
            sent: digest(&params),
            looked_up_ms: now,
            due_ms: due,
            unshared: false,
            shown: shown::keep(&answer.results),
            count_sent_ms: 0,
        };
        self.keep(&out_track_id, &kept).await;
        let conferences = changeable_conferences(&answer.results);
        self.index_card(corp, &conferences, &out_track_id, until).await;
        let created = self.client.create_and_deliver(corp, &card).await;
        if let Err(err) = created {
            self.forget(&out_track_id).await;
            self.metrics.card("create", err.kind());
            if matches!(err, CardError::Refused(_)) {
                self.remember_refusal(org, now, &err);
                return Err(Markdown::Refused);
            }
            tracing::warn!(%err, "the interactive card was not delivered; answering in markdown");
            return Err(Markdown::Failed);
        }
        if events {
            self.budget.promise(org, &changes);
        }
        self.metrics.card("create", "ok");
        tracing::info!(out_track_id, "answered with a live card");
        Ok(())
    }
    /// Refreshes every live card that is due; returns how many were looked at. With replicas on
    /// Redis each look is claimed, so one replica makes it.
    pub async fn refresh_due(&self) -> usize {
        let now = self.clock.now_ms();
        let due = match self.book.due(now).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(%err, "live cards could not be read; trying again shortly");
                return 0;
            }
        };
        let mut looked = 0;
        for (out_track_id, card) in due {
            let claim = format!("{}:{out_track_id}:{}", LiveCard::KIND, card.due_ms);
            if self.book.claim(&claim, LOOK_LEASE).await != Claim::Mine {
                continue;
            }
            call_purpose::with_purpose(Purpose::Refresh, self.refresh(&out_track_id, card, now, false)).await;
            self.book.finish_claim(&claim, LOOK_LEASE).await;
            looked += 1;
        }
        looked
    }

    /// Looks `card` up again, updates it if what it shows changed, and keeps it for its next
    /// look (or forgets it when nothing on it can change any more).
    async fn refresh(&self, out_track_id: &str, mut card: LiveCard, now: i64, pressed: bool) {
        let org = Self::org(card.corp.as_deref()).to_owned();
        let sent_before = card.sent.clone();
        let pace = if pressed { Pace::Full } else { self.budget.pace(&org) };
        let refresh = match pace.stretch(self.options.refresh) {
            Some(refresh) => refresh,
            // The day's share is spent: starts and ends still show, periodic looks wait longest.
            None if !self.budget.window_spent(&org) => self.options.refresh.mul_f64(MAX_STRETCH),
            None => {
                // Paused for the month: looked at again once the window may have rolled on.
                card.due_ms = now.saturating_add(ms(self.options.refresh));
                self.keep(out_track_id, &card).await;
                return;
            }
        };
        if pressed && now.saturating_sub(card.looked_up_ms) < ms(FRESH_ENOUGH) {
            // The card shows a lookup under FRESH_ENOUGH old: that is the fresh data.
            self.metrics.card("press", "fresh_enough");
            return;
        }
        let events = org_sends_events(&self.state, &org).await;
        if events && !pressed && !card.shown.is_empty() && self.follow_events(out_track_id, &mut card, now).await {
            return;
        }
        let mut results = self.look_up(card.corp.as_deref(), &card.view, pressed).await;
        card.looked_up_ms = now;
        if pace == Pace::Full {
            // Counts are the first thing dropped as the budget runs low: starts and ends matter more.
            self.count_people(card.corp.as_deref(), &mut results).await;
        }
        let message = render_view(&card.view, self.timezone, &results);
        let t = card.view.lang.parse::<Lang>().unwrap_or_default().text();
        let params = card_params(t, &message, &results, self.options.callback.is_some());
        let sent = digest(&params);
        if sent != card.sent {
            match self.client.update(card.corp.as_deref(), out_track_id, &params).await {
                Ok(()) => {
                    self.metrics.card("update", "ok");
                    tracing::info!(out_track_id, "live card updated");
                    card.sent = sent;
                }
                Err(err) => {
                    self.metrics.card("update", err.kind());
                    tracing::warn!(out_track_id, %err, "a live card could not be updated; trying again at its next look");
                }
            }
        } else {
            self.metrics.card("update", "unchanged");
        }
        let before = changeable_conferences(&shown::results(&card.shown));
        card.shown = shown::keep(&results);
        let added: Vec<String> =
            changeable_conferences(&results).into_iter().filter(|id| !before.contains(id)).collect();
        self.index_card(card.corp.as_deref(), &added, out_track_id, card.until_ms).await;
        match next_look(&results, now, refresh, card.until_ms) {
            Some(due) if now < card.until_ms => {
                let due = if events { fallback::next_look_with_events(&results, now, card.until_ms) } else { due };
                card.due_ms = due.max(now + 1);
                self.keep_after_look(out_track_id, card, &sent_before).await;
            }
            _ => {
                tracing::info!(out_track_id, "live card final: nothing on it can change any more");
                self.forget(out_track_id).await;
            }
        }
    }

    /// HTTP mode with a public URL: registers `{public_url}/dingtalk/card-callback` as where
    /// presses of this bot's cards are called back (a failure is logged; cards still update on
    /// schedule).
    pub async fn register_callback(&self, public_url: &str, path: &str) {
        let Some(Callback::Http { route_key }) = &self.options.callback else { return };
        let url = format!("{}{path}", public_url.trim_end_matches('/'));
        match self.client.register_callback(None, route_key, &url, None).await {
            Ok(()) => tracing::info!(%url, "card callback route registered"),
            Err(err) => tracing::warn!(
                %err,
                %url,
                "the card callback route could not be registered: Refresh presses will not arrive (cards still update)"
            ),
        }
    }

    /// Until `stop`, refreshes due cards (looking as often as the clock asks, when that is more
    /// often than [`TICK`]: a clock a test moves).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(TICK.min(self.clock.poll()).max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = 0u32;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            self.refresh_due().await;
            pruned = pruned.wrapping_add(1);
            if pruned.is_multiple_of(PRUNE_EVERY_TICKS) {
                self.prune_index(self.clock.now_ms()).await;
            }
        }
    }
}
