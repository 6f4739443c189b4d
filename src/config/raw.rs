//! Settings as they are written: one flat table of `snake_case` names, from the optional TOML
//! file and the `DINGMEET_*` environment (which wins), each with its default. [`Raw::typed`] is
//! the one place they are converted, clamped and checked into [`Settings`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use super::{
    AnswerSettings, AppSettings, AppType, CardSettings, CardsMode, ConfigError, DEFAULT_CARD_TEMPLATE,
    DingTalkSettings, ENV_PREFIX, EventPush, LogFormat, Mode, ServerSettings, Settings, StateSettings, StreamSettings,
};
use crate::dingtalk::openapi::breaker::Policy;
use crate::dingtalk::openapi::token::CorpTokenRoute;
use crate::lang::Lang;

/// Every setting as it is written, flat, with its default. A field named `x` is set by `x = …`
/// in the file or by `DINGMEET_X` in the environment.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct Raw {
    /// The app's AppKey (Client ID); a third-party app's SuiteKey.
    client_id: Option<String>,
    /// The app's AppSecret (Client Secret); also verifies callbacks.
    client_secret: Option<SecretString>,
    /// More secrets accepted on callbacks while rotating (comma-separated).
    #[serde(deserialize_with = "secret_list")]
    callback_secrets: Vec<SecretString>,
    /// The event subscription's token (the developer console's 签名 token): with
    /// `event_aes_key`, `POST /dingtalk/events` takes DingTalk's encrypted event pushes.
    event_token: Option<SecretString>,
    /// The event subscription's 43-character aes_key (the console's 加密 aes_key).
    event_aes_key: Option<SecretString>,
    #[serde(deserialize_with = "from_str_or_native")]
    listen: SocketAddr,
    api_base: String,
    /// DingTalk's old-style OpenAPI (`oapi.dingtalk.com`: `access_token` in the query, `errcode` answers).
    oapi_base: String,
    /// Hosts a `sessionWebhook` may point at (any port).
    #[serde(deserialize_with = "string_list")]
    webhook_hosts: Vec<String>,
    #[serde(deserialize_with = "from_str_or_native")]
    timezone: chrono_tz::Tz,
    #[serde(deserialize_with = "from_str_or_native")]
    lang: Lang,
    #[serde(deserialize_with = "from_str_or_native")]
    sign_window_secs: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    upstream_timeout_ms: u64,
    /// How long a conference lookup is reused (0 turns the cache off).
    #[serde(deserialize_with = "from_str_or_native")]
    cache_ttl_secs: u64,
    /// How many days a `/remind` lives (its code looked up again daily meanwhile).
    #[serde(deserialize_with = "from_str_or_native")]
    remind_days: u32,
    /// Consecutive failed conference lookups (network, timeout, 5xx, unreadable) of one
    /// organisation after which its lookups pause; 0 turns the circuit breaker off.
    #[serde(deserialize_with = "from_str_or_native")]
    circuit_failures: u32,
    /// How long lookups pause before one trial lookup is let through.
    #[serde(deserialize_with = "from_str_or_native")]
    circuit_cooldown_ms: u64,
    /// How long a `msgId` is remembered for duplicate detection.
    #[serde(deserialize_with = "from_str_or_native")]
    dedupe_ttl_secs: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    log_format: LogFormat,
    /// `http`, `stream` or `both`.
    #[serde(deserialize_with = "from_str_or_native")]
    mode: Mode,
    /// Stream reconnect backoff: first delay and cap.
    #[serde(deserialize_with = "from_str_or_native")]
    stream_backoff_initial_ms: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    stream_backoff_max_ms: u64,
    /// Stream liveness: ping after this much silence; give up this long after a ping.
    #[serde(deserialize_with = "from_str_or_native")]
    stream_ping_interval_ms: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    stream_pong_timeout_ms: u64,
    /// `internal` (an organisation's own app) or `third_party` (one deployment, many organisations).
    #[serde(deserialize_with = "from_str_or_native")]
    app_type: AppType,
    /// Third-party apps: `unified` (`/v1.0/oauth2/{corpId}/token`) or `classic` (suite ticket).
    corp_token_route: String,
    /// Third-party apps on the classic route: a suite ticket to start with, until DingTalk pushes one.
    suite_ticket: Option<SecretString>,
    /// When set, only these conversation ids are answered (comma-separated).
    #[serde(deserialize_with = "string_list")]
    allow_conversations: Vec<String>,
    /// When set, only these staff ids are answered (comma-separated).
    #[serde(deserialize_with = "string_list")]
    allow_users: Vec<String>,
    /// Redis for state shared by several replicas (`redis://[[user]:password@]host[:port][/db]`,
    /// or `rediss://…` for TLS); unset or empty keeps state in memory.
    redis_url: Option<SecretString>,
    /// With `rediss://`: a PEM file of the CA certificate(s) the Redis server's certificate must
    /// chain to, instead of the system roots (a private CA, as Memorystore's). Unset: system roots.
    redis_ca_file: Option<PathBuf>,
    /// Prepended to every Redis key, so several bots can share one Redis.
    redis_key_prefix: String,
    /// Replies per minute to one conversation (DingTalk throttles beyond 20); 0 turns the limit off.
    #[serde(deserialize_with = "from_str_or_native")]
    rate_limit_per_minute: u32,
    /// How long a reply may wait for a free slot under the rate limit before it is dropped.
    #[serde(deserialize_with = "from_str_or_native")]
    rate_limit_wait_secs: u64,
    /// How long shutdown waits for replies in flight.
    #[serde(deserialize_with = "from_str_or_native")]
    shutdown_grace_secs: u64,
    /// How long a client may take to send a request's headers.
    #[serde(deserialize_with = "from_str_or_native")]
    http_header_timeout_secs: u64,
    /// How long a request's body may take to arrive after its headers (then 408).
    #[serde(deserialize_with = "from_str_or_native")]
    http_body_timeout_secs: u64,
    /// How long a keep-alive connection may wait for its next request.
    #[serde(deserialize_with = "from_str_or_native")]
    http_idle_timeout_secs: u64,
    /// Open HTTP connections at most; 0 derives it from the open-files limit.
    #[serde(deserialize_with = "from_str_or_native")]
    http_max_connections: u64,
    /// Where the store of record lives (created if missing, mode 0700). Unset: `$STATE_DIRECTORY`
    /// when systemd sets it, else `./dingmeet-data`.
    data_dir: Option<PathBuf>,
    /// Whether accepted messages are journaled before they are acknowledged (off only to measure
    /// what the journal costs: a crash then loses what was acknowledged and not yet answered).
    #[serde(deserialize_with = "from_str_or_native")]
    journal: bool,
    /// With Redis: how long a journaled message may stay unacknowledged by the replica that
    /// took it before another replica takes it over.
    #[serde(deserialize_with = "from_str_or_native")]
    journal_claim_secs: u64,
    /// `interactive`: meeting answers that can still change are interactive cards that update
    /// themselves; `markdown`: every answer is a markdown reply on the session webhook.
    #[serde(deserialize_with = "from_str_or_native")]
    cards: CardsMode,
    /// The card template of interactive answers: markdown with buttons (`markdown`, `sys_full_json_obj`).
    card_template_id: String,
    /// How often a live card of a meeting in progress is refreshed.
    #[serde(deserialize_with = "from_str_or_native")]
    card_refresh_secs: u64,
    /// The least time between two updates of one card for people joining or leaving its
    /// meeting (the last count always lands).
    #[serde(deserialize_with = "from_str_or_native")]
    card_member_update_secs: u64,
    /// How long a card stays live: meetings starting within this many hours make it interactive.
    #[serde(deserialize_with = "from_str_or_native")]
    card_live_hours: u64,
    /// OpenAPI calls per organisation in a rolling 30 days; background work is paced within it.
    #[serde(deserialize_with = "from_str_or_native")]
    monthly_call_budget: u64,
    /// The bot's public base URL (HTTP mode): card button presses are called back at
    /// `{public_url}/dingtalk/card-callback`. Unset: HTTP-mode cards have no Refresh button.
    public_url: Option<String>,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            callback_secrets: Vec::new(),
            event_token: None,
            event_aes_key: None,
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            api_base: "https://api.dingtalk.com".to_owned(),
            oapi_base: "https://oapi.dingtalk.com".to_owned(),
            webhook_hosts: vec!["oapi.dingtalk.com".to_owned(), "api.dingtalk.com".to_owned()],
            timezone: chrono_tz::Asia::Shanghai,
            lang: Lang::Zh,
            sign_window_secs: 3600,
            upstream_timeout_ms: 5000,
            cache_ttl_secs: 30,
            remind_days: 30,
            circuit_failures: 5,
            circuit_cooldown_ms: 30_000,
            dedupe_ttl_secs: 600,
            log_format: LogFormat::Text,
            allow_conversations: Vec::new(),
            allow_users: Vec::new(),
            mode: Mode::Http,
            app_type: AppType::Internal,
            corp_token_route: "unified".to_owned(),
            suite_ticket: None,
            stream_backoff_initial_ms: 1000,
            stream_backoff_max_ms: 60_000,
            stream_ping_interval_ms: 30_000,
            stream_pong_timeout_ms: 10_000,
            redis_url: None,
            redis_ca_file: None,
            redis_key_prefix: "dingmeet:".to_owned(),
            rate_limit_per_minute: 18,
            rate_limit_wait_secs: 30,
            shutdown_grace_secs: 10,
            http_header_timeout_secs: 5,
            http_body_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            http_max_connections: 0,
            data_dir: None,
            journal: true,
            journal_claim_secs: 30,
            cards: CardsMode::Interactive,
            card_template_id: DEFAULT_CARD_TEMPLATE.to_owned(),
            card_refresh_secs: 600,
            card_member_update_secs: 60,
            card_live_hours: 24,
            monthly_call_budget: 10_000,
            public_url: None,
        }
    }
}

