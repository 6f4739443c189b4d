//! Readiness: named checks that parts of the bot push their state into (Redis) and that
//! `GET /readyz` reads beside the checks it makes itself. A check never registered does not count.
//! A degraded check is reported but keeps the replica ready: only what stops this replica from
//! answering at all takes it out of the load balancer, so an outage of something every replica
//! shares (Redis) does not take all of them out at once.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The check the shared state store reports (only when `DINGMEET_REDIS_URL` is set).
pub const REDIS: &str = "redis";

/// One check's state, with the reason an admin can act on when it is not passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckState {
    Pass,
    /// The replica answers without it, with less (Redis: from its local store).
    Degraded(String),
    /// The replica cannot answer.
    Fail(String),
}

impl CheckState {
    /// Whether the replica can answer (passing or degraded).
    pub fn ready(&self) -> bool {
        !matches!(self, Self::Fail(_))
    }

    /// Why it is degraded or failing; `None` while passing.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Pass => None,
            Self::Degraded(reason) | Self::Fail(reason) => Some(reason),
        }
    }
}

/// Named readiness checks, shared by every part that reports one. Cheap to clone.
///
/// A part registers its check once, failing with the reason it is not ready yet
/// ([`Readiness::fail`]), then reports each change ([`Readiness::pass`] / [`Readiness::fail`]).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<BTreeMap<&'static str, CheckState>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `check` as passing (registering it if needed).
    pub fn pass(&self, check: &'static str) {
        self.set(check, CheckState::Pass);
    }

    /// Marks `check` as failing because of `reason` (registering it if needed).
    pub fn fail(&self, check: &'static str, reason: impl Into<String>) {
        self.set(check, CheckState::Fail(reason.into()));
    }

    /// Marks `check` as degraded because of `reason`: reported, still ready.
    pub fn degrade(&self, check: &'static str, reason: impl Into<String>) {
        self.set(check, CheckState::Degraded(reason.into()));
    }

    /// Forgets `check` (a part that no longer runs).
    pub fn remove(&self, check: &'static str) {
        self.checks.write().unwrap_or_else(PoisonError::into_inner).remove(check);
    }

    fn set(&self, check: &'static str, state: CheckState) {
        self.checks.write().unwrap_or_else(PoisonError::into_inner).insert(check, state);
    }

    /// Every registered check and its state, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, CheckState> {
        self.checks.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_report_their_latest_state_by_name() {
        let readiness = Readiness::new();
        assert!(readiness.snapshot().is_empty());
        readiness.fail(REDIS, "connecting");
        readiness.pass("other");
        let clone = readiness.clone();
        clone.pass(REDIS);
        let snapshot = readiness.snapshot();
        assert_eq!(snapshot.get(REDIS), Some(&CheckState::Pass));
        assert_eq!(snapshot.get("other"), Some(&CheckState::Pass));
        readiness.fail("other", "closed by DingTalk");
        readiness.degrade(REDIS, "unreachable");
        assert!(readiness.snapshot()[REDIS].ready(), "degraded is still ready");
        readiness.remove(REDIS);
        assert_eq!(
            readiness.snapshot().into_iter().collect::<Vec<_>>(),
            vec![("other", CheckState::Fail("closed by DingTalk".to_owned()))]
        );
    }
}
