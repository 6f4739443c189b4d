//! A circuit breaker for DingTalk's conference API, one per organisation: after a run of
//! outage-kind failures, lookups fail at once for a cool-down instead of each waiting out the
//! timeout and spending an API call; then one trial lookup decides whether it closes again.
//!
//! Pure: every method takes `now`, so tests move time by hand. (failsafe, the maintained crate,
//! lets every call through while half-open and mocks time through a thread-local clock.)

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::ApiError;

/// When to open and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive outage-kind failures that open the circuit; 0 turns the breaker off.
    pub failures: u32,
    /// How long an open circuit refuses lookups before one trial is let through.
    pub cool_down: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self { failures: 5, cool_down: Duration::from_secs(30) }
    }
}

/// What a finished lookup says about DingTalk's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// DingTalk answered, with meetings or with a refusal (a 4xx such as `invalidRoomCode`): it is up.
    Answered,
    /// It did not answer usefully: a network error, a timeout, a 5xx, an unreadable body.
    Outage,
    /// Nothing was learnt (no call was made: the message named no organisation, no suite ticket).
    Unknown,
}

impl Outcome {
    pub fn of<T>(result: &Result<T, ApiError>) -> Self {
        match result {
            Ok(_) => Self::Answered,
            Err(ApiError::Network(_) | ApiError::Timeout | ApiError::Decode(_)) => Self::Outage,
            Err(ApiError::Upstream { status, .. }) if *status >= 500 => Self::Outage,
            Err(ApiError::NoOrganisation | ApiError::SuiteTicket { .. } | ApiError::CircuitOpen { .. }) => {
                Self::Unknown
            }
            Err(_) => Self::Answered,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial is out; until `until`, after which a lost trial (its caller went away) is
    /// replaced by another.
    HalfOpen {
        until: Instant,
    },
}

/// A change worth a log line and a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed → open after `failures` in a row.
    Opened,
    /// The trial failed: open for another cool-down.
    Reopened,
    /// DingTalk answered again.
    Closed,
}

/// One organisation's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Self { state: State::Closed { failures: 0 } }
    }
}

impl Breaker {
    /// May a lookup go to DingTalk now? `Err` carries how long until it is worth trying again.
    /// Leaving open makes the caller the single trial.
    pub fn admit(&mut self, policy: &Policy, now: Instant) -> Result<(), Duration> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until } | State::HalfOpen { until } if now >= until => {
                self.state = State::HalfOpen { until: now + policy.cool_down };
                Ok(())
            }
            State::Open { until } | State::HalfOpen { until } => Err(until - now),
        }
    }

    /// Records how an admitted lookup ended.
    pub fn record(&mut self, policy: &Policy, outcome: Outcome, now: Instant) -> Option<Transition> {
        match (self.state, outcome) {
            (State::Closed { .. }, Outcome::Answered) => {
                self.state = State::Closed { failures: 0 };
                None
            }
            // Any answer proves DingTalk is back, the trial's or a lookup admitted before it opened.
            (State::Open { .. } | State::HalfOpen { .. }, Outcome::Answered) => {
                self.state = State::Closed { failures: 0 };
                Some(Transition::Closed)
            }
            (State::Closed { failures }, Outcome::Outage) => {
                let failures = failures.saturating_add(1);
                if failures >= policy.failures {
                    self.state = State::Open { until: now + policy.cool_down };
                    Some(Transition::Opened)
                } else {
                    self.state = State::Closed { failures };
                    None
                }
            }
            (State::HalfOpen { .. }, Outcome::Outage) => {
                self.state = State::Open { until: now + policy.cool_down };
                Some(Transition::Reopened)
            }
            // A straggler admitted before the circuit opened: it is open already.
            (State::Open { .. }, Outcome::Outage) => None,
            // The trial learnt nothing: the next lookup may try.
            (State::HalfOpen { .. }, Outcome::Unknown) => {
                self.state = State::Open { until: now };
                None
            }
            (_, Outcome::Unknown) => None,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed { .. })
    }

    fn is_idle(&self) -> bool {
        self.state == State::Closed { failures: 0 }
    }
}

