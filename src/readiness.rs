//! Readiness: named checks, each registered by the part of the bot it is about, that
//! `GET /readyz` reports one by one. A check is either pushed (the part reports each change:
//! Redis), probed (asked at each request: the Stream socket, the store), or probed and remembered
//! (the access token: needed until it first passes, degraded when it fails after that, and a
//! failure not asked again for a while, so probes do not call DingTalk each time and spend the
//! monthly budget). A check never registered does not count. A degraded check is reported but keeps the replica ready: only what
//! stops this replica from answering at all takes it out of the load balancer, so an outage of
//! something every replica shares (Redis) does not take all of them out at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

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

impl From<Result<(), String>> for CheckState {
    fn from(result: Result<(), String>) -> Self {
        result.map_or_else(Self::Fail, |()| Self::Pass)
    }
}

/// A check asked at each `/readyz`.
type Probe = Arc<dyn Fn() -> BoxFuture<'static, CheckState> + Send + Sync>;

#[derive(Clone)]
enum Check {
    Pushed(CheckState),
    Probed(Probe),
    /// A probe whose last answer is kept ([`Readiness::probe_remembered`]).
    Remembered(Probe, Arc<Mutex<Memory>>),
}

/// What a remembered probe has answered.
#[derive(Debug, Default)]
struct Memory {
    /// It has passed at least once: a failure since is a degradation.
    passed: bool,
    /// The last failure and when it was asked, repeated without asking until it is old enough.
    failed: Option<(Instant, String)>,
    /// The state the last report gave.
    last: Option<CheckState>,
}

impl Memory {
    /// The state a failure with `reason` reports.
    fn failure(&self, reason: &str) -> CheckState {
        if self.passed {
            CheckState::Degraded(format!("{reason} (it passed before: the replica answers with what it has)"))
        } else {
            CheckState::Fail(reason.to_owned())
        }
    }

    /// The failure to repeat without asking, while it is younger than `retry_after`.
    fn fresh_failure(&self, retry_after: Duration) -> Option<CheckState> {
        let (at, reason) = self.failed.as_ref()?;
        (at.elapsed() < retry_after).then(|| self.failure(reason))
    }

    fn answered(&mut self, result: Result<(), String>) -> CheckState {
        let state = match result {
            Ok(()) => {
                self.passed = true;
                self.failed = None;
                CheckState::Pass
            }
            Err(reason) => {
                let state = self.failure(&reason);
                self.failed = Some((Instant::now(), reason));
                state
            }
        };
        self.last = Some(state.clone());
        state
    }
}

