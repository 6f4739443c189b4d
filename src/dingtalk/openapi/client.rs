//! [`OpenApi`]: the one call path of every request to DingTalk's OpenAPI. It owns the
//! organisation's token and where it goes, the typed bodies, both error styles, the single
//! retry with a fresh token, the short wait DingTalk's rate limits ask for, the call counts,
//! metrics and a span per call.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::breaker::{Circuits, Policy};
use super::declaration::{Auth, Endpoint, Host};
use super::error::ApiError;
use super::token::TokenProvider;
use crate::telemetry::Metrics;

/// The new-style APIs' token header (a token in the query is refused there).
pub(super) const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";
/// The old-style APIs' token query parameter.
const TOKEN_PARAMETER: &str = "access_token";
/// The longest wait a rate limit may impose on a call before it is tried once more; a longer
/// one is the caller's to handle (the error carries it).
const LONGEST_WAIT: Duration = Duration::from_secs(2);

/// Where DingTalk's two OpenAPI styles are served.
#[derive(Debug, Clone, Copy)]
pub struct Bases<'a> {
    /// `DINGMEET_API_BASE`.
    pub api: &'a str,
    /// `DINGMEET_OAPI_BASE`.
    pub oapi: &'a str,
}

/// Calls DingTalk's OpenAPI with an organisation's token.
#[derive(Clone)]
pub struct OpenApi {
    http: reqwest::Client,
    api_base: String,
    oapi_base: String,
    tokens: TokenProvider,
    pub(super) metrics: Arc<Metrics>,
    /// Per organisation: pauses lookups while DingTalk keeps failing (see [`Self::guarded`]).
    pub(super) circuits: Arc<Circuits>,
    missing: Arc<MissingPermissions>,
    /// A rate limit's wait up to this long is waited out and the call tried once more.
    longest_wait: Duration,
}

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApi").field("api_base", &self.api_base).field("oapi_base", &self.oapi_base).finish()
    }
}

impl OpenApi {
    /// `timeout` is each request's (the HTTP client's): a rate limit's wait is only waited out
    /// when it is under half of it (and at most [`LONGEST_WAIT`]).
    pub fn new(
        http: reqwest::Client,
        bases: Bases<'_>,
        tokens: TokenProvider,
        metrics: Arc<Metrics>,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            api_base: bases.api.trim_end_matches('/').to_owned(),
            oapi_base: bases.oapi.trim_end_matches('/').to_owned(),
            tokens,
            metrics,
            circuits: Arc::new(Circuits::new(Policy::default())),
            missing: Arc::default(),
            longest_wait: (timeout / 2).min(LONGEST_WAIT),
        }
    }

    /// Lookups pause by `policy` while DingTalk keeps failing them.
    #[must_use]
    pub fn with_breaker(mut self, policy: Policy) -> Self {
        self.circuits = Arc::new(Circuits::new(policy));
        self
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// Calls `request`'s endpoint for organisation `corp`. A refused token is dropped and the call
    /// made once more with a new one; a short rate-limit wait is waited out once.
    pub async fn call<E: Endpoint>(&self, corp: Option<&str>, request: &E) -> Result<E::Response, ApiError> {
        let declaration = E::DECLARATION;
        let span = tracing::info_span!("openapi", endpoint = declaration.name, org = corp.unwrap_or_default());
        async {
            let mut result = self.call_within_limits(corp, request).await;
            if let Err(ApiError::InvalidToken { code }) = &result
                && declaration.auth == Auth::OrgToken
            {
                tracing::warn!(%code, "DingTalk refused the cached access token; fetching a new one");
                self.tokens.invalidate(corp).await;
                result = self.call_within_limits(corp, request).await;
            }
            if let Err(ApiError::NoPermission { scopes, .. }) = &mut result {
                if scopes.is_empty() {
                    scopes.extend(declaration.permission.map(str::to_owned));
                }
                self.missing.note(corp.unwrap_or_default(), scopes, &self.metrics);
            }
            result
        }
        .instrument(span)
        .await
    }

    /// One call; when DingTalk throttles it with a wait short enough, once more after the wait.
    async fn call_within_limits<E: Endpoint>(&self, corp: Option<&str>, request: &E) -> Result<E::Response, ApiError> {
        let result = self.send(corp, request).await;
        let Err(ApiError::Throttled { code, retry_after_ms: Some(wait_ms) }) = &result else { return result };
        let wait = Duration::from_millis(*wait_ms);
        if wait > self.longest_wait {
            return result;
        }
        tracing::info!(%code, wait_ms, "DingTalk asked to slow down; trying once more after its wait");
        tokio::time::sleep(wait).await;
        self.send(corp, request).await
    }

    async fn send<E: Endpoint>(&self, corp: Option<&str>, request: &E) -> Result<E::Response, ApiError> {
        let declaration = E::DECLARATION;
        let token = match declaration.auth {
            Auth::OrgToken => Some(self.tokens.token(corp).await?),
            Auth::Credentials => None,
        };
        let base = match declaration.host {
            Host::Api => &self.api_base,
            Host::Oapi => &self.oapi_base,
        };
        let mut builder = self.http.request(declaration.verb.method(), declaration.url(base, &request.path_params()));
        builder = match (&token, declaration.host) {
            (Some(token), Host::Api) => builder.header(TOKEN_HEADER, token.expose()),
            (Some(token), Host::Oapi) => builder.query(&[(TOKEN_PARAMETER, token.expose())]),
            (None, _) => builder,
        };
        builder = if declaration.verb.has_query_fields() { builder.query(request) } else { builder.json(request) };
        let started = Instant::now();
        self.tokens.calls().record(corp, declaration.name, declaration.purpose);
        let result = exchange(builder, declaration.host).await;
        self.metrics.upstream(
            declaration.name,
            result.as_ref().map_or_else(ApiError::kind, |_| "ok"),
            started.elapsed(),
        );
        result
    }
}

/// Sends `request` and reads its answer in `host`'s style.
async fn exchange<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder, host: Host) -> Result<T, ApiError> {
    let response = request.send().await.map_err(|e| ApiError::from_reqwest(&e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|secs| secs.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(|e| ApiError::from_reqwest(&e))?;
    if !status.is_success() {
        return Err(ApiError::from_response(status.as_u16(), retry_after, &body));
    }
    if host == Host::Oapi
        && let Some(err) = ApiError::from_errcode(&body)
    {
        return Err(err);
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))
}

/// The permissions organisations were found to lack, so each is logged and counted once.
#[derive(Debug, Default)]
struct MissingPermissions(Mutex<HashSet<(String, String)>>);

impl MissingPermissions {
    fn note(&self, org: &str, scopes: &[String], metrics: &Metrics) {
        for scope in scopes {
            let first = self.0.lock().unwrap_or_else(PoisonError::into_inner).insert((org.to_owned(), scope.clone()));
            if first {
                tracing::warn!(
                    corp = org,
                    %scope,
                    "the app lacks a permission DingTalk requires (named once per organisation); an administrator \
                     grants it in DingTalk's developer console"
                );
                metrics.operations().permission_missing(scope);
            }
        }
    }
}
