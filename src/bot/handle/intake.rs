//! The way in: a message checked, recorded and counted, then answered in the background; the
//! journal's leftovers resumed at start, and a stopped replica's messages taken over.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Bot;
use crate::dingtalk::message::{InboundMessage, Message};
use crate::dingtalk::webhook::HostNotAllowed;
use crate::state::{Recorded, Ticket};
use crate::telemetry::Outcome;

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
    /// Redis, the replicas' shared duplicate check, did not answer: not acknowledged, since
    /// another replica may be answering it; DingTalk sends it again.
    RedisUnreachable,
}

impl Admission {
    /// Whether the transport should acknowledge the delivery.
    pub fn acknowledged(&self) -> bool {
        !matches!(self, Self::Refused(_) | Self::NotRecorded | Self::RedisUnreachable)
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Accepted => Outcome::Accepted,
            Self::Duplicate => Outcome::Duplicate,
            Self::Refused(_) => Outcome::WebhookHostNotAllowed,
            Self::NotRecorded => Outcome::NotRecorded,
            Self::RedisUnreachable => Outcome::RedisUnreachable,
        }
    }
}

impl Bot {
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
                match self.state.journal().record(&message.id, payload).await {
                    Ok(Recorded::New(ticket)) => Ok((message, ticket)),
                    Ok(Recorded::Duplicate) => {
                        tracing::info!("duplicate delivery acknowledged, not processed again");
                        Err(Admission::Duplicate)
                    }
                    Ok(Recorded::Unshared) => {
                        tracing::warn!(
                            "message not acknowledged: Redis does not answer, and another replica may be answering it \
                             (DingTalk sends it again)"
                        );
                        Err(Admission::RedisUnreachable)
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
                bot.state.journal().finish(&ticket).await;
            }
            .instrument(span),
        );
    }

    /// Finishes the messages this replica's journal holds undone (it was killed, or stopped
    /// before their replies went out), each once, alongside new ones.
    pub async fn resume(self: &Arc<Self>) {
        let unfinished = self.state.journal().unfinished().await;
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
        let Some(every) = self.state.journal().take_over_every() else { return };
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let taken = self.state.journal().take_over().await;
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
                self.state.journal().finish(&ticket).await;
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
                self.state.journal().finish(&ticket).await;
            }
        }
    }
}