/// The circuits of every organisation with recent failures (by corpId; `""` for an internal
/// app). An organisation whose circuit is closed with no failures holds no entry, so the map
/// stays as small as the set of organisations DingTalk is failing.
#[derive(Debug)]
pub struct Circuits {
    policy: Policy,
    by_corp: Mutex<HashMap<String, Breaker>>,
}

impl Circuits {
    pub fn new(policy: Policy) -> Self {
        Self { policy, by_corp: Mutex::new(HashMap::new()) }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// See [`Breaker::admit`]; always `Ok` when the breaker is off.
    pub fn admit(&self, corp: &str, now: Instant) -> Result<(), Duration> {
        if self.policy.failures == 0 {
            return Ok(());
        }
        let mut map = self.by_corp.lock().unwrap_or_else(PoisonError::into_inner);
        map.get_mut(corp).map_or(Ok(()), |breaker| breaker.admit(&self.policy, now))
    }

    /// See [`Breaker::record`].
    pub fn record(&self, corp: &str, outcome: Outcome, now: Instant) -> Option<Transition> {
        if self.policy.failures == 0 {
            return None;
        }
        let mut map = self.by_corp.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(breaker) = map.get_mut(corp) else {
            // The common case, a healthy organisation's answer, neither allocates nor inserts.
            if outcome != Outcome::Outage {
                return None;
            }
            let mut breaker = Breaker::default();
            let transition = breaker.record(&self.policy, outcome, now);
            map.insert(corp.to_owned(), breaker);
            return transition;
        };
        let transition = breaker.record(&self.policy, outcome, now);
        if breaker.is_idle() {
            map.remove(corp);
        }
        transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { failures: 3, cool_down: Duration::from_secs(30) };

    fn outage() -> ApiError {
        ApiError::Upstream { code: "systemError".into(), status: 500 }
    }

    fn fail(b: &mut Breaker, now: Instant) -> Option<Transition> {
        b.admit(&POLICY, now).expect("admitted");
        b.record(&POLICY, Outcome::Outage, now)
    }

    /// A breaker opened at `now`.
    fn opened(now: Instant) -> Breaker {
        let mut b = Breaker::default();
        assert_eq!((fail(&mut b, now), fail(&mut b, now)), (None, None));
        assert_eq!(fail(&mut b, now), Some(Transition::Opened));
        b
    }

    #[test]
    fn outages_are_what_dingtalk_failed_to_answer() {
        let kinds = |errors: Vec<ApiError>| errors.into_iter().map(|e| Outcome::of::<()>(&Err(e))).collect::<Vec<_>>();
        let down = vec![
            ApiError::Network("could not connect".into()),
            ApiError::Timeout,
            ApiError::Decode("expected value".into()),
            outage(),
            ApiError::Upstream { code: "http_503".into(), status: 503 },
        ];
        assert!(kinds(down).iter().all(|k| *k == Outcome::Outage));
        let answered = vec![
            ApiError::InvalidRoomCode { code: "invalidRoomCode".into() },
            ApiError::NoPermission { code: "noPermission".into(), scopes: Vec::new() },
            ApiError::Throttled { code: "QpsLimit".into(), retry_after_ms: None },
            ApiError::BadRequest { code: "paramError".into() },
            ApiError::Upstream { code: "http_404".into(), status: 404 },
        ];
        assert!(kinds(answered).iter().all(|k| *k == Outcome::Answered));
        assert_eq!(Outcome::of::<()>(&Err(ApiError::NoOrganisation)), Outcome::Unknown);
        assert_eq!(Outcome::of(&Ok(())), Outcome::Answered);
    }

    #[test]
    fn opens_after_n_consecutive_outages_and_then_refuses_at_once() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        assert!(!b.is_closed());
        assert_eq!(b.admit(&POLICY, t0 + Duration::from_secs(1)), Err(Duration::from_secs(29)));
        assert_eq!(b.admit(&POLICY, t0 + Duration::from_millis(29_999)), Err(Duration::from_millis(1)));
    }

    #[test]
    fn an_answer_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        fail(&mut b, t0);
        fail(&mut b, t0);
        assert_eq!(b.record(&POLICY, Outcome::Answered, t0), None);
        assert_eq!((fail(&mut b, t0), fail(&mut b, t0)), (None, None), "counting starts again");
        assert!(b.is_closed());
    }

