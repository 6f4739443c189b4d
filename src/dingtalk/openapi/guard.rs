//! The per-organisation circuit breaker around lookups: [`OpenApi::guarded`] runs one lookup
//! (all its calls) only while DingTalk has not kept failing that organisation's lookups.

use std::future::Future;
use std::time::Instant;

use super::breaker::{Outcome, Transition};
use super::client::OpenApi;
use super::error::ApiError;

impl OpenApi {
    /// Runs `lookup` for organisation `corp` behind its circuit: while open, answers
    /// [`ApiError::CircuitOpen`] at once, without a call; its outcome moves the circuit.
    pub async fn guarded<T>(
        &self,
        corp: Option<&str>,
        lookup: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let org = corp.unwrap_or_default();
        if let Err(wait) = self.circuits.admit(org, Instant::now()) {
            self.metrics.short_circuited();
            let retry_in_secs = u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX).max(1);
            return Err(ApiError::CircuitOpen { retry_in_secs });
        }
        let result = lookup.await;
        let Some(transition) = self.circuits.record(org, Outcome::of(&result), Instant::now()) else {
            return result;
        };
        let policy = self.circuits.policy();
        let cool_down_secs = policy.cool_down.as_secs_f64();
        let reason = result.as_ref().err().map(ToString::to_string);
        match transition {
            Transition::Opened => {
                self.metrics.circuit(true);
                tracing::warn!(
                    corp = org,
                    failures = policy.failures,
                    cool_down_secs,
                    reason = reason.as_deref().unwrap_or_default(),
                    "DingTalk's conference API keeps failing; lookups pause (circuit open)"
                );
            }
            Transition::Reopened => tracing::warn!(
                corp = org,
                cool_down_secs,
                reason = reason.as_deref().unwrap_or_default(),
                "the trial lookup failed too; lookups pause again (circuit open)"
            ),
            Transition::Closed => {
                self.metrics.circuit(false);
                let reason =
                    reason.map_or_else(|| "a lookup succeeded".to_owned(), |r| format!("DingTalk answered: {r}"));
                tracing::info!(
                    corp = org,
                    %reason,
                    "DingTalk's conference API answers again; lookups resume (circuit closed)"
                );
            }
        }
        result
    }
}