impl Raw {
    /// The settings, typed: durations from their units, the documented floors applied, blank
    /// values read as unset, and the corp token route checked.
    pub(super) fn typed(self) -> Result<Settings, ConfigError> {
        let blank_secret = |s: &SecretString| s.expose_secret().trim().is_empty();
        Ok(Settings {
            app: AppSettings {
                client_id: self.client_id.filter(|id| !id.trim().is_empty()),
                client_secret: self.client_secret.filter(|s| !blank_secret(s)),
                app_type: self.app_type,
                corp_token_route: corp_token_route(&self.corp_token_route)?,
                suite_ticket: self.suite_ticket,
            },
            server: ServerSettings {
                listen: self.listen,
                mode: self.mode,
                callback_secrets: self.callback_secrets,
                events: event_push(self.event_token, self.event_aes_key)?,
                sign_window: Duration::from_secs(self.sign_window_secs),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
                log_format: self.log_format,
                http_header_timeout: Duration::from_secs(self.http_header_timeout_secs.max(1)),
                http_body_timeout: Duration::from_secs(self.http_body_timeout_secs.max(1)),
                http_idle_timeout: Duration::from_secs(self.http_idle_timeout_secs.max(1)),
                http_max_connections: self.http_max_connections,
            },
            dingtalk: DingTalkSettings {
                api_base: self.api_base,
                oapi_base: self.oapi_base,
                webhook_hosts: self.webhook_hosts,
                timeout: Duration::from_millis(self.upstream_timeout_ms.max(1)),
                cache_ttl: Duration::from_secs(self.cache_ttl_secs),
                circuit_breaker: Policy {
                    failures: self.circuit_failures,
                    cool_down: Duration::from_millis(self.circuit_cooldown_ms),
                },
                monthly_call_budget: self.monthly_call_budget,
            },
            answers: AnswerSettings {
                lang: self.lang,
                timezone: self.timezone,
                allow_conversations: self.allow_conversations,
                allow_users: self.allow_users,
                remind_days: self.remind_days,
            },
            state: StateSettings {
                redis_url: self.redis_url.filter(|url| !blank_secret(url)),
                redis_ca_file: self.redis_ca_file.filter(|path| !path.to_string_lossy().trim().is_empty()),
                redis_key_prefix: self.redis_key_prefix,
                dedupe_ttl: Duration::from_secs(self.dedupe_ttl_secs.max(1)),
                rate_limit_per_minute: self.rate_limit_per_minute,
                rate_limit_wait: Duration::from_secs(self.rate_limit_wait_secs),
                data_dir: data_dir(self.data_dir, std::env::var_os("STATE_DIRECTORY")),
                journal: self.journal,
                journal_claim: Duration::from_secs(self.journal_claim_secs.max(1)),
            },
            stream: StreamSettings {
                backoff_initial: Duration::from_millis(self.stream_backoff_initial_ms.max(1)),
                backoff_max: Duration::from_millis(self.stream_backoff_max_ms.max(1)),
                ping_interval: Duration::from_millis(self.stream_ping_interval_ms.max(10)),
                pong_timeout: Duration::from_millis(self.stream_pong_timeout_ms.max(10)),
            },
            cards: CardSettings {
                mode: self.cards,
                template_id: self.card_template_id,
                refresh: Duration::from_secs(self.card_refresh_secs.max(1)),
                member_update: Duration::from_secs(self.card_member_update_secs),
                live: Duration::from_secs(self.card_live_hours.saturating_mul(3600)),
                public_url: self.public_url.filter(|url| !url.trim().is_empty()),
            },
        })
    }
}

