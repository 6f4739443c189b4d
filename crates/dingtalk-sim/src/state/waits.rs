//! What tests read back from the records, and the waits on them: each wait checks at once and
//! again after every change, until it finds what it looks for or its time runs out.

use std::time::Duration;

use super::SimState;
use crate::records::stream::{ConnectionRecord, ReceivedFrame};
use crate::records::{OpenApiSend, Records, Tally, WebhookPost};

/// A wait that ran out of time; says what had been recorded.
#[derive(Debug, thiserror::Error)]
#[error("nothing matched within {timeout:?}; recorded so far: {seen}")]
pub struct WaitTimeout {
    pub timeout: Duration,
    pub seen: String,
}

impl SimState {
    /// A copy of everything recorded.
    pub fn records(&self) -> Records {
        self.lock().journal.records.clone()
    }

    /// Counts over the records ([`Records::tally`]), without copying them.
    pub fn tally(&self, mention_prefix: Option<&str>) -> Tally {
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

    /// Records a robot OpenAPI send and its answer.
    pub(crate) fn record_openapi_send(&self, mut send: OpenApiSend) {
        self.update(|world| {
            send.seq = world.journal.next_seq();
            world.journal.records.openapi_sends.push(send);
        });
    }

    /// Every robot OpenAPI send so far, accepted or refused.
    pub fn openapi_sends(&self) -> Vec<OpenApiSend> {
        self.lock().journal.records.openapi_sends.clone()
    }

    /// Waits until `count` Stream connections have been opened in all; returns the `count`th.
    pub async fn wait_for_connections(&self, count: usize, timeout: Duration) -> Result<ConnectionRecord, WaitTimeout> {
        self.wait_until(timeout, |records| {
            count.checked_sub(1).and_then(|i| records.stream.connections.get(i)).cloned()
        })
        .await
    }

    /// Waits for the first Stream frame from the client naming `message_id` (an ack or a pong).
    pub async fn wait_for_answer(&self, message_id: &str, timeout: Duration) -> Result<ReceivedFrame, WaitTimeout> {
        self.wait_until(timeout, |records| records.stream.answers_to(message_id).first().map(|f| (*f).clone())).await
    }
}
