//! Access tokens, cached per organisation until shortly before they expire, and fetched once
//! however many callers race for one. An internal app has one token (`POST
//! /v1.0/oauth2/accessToken`); a third-party app has one per installing organisation, from the
//! unified `POST /v1.0/oauth2/{corpId}/token` or the classic `corpAccessToken` with a suite ticket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::call_purpose::{Calls, Purpose};
use super::declaration::Declaration;
use super::endpoints::{ACCESS_TOKEN, CORP_ACCESS_TOKEN, CORP_TOKEN};
use super::error::ApiError;
use super::http;
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

    /// The token's text, for the OpenAPI client's header or query parameter only.
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

/// Which kind of app the bot runs as, and so how it gets tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppKind {
    /// An organisation's own app: one token from AppKey/AppSecret.
    #[default]
    Internal,
    /// A third-party enterprise app: one token per organisation, by `route`.
    ThirdParty(CorpTokenRoute),
}

/// How a third-party app gets an organisation's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CorpTokenRoute {
    /// `POST /v1.0/oauth2/{corpId}/token`, `client_credentials`; no ticket needed.
    #[default]
    Unified,
    /// `POST /v1.0/oauth2/corpAccessToken` with the newest suite ticket.
    Classic,
}

/// Where a third-party app's suite tickets are kept (the state store, shared by replicas).
pub trait SuiteTicketSource: Send + Sync {
    /// The tickets worth trying, best first: the newest DingTalk pushed, then the configured seed.
    fn candidates(&self) -> futures_util::future::BoxFuture<'_, Vec<SecretString>>;
    /// Keeps a ticket DingTalk just pushed; it replaces any older one.
    fn remember(&self, ticket: &str) -> futures_util::future::BoxFuture<'_, ()>;
}

/// Hands out cached access tokens.
#[derive(Clone)]
pub struct TokenProvider {
    http: reqwest::Client,
    api_base: String,
    credentials: Credentials,
    kind: AppKind,
    tickets: Option<Arc<dyn SuiteTicketSource>>,
    cache: moka::future::Cache<String, AccessToken>,
    metrics: Arc<Metrics>,
    calls: Calls,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("api_base", &self.api_base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// `{"accessToken","expireIn"}` (camelCase) or, from the unified endpoint,
/// `{"access_token","expires_in"}` (snake_case).
#[derive(Deserialize)]
struct AccessTokenResponse {
    #[serde(alias = "accessToken")]
    access_token: Option<String>,
    #[serde(
        alias = "expireIn",
        alias = "expires_in",
        default,
        deserialize_with = "crate::dingtalk::loose_json::opt_i64"
    )]
    expire_in: Option<i64>,
}

impl TokenProvider {
    pub fn new(http: reqwest::Client, api_base: &str, credentials: Credentials, metrics: Arc<Metrics>) -> Self {
        let cache =
            moka::future::Cache::builder().max_capacity(MAX_ORGANISATIONS).expire_after(ExpireByLifetime).build();
        let api_base = api_base.trim_end_matches('/').to_owned();
        Self {
            http,
            api_base,
            credentials,
            kind: AppKind::Internal,
            tickets: None,
            cache,
            metrics,
            calls: Calls::default(),
        }
    }

    /// Runs as a third-party app: tokens per organisation, by `route`, with tickets from `tickets`.
    #[must_use]
    pub fn third_party(mut self, route: CorpTokenRoute, tickets: Arc<dyn SuiteTicketSource>) -> Self {
        self.kind = AppKind::ThirdParty(route);
        self.tickets = Some(tickets);
        self
    }

    /// Counts every OpenAPI call made with this provider's tokens (the clients sharing it count
    /// through [`Self::calls`]).
    #[must_use]
    pub fn with_calls(mut self, calls: Calls) -> Self {
        self.calls = calls;
        self
    }

