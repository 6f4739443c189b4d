//! One writer at a time for a shared record that is read, changed and written back (a
//! conference's event record, the index of the cards showing it): a lock in this process, and
//! with replicas on Redis a short claim every replica respects. A replica that dies holding a
//! claim lets it go when the claim lapses.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use crate::state::{Claim, StateStore};

/// How long a claim holds without being let go (a read, a change and a write take far less).
const HOLD: Duration = Duration::from_secs(3);
/// How long to wait for another replica's claim before going ahead anyway.
const MOST_WAIT: Duration = Duration::from_secs(3);
const SHARDS: usize = 64;

/// The locks, one set per component.
pub(super) struct RecordLocks {
    state: StateStore,
    /// The claims' names start with this.
    kind: &'static str,
    shards: Vec<Mutex<()>>,
}

/// A record held until [`Held::release`] (or, dropped unreleased, until its claim lapses).
pub(super) struct Held<'a> {
    _local: MutexGuard<'a, ()>,
    claim: Option<String>,
    state: &'a StateStore,
}

impl Held<'_> {
    pub(super) async fn release(self) {
        if let Some(claim) = &self.claim {
            // A claim marked done for a millisecond is free again right after.
            self.state.claims().finish(claim, Duration::from_millis(1)).await;
        }
    }
}

impl RecordLocks {
    pub(super) fn new(state: &StateStore, kind: &'static str) -> Self {
        Self { state: state.clone(), kind, shards: (0..SHARDS).map(|_| Mutex::new(())).collect() }
    }

    /// Holds record `key` for this task.
    pub(super) async fn hold(&self, key: &str) -> Held<'_> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let shard = usize::try_from(hasher.finish() % u64::try_from(SHARDS).unwrap_or(1)).unwrap_or(0);
        let local = self.shards[shard].lock().await;
        if !self.state.shares() {
            return Held { _local: local, claim: None, state: &self.state };
        }
        let claim = format!("lock:{}:{key}", self.kind);
        let deadline = tokio::time::Instant::now() + MOST_WAIT;
        while self.state.claims().claim(&claim, HOLD).await != Claim::Mine {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(record = key, "another replica held a record too long; changing it anyway");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5 + fastrand::u64(0..10))).await;
        }
        Held { _local: local, claim: Some(claim), state: &self.state }
    }
}