/// The event push settings: both or neither, the aes_key as the console makes it.
fn event_push(token: Option<SecretString>, aes_key: Option<SecretString>) -> Result<Option<EventPush>, ConfigError> {
    let set = |s: Option<SecretString>| s.filter(|s| !s.expose_secret().trim().is_empty());
    match (set(token), set(aes_key)) {
        (None, None) => Ok(None),
        (Some(token), Some(aes_key)) => {
            crate::dingtalk::callback_crypto::check_aes_key(&aes_key)
                .map_err(|err| ConfigError::Invalid(format!("DINGMEET_EVENT_AES_KEY: {err}")))?;
            Ok(Some(EventPush { token, aes_key }))
        }
        (Some(_), None) => Err(ConfigError::Invalid(
            "DINGMEET_EVENT_TOKEN is set but DINGMEET_EVENT_AES_KEY is not: event pushes need both (the console's token and aes_key)".into(),
        )),
        (None, Some(_)) => Err(ConfigError::Invalid(
            "DINGMEET_EVENT_AES_KEY is set but DINGMEET_EVENT_TOKEN is not: event pushes need both (the console's token and aes_key)".into(),
        )),
    }
}

fn corp_token_route(text: &str) -> Result<CorpTokenRoute, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "unified" => Ok(CorpTokenRoute::Unified),
        "classic" => Ok(CorpTokenRoute::Classic),
        other => Err(ConfigError::Invalid(format!("corp_token_route {other:?}: use unified or classic"))),
    }
}