    /// Where the clients using these tokens count their calls.
    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    pub fn kind(&self) -> AppKind {
        self.kind
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// Keeps a suite ticket DingTalk pushed (a third-party app's; an internal app has no use for
    /// one). Returns whether it was kept.
    pub async fn remember_suite_ticket(&self, ticket: &str) -> bool {
        match &self.tickets {
            Some(tickets) => {
                tickets.remember(ticket).await;
                true
            }
            None => false,
        }
    }

    /// The token for organisation `corp` (ignored by an internal app), from the cache or from
    /// DingTalk (one fetch for all concurrent callers).
    pub async fn token(&self, corp: Option<&str>) -> Result<AccessToken, ApiError> {
        let key = self.key(corp)?;
        let fetch = async {
            self.calls.record(corp, "token", Purpose::Token);
            self.fetch(&key).await
        };
        let fetched = self.cache.try_get_with_by_ref(&key, fetch).await;
        fetched.map_err(|err| (*err).clone())
    }

    /// Drops the cached token, after DingTalk refused it or the organisation removed the app.
    pub async fn invalidate(&self, corp: Option<&str>) {
        if let Ok(key) = self.key(corp) {
            self.cache.invalidate(&key).await;
        }
    }

    fn key(&self, corp: Option<&str>) -> Result<String, ApiError> {
        match self.kind {
            AppKind::Internal => Ok(String::new()),
            AppKind::ThirdParty(_) => corp
                .filter(|c| c.bytes().any(|b| b.is_ascii_alphanumeric()))
                .map(str::to_owned)
                .ok_or(ApiError::NoOrganisation),
        }
    }

    async fn fetch(&self, corp: &str) -> Result<AccessToken, ApiError> {
        let secret = self.credentials.client_secret.expose_secret();
        let id = &self.credentials.client_id;
        let result = match self.kind {
            AppKind::Internal => {
                self.request(&ACCESS_TOKEN, &[], &serde_json::json!({ "appKey": id, "appSecret": secret })).await
            }
            AppKind::ThirdParty(CorpTokenRoute::Unified) => {
                // The corp id comes from the message: the declaration keeps it one path segment.
                let body =
                    serde_json::json!({ "client_id": id, "client_secret": secret, "grant_type": "client_credentials" });
                self.request(&CORP_TOKEN, &[corp], &body).await
            }
            AppKind::ThirdParty(CorpTokenRoute::Classic) => self.fetch_with_ticket(corp).await,
        };
        match &result {
            Ok(_) => tracing::info!(corp, "fetched a new access token"),
            Err(ApiError::SuiteTicket { code }) => tracing::warn!(
                corp,
                %code,
                "no usable suite ticket: waiting for DingTalk's suite_ticket push over the Stream (every few hours; \
                 or set DINGMEET_SUITE_TICKET)"
            ),
            Err(err) => tracing::warn!(corp, %err, "could not fetch an access token"),
        }
        result
    }

    /// The classic route: each known ticket, newest first, until DingTalk takes one.
    async fn fetch_with_ticket(&self, corp: &str) -> Result<AccessToken, ApiError> {
        let candidates = match &self.tickets {
            Some(tickets) => tickets.candidates().await,
            None => Vec::new(),
        };
        let mut result = Err(ApiError::SuiteTicket { code: "noSuiteTicket".to_owned() });
        if candidates.is_empty() {
            self.metrics.token_fetch("no_suite_ticket");
        }
        for ticket in &candidates {
            let body = serde_json::json!({
                "suiteKey": self.credentials.client_id,
                "suiteSecret": self.credentials.client_secret.expose_secret(),
                "authCorpId": corp,
                "suiteTicket": ticket.expose_secret(),
            });
            result = self.request(&CORP_ACCESS_TOKEN, &[], &body).await;
            if !matches!(result, Err(ApiError::SuiteTicket { .. })) {
                break;
            }
        }
        result
    }

    /// One token request, measured. Not through the OpenAPI client: it carries the app's
    /// credentials rather than a token.
    async fn request(
        &self,
        endpoint: &'static Declaration,
        path_params: &[&str],
        body: &serde_json::Value,
    ) -> Result<AccessToken, ApiError> {
        let started = Instant::now();
        let request = self.http.request(endpoint.verb.method(), endpoint.url(&self.api_base, path_params)).json(body);
        let result = http::send_json::<AccessTokenResponse>(request).await.and_then(|answer| {
            let token = answer
                .access_token
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::Decode("no access token in the answer".into()))?;
            Ok(AccessToken::new(token, lifetime(answer.expire_in)))
        });
        let outcome = result.as_ref().map_or_else(ApiError::kind, |_| "ok");
        self.metrics.upstream(endpoint.name, outcome, started.elapsed());
        self.metrics.token_fetch(outcome);
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

    struct NoTickets;

    impl SuiteTicketSource for NoTickets {
        fn candidates(&self) -> futures_util::future::BoxFuture<'_, Vec<SecretString>> {
            Box::pin(async { Vec::new() })
        }
        fn remember(&self, _: &str) -> futures_util::future::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    #[test]
    fn a_third_party_app_needs_a_corp_id_with_a_letter_or_digit() {
        let creds = Credentials { client_id: "suite".into(), client_secret: SecretString::from("s") };
        let http = http::http_client(Duration::from_secs(1));
        let tokens = TokenProvider::new(http, "http://127.0.0.1:9", creds, Arc::new(Metrics::new()))
            .third_party(CorpTokenRoute::Unified, Arc::new(NoTickets));
        for corp in [None, Some(""), Some(".."), Some("/"), Some(" ")] {
            assert_eq!(tokens.key(corp), Err(ApiError::NoOrganisation), "{corp:?}");
        }
        assert_eq!(tokens.key(Some("dingabc")), Ok("dingabc".to_owned()));
    }

    #[test]
    fn debug_output_hides_tokens_and_secrets() {
        let token = AccessToken::new("tok-123-secret".into(), Duration::from_secs(1));
        assert!(!format!("{token:?}").contains("tok-123"));
        let creds = Credentials { client_id: "dingid".into(), client_secret: SecretString::from("app-secret-xyz") };
        assert!(!format!("{creds:?}").contains("app-secret-xyz"));
    }
}
