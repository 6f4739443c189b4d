//! The answering: a message's reply composed (the command parsed, meetings looked up, the card
//! rendered) and sent, as a live card when it can be one, within the conversation's rate limit.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::command::{self, Command};
use super::super::live::{CardAnswer, CardView};
use super::super::render::{self, CodeResult};
use super::{Bot, LANG_SETTING};
use crate::dingtalk::api::ApiError;
use crate::dingtalk::conference::Conferences;
use crate::dingtalk::message::{Body, ConversationKind, Message};
use crate::dingtalk::reply::OutgoingMessage;
use crate::state::{SendSlot, Ticket};

/// An answer, and what it was made from when it could be an interactive card.
pub struct Composed {
    pub message: OutgoingMessage,
    pub card: Option<CardAnswer>,
}

impl Bot {
    /// Parses, answers and replies; every failure ends in a log line, never a panic.
    pub(super) async fn process(&self, message: &Message, ticket: &Ticket) {
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
                    self.metrics.operations().reply_delivered("card", message.received.elapsed());
                    tracing::info!(channel = "card", latency_us, "replied");
                    return;
                }
                Err(why) => tracing::debug!(?why, "answering in markdown"),
            }
        }
        match self.replier.send(&message.reply_to, &answer, crate::clock::now_ms()).await {
            Ok(channel) => {
                let latency_us = u64::try_from(message.received.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.metrics.operations().reply_delivered(channel.label(), message.received.elapsed());
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
        // What a live card is made from; not built when answers are never interactive.
        let card = |results: Vec<CodeResult>, skipped: usize, share: bool| {
            self.live.is_some().then(|| CardAnswer {
                view: CardView {
                    codes: results.iter().map(|(code, _)| code.as_str().to_owned()).collect(),
                    skipped,
                    share,
                    mention: if share { None } else { mention.map(str::to_owned) },
                    lang: lang.code().to_owned(),
                },
                results,
            })
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
                Composed { message, card: card(results, skipped, false) }
            }
            Command::Share(code) => {
                let result = self.lookup(corp, &code).await;
                let message = render::share_card(t, self.timezone, &code, &result);
                Composed { message, card: card(vec![(code, result)], 0, true) }
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