/// Named readiness checks, shared by every part that reports one. Cheap to clone.
///
/// A part that knows when its state changes registers its check once, failing with the reason
/// it is not ready yet ([`Readiness::fail`]), then reports each change ([`Readiness::pass`] /
/// [`Readiness::fail`]). A part whose state is cheaper to ask than to follow registers a probe
/// ([`Readiness::probe`]).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<BTreeMap<&'static str, Check>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let checks = self.checks.read().unwrap_or_else(PoisonError::into_inner);
        let mut map = f.debug_map();
        for (name, check) in checks.iter() {
            match check {
                Check::Pushed(state) => map.entry(name, state),
                Check::Probed(_) | Check::Remembered(..) => map.entry(name, &"probed"),
            };
        }
        map.finish()
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

    /// Registers `check` as asked of `probe` at each report.
    pub fn probe<F, Fut>(&self, check: &'static str, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe: Probe = Arc::new(move || {
            let asked = probe();
            Box::pin(async move { CheckState::from(asked.await) })
        });
        self.checks.write().unwrap_or_else(PoisonError::into_inner).insert(check, Check::Probed(probe));
    }

    /// Registers `check` as asked of `probe`, needed only until it first passes: a failure after
    /// that reports it degraded. A failure is repeated without asking `probe` again for
    /// `retry_after`.
    pub fn probe_remembered<F, Fut>(&self, check: &'static str, retry_after: Duration, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let memory = Arc::new(Mutex::new(Memory::default()));
        let kept = Arc::clone(&memory);
        let probe: Probe = Arc::new(move || {
            let memory = Arc::clone(&kept);
            let repeated = memory.lock().unwrap_or_else(PoisonError::into_inner).fresh_failure(retry_after);
            let asked = repeated.ok_or_else(&probe);
            Box::pin(async move {
                match asked {
                    Ok(repeated) => repeated,
                    Err(asked) => {
                        let result = asked.await;
                        memory.lock().unwrap_or_else(PoisonError::into_inner).answered(result)
                    }
                }
            })
        });
        let check_entry = Check::Remembered(probe, memory);
        self.checks.write().unwrap_or_else(PoisonError::into_inner).insert(check, check_entry);
    }

    fn set(&self, check: &'static str, state: CheckState) {
        self.checks.write().unwrap_or_else(PoisonError::into_inner).insert(check, Check::Pushed(state));
    }

    /// Every pushed check and its state, and each remembered probe's last state once asked, by
    /// name (other probes are left out: they are async).
    pub fn snapshot(&self) -> BTreeMap<&'static str, CheckState> {
        let checks = self.checks.read().unwrap_or_else(PoisonError::into_inner);
        checks
            .iter()
            .filter_map(|(name, check)| match check {
                Check::Pushed(state) => Some((*name, state.clone())),
                Check::Remembered(_, memory) => {
                    memory.lock().unwrap_or_else(PoisonError::into_inner).last.clone().map(|state| (*name, state))
                }
                Check::Probed(_) => None,
            })
            .collect()
    }

    /// Every registered check and its state now, by name: probes are asked, together.
    pub async fn report(&self) -> BTreeMap<&'static str, CheckState> {
        let checks: Vec<(&'static str, Check)> = {
            let checks = self.checks.read().unwrap_or_else(PoisonError::into_inner);
            checks.iter().map(|(name, check)| (*name, check.clone())).collect()
        };
        let states = checks.into_iter().map(|(name, check)| async move {
            match check {
                Check::Pushed(state) => (name, state),
                Check::Probed(probe) | Check::Remembered(probe, _) => (name, probe().await),
            }
        });
        futures_util::future::join_all(states).await.into_iter().collect()
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

    #[tokio::test]
    async fn the_report_asks_probes_beside_the_pushed_checks() {
        let readiness = Readiness::new();
        readiness.pass("config");
        readiness.probe("socket", || async { Err("down".to_owned()) });
        assert_eq!(readiness.snapshot().len(), 1, "a snapshot has pushed checks only");
        let report = readiness.report().await;
        assert_eq!(report.get("config"), Some(&CheckState::Pass));
        assert_eq!(report.get("socket"), Some(&CheckState::Fail("down".to_owned())));
    }

    #[tokio::test]
    async fn a_remembered_probe_fails_until_it_first_passes_then_only_degrades_and_repeats_failures() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let readiness = Readiness::new();
        let up = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(AtomicUsize::new(0));
        let (probe_up, probe_asked) = (Arc::clone(&up), Arc::clone(&asked));
        readiness.probe_remembered("token", Duration::ZERO, move || {
            probe_asked.fetch_add(1, Ordering::SeqCst);
            let up = probe_up.load(Ordering::SeqCst);
            async move { if up { Ok(()) } else { Err("refused".to_owned()) } }
        });
        assert!(readiness.snapshot().is_empty(), "not reported before it is asked");
        assert_eq!(readiness.report().await["token"], CheckState::Fail("refused".to_owned()));
        up.store(true, Ordering::SeqCst);
        assert_eq!(readiness.report().await["token"], CheckState::Pass);
        up.store(false, Ordering::SeqCst);
        let after = readiness.report().await["token"].clone();
        assert!(matches!(&after, CheckState::Degraded(why) if why.starts_with("refused")), "{after:?}");
        assert_eq!(readiness.snapshot()["token"], after, "the last state is in the snapshot");
        assert_eq!(asked.load(Ordering::SeqCst), 3, "asked each time with no retry delay");
    }

    #[tokio::test]
    async fn a_remembered_failure_is_repeated_without_asking_within_its_retry_delay() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let readiness = Readiness::new();
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        readiness.probe_remembered("token", Duration::from_secs(3600), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err("timed out".to_owned()) }
        });
        for _ in 0..5 {
            assert_eq!(readiness.report().await["token"], CheckState::Fail("timed out".to_owned()));
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