    #[test]
    fn refusals_such_as_an_invalid_code_do_not_count() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..10 {
            b.admit(&POLICY, t0).expect("admitted");
            let refused: Result<(), _> = Err(ApiError::InvalidRoomCode { code: "invalidRoomCode".into() });
            assert_eq!(b.record(&POLICY, Outcome::of(&refused), t0), None);
        }
        assert!(b.is_closed());
    }

    #[test]
    fn after_the_cool_down_one_trial_goes_and_the_others_wait() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let later = t0 + POLICY.cool_down;
        assert_eq!(b.admit(&POLICY, later), Ok(()), "the trial");
        for ms in [0, 1, 5_000] {
            assert!(b.admit(&POLICY, later + Duration::from_millis(ms)).is_err(), "no second trial at +{ms} ms");
        }
    }

    #[test]
    fn a_successful_trial_closes_it() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let later = t0 + POLICY.cool_down;
        b.admit(&POLICY, later).expect("the trial");
        assert_eq!(b.record(&POLICY, Outcome::Answered, later), Some(Transition::Closed));
        assert!(b.is_closed());
        assert_eq!(b.admit(&POLICY, later), Ok(()));
        assert_eq!((fail(&mut b, later), fail(&mut b, later)), (None, None), "a fresh count");
    }

    #[test]
    fn a_failed_trial_reopens_it_for_a_full_cool_down() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let later = t0 + POLICY.cool_down + Duration::from_secs(2);
        b.admit(&POLICY, later).expect("the trial");
        assert_eq!(b.record(&POLICY, Outcome::Outage, later), Some(Transition::Reopened));
        assert_eq!(b.admit(&POLICY, later + Duration::from_secs(1)), Err(Duration::from_secs(29)));
        assert_eq!(b.admit(&POLICY, later + POLICY.cool_down), Ok(()), "the next trial");
    }

    #[test]
    fn a_lost_trial_is_replaced_after_a_cool_down() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let trial = t0 + POLICY.cool_down;
        b.admit(&POLICY, trial).expect("a trial whose caller never reports");
        assert!(b.admit(&POLICY, trial + POLICY.cool_down - Duration::from_millis(1)).is_err());
        assert_eq!(b.admit(&POLICY, trial + POLICY.cool_down), Ok(()), "another trial");
    }

    #[test]
    fn a_trial_that_learnt_nothing_lets_the_next_lookup_try() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let trial = t0 + POLICY.cool_down;
        b.admit(&POLICY, trial).expect("the trial");
        assert_eq!(b.record(&POLICY, Outcome::Unknown, trial), None);
        assert_eq!(b.admit(&POLICY, trial), Ok(()));
    }

    #[test]
    fn circuits_are_kept_per_organisation_and_only_while_failing() {
        let circuits = Circuits::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(circuits.record("corpA", Outcome::Outage, t0), None);
        }
        assert_eq!(circuits.record("corpA", Outcome::Outage, t0), Some(Transition::Opened));
        assert!(circuits.admit("corpA", t0).is_err());
        assert_eq!(circuits.admit("corpB", t0), Ok(()), "another organisation is not affected");
        assert_eq!(circuits.record("corpB", Outcome::Answered, t0), None);
        let later = t0 + POLICY.cool_down;
        circuits.admit("corpA", later).expect("the trial");
        assert_eq!(circuits.record("corpA", Outcome::Answered, later), Some(Transition::Closed));
        assert!(circuits.by_corp.lock().expect("lock").is_empty(), "healthy organisations hold no entry");
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let circuits = Circuits::new(Policy { failures: 0, cool_down: Duration::from_secs(30) });
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(circuits.admit("", t0), Ok(()));
            assert_eq!(circuits.record("", Outcome::Outage, t0), None);
        }
    }
}
