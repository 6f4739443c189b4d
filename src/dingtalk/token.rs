//! Access tokens: fetched from `POST /v1.0/oauth2/accessToken`, cached per organisation until
//! shortly before `expireIn`, and fetched once however many callers race for one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::api::{self, ApiError};
use crate::telemetry::Metrics;

/// DingTalk's documented lifetime, used when an answer carries none (`expireIn` 0 or missing).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(7200);
/// The most tokens kept at once (one per organisation for third-party apps).
const MAX_ORGANISATIONS: u64 = 10_000;

/// An access token; its text never reaches `Debug` output or logs.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<SecretString>,
    lifetime: Duration,
}

impl AccessToken {
    pub fn new(token: String, lifetime: Duration) -> Self {
        Self { secret: Arc::new(SecretString::from(token)), lifetime }
    }

    /// The token's text, for the `x-acs-dingtalk-access-token` header only.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// How long to keep it: its lifetime less a margin (a tenth, at most five minutes).
    fn cache_for(&self) -> Duration {
        let margin = (self.lifetime / 10).min(Duration::from_secs(300));
        self.lifetime.saturating_sub(margin).max(Duration::from_secs(1))
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

struct ExpireByLifetime;

impl moka::Expiry<String, AccessToken> for ExpireByLifetime {
    fn expire_after_create(&self, _key: &String, token: &AccessToken, _now: Instant) -> Option<Duration> {
        Some(token.cache_for())
    }
}

/// The app's credentials: AppKey/AppSecret (internal app) or SuiteKey/SuiteSecret (third party).
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("client_id", &self.client_id).field("client_secret", &"[redacted]").finish()
    }
}

/// Hands out cached access tokens.
#[derive(Clone)]
pub struct TokenProvider {
    http: reqwest::Client,
    api_base: String,
    credentials: Credentials,
    cache: moka::future::Cache<String, AccessToken>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("api_base", &self.api_base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessTokenResponse {
    access_token: Option<String>,
    expire_in: Option<i64>,
}

impl TokenProvider {
    pub fn new(http: reqwest::Client, api_base: &str, credentials: Credentials, metrics: Arc<Metrics>) -> Self {
        let cache =
            moka::future::Cache::builder().max_capacity(MAX_ORGANISATIONS).expire_after(ExpireByLifetime).build();
        Self { http, api_base: api_base.trim_end_matches('/').to_owned(), credentials, cache, metrics }
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// The app's token, from the cache or from DingTalk (one fetch for all concurrent callers).
    pub async fn token(&self) -> Result<AccessToken, ApiError> {
        let fetched = self.cache.try_get_with(String::new(), self.fetch()).await;
        fetched.map_err(|err| (*err).clone())
    }

    /// Drops the cached token, after DingTalk said it is no longer valid.
    pub async fn invalidate(&self) {
        self.cache.invalidate("").await;
    }

    async fn fetch(&self) -> Result<AccessToken, ApiError> {
        let started = Instant::now();
        let body = serde_json::json!({
            "appKey": self.credentials.client_id,
            "appSecret": self.credentials.client_secret.expose_secret(),
        });
        let request = self.http.post(format!("{}/v1.0/oauth2/accessToken", self.api_base)).json(&body);
        let result = api::send_json::<AccessTokenResponse>(request).await.and_then(|answer| {
            let token = answer
                .access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::Decode("no accessToken in the answer".into()))?;
            Ok(AccessToken::new(token, lifetime(answer.expire_in)))
        });
        let outcome = result.as_ref().map_or_else(ApiError::kind, |_| "ok");
        self.metrics.upstream("access_token", outcome, started.elapsed());
        self.metrics.token_fetch(outcome);
        match &result {
            Ok(_) => tracing::info!("fetched a new access token"),
            Err(err) => tracing::warn!(%err, "could not fetch an access token"),
        }
        result
    }
}

/// A token's lifetime from `expireIn` seconds; 0, negative or missing means the documented 7200 s.
pub fn lifetime(expire_in: Option<i64>) -> Duration {
    match expire_in {
        Some(secs) if secs > 0 => Duration::from_secs(secs.unsigned_abs()),
        _ => DEFAULT_LIFETIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_or_missing_lifetime_falls_back_to_two_hours() {
        assert_eq!(lifetime(Some(0)), DEFAULT_LIFETIME);
        assert_eq!(lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(-5)), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(60)), Duration::from_secs(60));
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        assert_eq!(AccessToken::new("t".into(), Duration::from_secs(7200)).cache_for(), Duration::from_secs(6900));
        assert_eq!(AccessToken::new("t".into(), Duration::from_secs(60)).cache_for(), Duration::from_secs(54));
    }

    #[test]
    fn debug_output_hides_tokens_and_secrets() {
        let token = AccessToken::new("tok-123-secret".into(), Duration::from_secs(1));
        assert!(!format!("{token:?}").contains("tok-123"));
        let creds = Credentials { client_id: "dingid".into(), client_secret: SecretString::from("app-secret-xyz") };
        assert!(!format!("{creds:?}").contains("app-secret-xyz"));
    }
}