/// `DINGMEET_FOO_BAR=x` → `("foo_bar", "x")`; an unknown name fails loading, so typos show.
/// The variables Kubernetes and Docker links set for a service named `dingmeet`
/// (`DINGMEET_SERVICE_HOST`, `DINGMEET_PORT_8080_TCP`, …) are not settings and are skipped.
pub(super) fn env_settings(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase(), value)))
        .filter(|(key, _)| !is_service_link(key))
        .collect()
}

fn is_service_link(key: &str) -> bool {
    key == "service_host" || key.starts_with("service_port") || key == "port" || key.starts_with("port_")
}

/// Parses a string (environment variables are strings) or a native TOML number or bool.
fn from_str_or_native<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => s,
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(n) => n.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!("expected a string or a number, found {}", other.type_str())));
        }
    };
    text.trim().parse().map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
}

/// Accepts `"a, b"` or `["a", "b"]`.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::One(s) => s.split(',').map(str::to_owned).collect(),
        List::Many(v) => v,
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

fn secret_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(string_list(d)?.into_iter().map(SecretString::from).collect())
}

/// The store's directory: `DINGMEET_DATA_DIR`, else the first of systemd's `$STATE_DIRECTORY`
/// (`StateDirectory=`), else `./dingmeet-data`.
pub(super) fn data_dir(set: Option<PathBuf>, state_directory: Option<std::ffi::OsString>) -> PathBuf {
    if let Some(dir) = set.filter(|path| !path.to_string_lossy().trim().is_empty()) {
        return dir;
    }
    let systemd = state_directory.and_then(|dirs| std::env::split_paths(&dirs).find(|d| !d.as_os_str().is_empty()));
    systemd.unwrap_or_else(|| PathBuf::from("dingmeet-data"))
}
