//! The journal of accepted messages: a message is recorded before it is acknowledged and marked
//! done once answered (or finally refused), so one accepted and then lost to a crash is finished
//! at the next start, or, on Redis, by another replica. Recording is also the duplicate check:
//! Redis's, or the memory's (which the local journal's recent ids fill at start).

use std::time::Duration;

use super::{StateStore, StoreFailure};

/// Where an accepted message was recorded, to mark it done there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ticket {
    /// A row of the local store's journal.
    Local(i64),
    /// An entry of the Redis journal (a stream entry id).
    Shared(String),
    /// Not journaled (the journal is off, or the store is in memory only).
    Unrecorded,
}

/// What recording a message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new message, now recorded.
    New(Ticket),
    /// A redelivery of one recorded within the dedupe window.
    Duplicate,
    /// Redis is configured and could not be asked: another replica may be answering this very
    /// message, so it is not recorded here (and must not be acknowledged: DingTalk sends it
    /// again, and a replica that reaches Redis then takes it, once).
    Unshared,
}

/// The duplicate check's key of a message id (in memory and in Redis).
pub(super) fn message_key(msg_id: &str) -> String {
    format!("msg:{msg_id}")
}

/// The journal view of the store.
#[derive(Debug, Clone, Copy)]
pub struct Journal<'a> {
    pub(super) store: &'a StateStore,
}

impl Journal<'_> {
    /// Records an accepted message (`payload` is what finishing it takes) and says whether it is
    /// new. With Redis configured it goes to Redis, for any replica to finish, and while Redis
    /// does not answer it is [`Recorded::Unshared`] (a local check cannot know what another
    /// replica took); without Redis, to the local store. Atomic: of any number of concurrent
    /// deliveries of one id, on any replica, exactly one is new.
    pub async fn record(self, msg_id: &str, payload: impl FnOnce() -> String) -> Result<Recorded, StoreFailure> {
        let key = message_key(msg_id);
        if let Some(shared) = &self.store.shared {
            let ttl = self.store.options.dedupe_ttl;
            let answer = if self.store.options.journal {
                let payload = payload();
                Box::pin(shared.record(&key, ttl, msg_id, &payload))
                    .await
                    .map(|entry| entry.map_or(Recorded::Duplicate, |id| Recorded::New(Ticket::Shared(id))))
            } else {
                Box::pin(shared.first_seen(&key, ttl))
                    .await
                    .map(|fresh| if fresh { Recorded::New(Ticket::Unrecorded) } else { Recorded::Duplicate })
            };
            return Ok(answer.unwrap_or(Recorded::Unshared));
        }
        let fresh_in_memory = || async { self.store.local.first_seen(&key).await };
        let Some(durable) = self.store.durable.as_ref().filter(|_| self.store.options.journal) else {
            return Ok(if fresh_in_memory().await { Recorded::New(Ticket::Unrecorded) } else { Recorded::Duplicate });
        };
        // The duplicate check is the memory's (loaded with the window's ids at start), so the
        // record is one append; an id that could not be recorded is forgotten again, so its
        // redelivery is new.
        if !fresh_in_memory().await {
            return Ok(Recorded::Duplicate);
        }
        match durable.record(msg_id, payload()).await {
            Ok(row) => Ok(Recorded::New(Ticket::Local(row))),
            Err(err) => {
                self.store.local.forget(&key);
                Err(err)
            }
        }
    }

    /// Right before a reply goes out: false if another replica already sent (or is sending) the
    /// reply to this message, which must then not be sent again. A message recorded in Redis
    /// waits here while Redis does not answer (another replica may take it over once Redis is
    /// back, and only the `replied` marker tells them apart); if this replica stops meanwhile,
    /// its entry is still pending in Redis for another to take over.
    pub async fn claim_reply(self, msg_id: &str, ticket: &Ticket) -> bool {
        let (Ticket::Shared(_), Some(shared)) = (ticket, &self.store.shared) else { return true };
        let mut pause = Duration::from_millis(50);
        let mut told = false;
        loop {
            if let Some(mine) = Box::pin(shared.claim_reply(msg_id, self.store.options.dedupe_ttl)).await {
                if told {
                    tracing::info!("Redis answers again: the held reply goes on");
                }
                return mine;
            }
            if !told {
                tracing::warn!(
                    "reply held: Redis does not answer, and only it can tell whether another replica sent it"
                );
                told = true;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Marks a recorded message done: answered, or finally refused.
    pub async fn finish(self, ticket: &Ticket) {
        match ticket {
            Ticket::Local(row) => {
                if let Some(durable) = &self.store.durable {
                    durable.done(*row);
                }
            }
            Ticket::Shared(id) => {
                if let Some(shared) = &self.store.shared {
                    Box::pin(shared.finish(id)).await;
                }
            }
            Ticket::Unrecorded => {}
        }
    }

    /// The messages recorded in the local store and not done (a crash, or a stop whose grace
    /// period ran out), oldest first.
    pub async fn unfinished(self) -> Vec<(Ticket, String)> {
        let Some(durable) = &self.store.durable else { return Vec::new() };
        match durable.unfinished().await {
            Ok(rows) => rows.into_iter().map(|(row, payload)| (Ticket::Local(row), payload)).collect(),
            Err(err) => {
                tracing::error!(%err, "the journal could not be read: unfinished messages stay unanswered");
                Vec::new()
            }
        }
    }

    /// With Redis: takes over the messages another replica recorded and left unacknowledged
    /// longer than the claim time (it stopped), and keeps this replica's own in-flight messages
    /// from looking abandoned.
    pub async fn take_over(self) -> Vec<(Ticket, String)> {
        let Some(shared) = &self.store.shared else { return Vec::new() };
        Box::pin(shared.keep_claims()).await;
        let claimed = Box::pin(shared.take_over(self.store.options.journal_claim)).await;
        claimed.into_iter().map(|(id, payload)| (Ticket::Shared(id), payload)).collect()
    }

    /// How often [`Journal::take_over`] should run: `None` without Redis.
    pub fn take_over_every(self) -> Option<Duration> {
        self.store.shared.as_ref().map(|_| (self.store.options.journal_claim / 3).max(Duration::from_millis(100)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateOptions;

    #[tokio::test]
    async fn a_message_that_could_not_be_recorded_is_new_when_it_comes_again() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        let journal = store.journal();
        assert!(matches!(journal.record("m1", String::new).await, Ok(Recorded::New(Ticket::Local(_)))));
        assert_eq!(journal.record("m1", String::new).await.ok(), Some(Recorded::Duplicate));
        store.durable.as_ref().expect("durable").fail_records();
        assert!(journal.record("m2", String::new).await.is_err(), "the disk is full");
        assert!(journal.record("m2", String::new).await.is_err(), "still new, so it is tried again, not acked");
    }

    #[tokio::test]
    async fn of_concurrent_deliveries_of_one_id_exactly_one_is_recorded() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        let deliveries = (0..200).map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.journal().record(&format!("m{}", i % 100), String::new).await })
        });
        let mut new = 0;
        for delivery in deliveries {
            new += usize::from(matches!(delivery.await.expect("task"), Ok(Recorded::New(_))));
        }
        assert_eq!(new, 100, "each id once");
    }
}
