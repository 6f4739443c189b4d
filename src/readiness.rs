//! Readiness: named checks that parts of the bot push their state into (Redis) and that
//! `GET /readyz` reads beside the checks it makes itself. A check never registered does not count.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The check the shared state store reports (only when `DINGMEET_REDIS_URL` is set).
pub const REDIS: &str = "redis";

/// One check's state: passing, or failing for a reason an admin can act on.
pub type CheckState = Result<(), String>;

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
        self.set(check, Ok(()));
    }

    /// Marks `check` as failing because of `reason` (registering it if needed).
    pub fn fail(&self, check: &'static str, reason: impl Into<String>) {
        self.set(check, Err(reason.into()));
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
        assert_eq!(snapshot.get(REDIS), Some(&Ok(())));
        assert_eq!(snapshot.get("other"), Some(&Ok(())));
        readiness.fail("other", "closed by DingTalk");
        readiness.remove(REDIS);
        assert_eq!(
            readiness.snapshot().into_iter().collect::<Vec<_>>(),
            vec![("other", Err("closed by DingTalk".to_owned()))]
        );
    }
}
