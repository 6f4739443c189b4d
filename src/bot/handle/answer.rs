//! The answering: a message's reply composed (checked against the allow-lists, the command
//! parsed and answered by `commands`) and sent, as a live card when it can be one, within the
//! conversation's rate limit.

use std::collections::BTreeMap;

use super::Bot;
use crate::bot::commands::{self, Composed, Context};
use crate::bot::render;
use crate::dingtalk::message::{Body, ConversationKind, Message};
use crate::dingtalk::reply::OutgoingMessage;
use crate::state::{SendSlot, Ticket};

impl Bot {
    /// Parses, answers and replies; every failure ends in a log line, never a panic.
    pub(super) async fn process(&self, message: &Message, ticket: &Ticket) {
        let _in_flight = self.metrics.in_flight();
        let conversation = &message.reply_to.conversation_id;
        match self.state.send_limit().wait_for_slot(conversation).await {
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
        if !self.state.journal().claim_reply(&message.id, ticket).await {
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
        match self.replier.send(&message.reply_to, &answer, self.clock.now_ms()).await {
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
        if let Err(refusal) = self.access.check(message) {
            tracing::info!(reason = refusal.label(), "message refused by an allow-list");
            self.metrics.refused(refusal.label());
            return Composed::plain(render::notice_card(t, &[t.not_allowed.to_owned()], mention));
        }
        let text = match &message.body {
            Body::Text(text) => text,
            Body::Unsupported(kind) => {
                tracing::info!(msgtype = %kind, "message type not supported");
                self.metrics.command("unsupported");
                return Composed::plain(render::notice_card(t, &[t.unsupported_message.to_owned()], mention));
            }
        };
        let command = match commands::parse(text) {
            Ok(command) => command,
            Err(err) => {
                self.metrics.command("invalid");
                return Composed::plain(commands::parse_error_card(t, &err, mention));
            }
        };
        self.metrics.command(command.kind().label());
        let context = Context {
            message,
            lang,
            mention,
            timezone: self.timezone,
            conferences: &self.conferences,
            cards: &self.cards,
            interactive: self.live.is_some(),
            reminders: self.reminders.as_deref(),
            state: &self.state,
            organiser: &self.organiser,
            live: self.live.as_deref(),
        };
        commands::answer(command, &context).await
    }
}
