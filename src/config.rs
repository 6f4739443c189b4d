//! Settings: an optional TOML file, then `DINGMEET_*` environment variables, which win.
//! Loaded once at start; secrets are `SecretString`s that never print.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::bot::i18n::Lang;

/// The environment variable prefix of every setting.
pub const ENV_PREFIX: &str = "DINGMEET_";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// How messages arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Signed HTTP callbacks on `POST /dingtalk/callback`.
    #[default]
    Http,
    /// DingTalk's Stream WebSocket; no callback route is served.
    Stream,
    /// Both at once.
    Both,
}

impl Mode {
    pub fn http(self) -> bool {
        matches!(self, Self::Http | Self::Both)
    }

    pub fn stream(self) -> bool {
        matches!(self, Self::Stream | Self::Both)
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(Self::Http),
            "stream" => Ok(Self::Stream),
            "both" => Ok(Self::Both),
            other => Err(format!("unknown mode {other:?}: use http, stream or both")),
        }
    }
}

/// The kind of DingTalk app the bot runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppType {
    #[default]
    Internal,
    ThirdParty,
}

impl FromStr for AppType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "internal" => Ok(Self::Internal),
            "third_party" | "isv" => Ok(Self::ThirdParty),
            other => Err(format!("unknown app type {other:?}: use internal or third_party")),
        }
    }
}

/// Every setting, with its default. A field named `x` is set by `x = …` in the file or by
/// `DINGMEET_X` in the environment.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The app's AppKey (Client ID); a third-party app's SuiteKey.
    pub client_id: Option<String>,
    /// The app's AppSecret (Client Secret); also verifies callbacks.
    pub client_secret: Option<SecretString>,
    /// More secrets accepted on callbacks while rotating (comma-separated).
    #[serde(deserialize_with = "secret_list")]
    pub callback_secrets: Vec<SecretString>,
    #[serde(deserialize_with = "from_str_or_native")]
    pub listen: SocketAddr,
    pub api_base: String,
    /// Hosts a `sessionWebhook` may point at (any port).
    #[serde(deserialize_with = "string_list")]
    pub webhook_hosts: Vec<String>,
    #[serde(deserialize_with = "from_str_or_native")]
    pub timezone: chrono_tz::Tz,
    #[serde(deserialize_with = "from_str_or_native")]
    pub lang: Lang,
    #[serde(deserialize_with = "from_str_or_native")]
    pub sign_window_secs: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    pub upstream_timeout_ms: u64,
    /// How long a conference lookup is reused (0 turns the cache off).
    #[serde(deserialize_with = "from_str_or_native")]
    pub cache_ttl_secs: u64,
    /// Consecutive failed conference lookups (network, timeout, 5xx, unreadable) of one
    /// organisation after which its lookups pause; 0 turns the circuit breaker off.
    #[serde(deserialize_with = "from_str_or_native")]
    pub circuit_failures: u32,
    /// How long lookups pause before one trial lookup is let through.
    #[serde(deserialize_with = "from_str_or_native")]
    pub circuit_cooldown_ms: u64,
    /// How long a `msgId` is remembered for duplicate detection.
    #[serde(deserialize_with = "from_str_or_native")]
    pub dedupe_ttl_secs: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    pub log_format: LogFormat,
    /// `http`, `stream` or `both`.
    #[serde(deserialize_with = "from_str_or_native")]
    pub mode: Mode,
    /// Stream reconnect backoff: first delay and cap.
    #[serde(deserialize_with = "from_str_or_native")]
    pub stream_backoff_initial_ms: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    pub stream_backoff_max_ms: u64,
    /// Stream liveness: ping after this much silence; give up this long after a ping.
    #[serde(deserialize_with = "from_str_or_native")]
    pub stream_ping_interval_ms: u64,
    #[serde(deserialize_with = "from_str_or_native")]
    pub stream_pong_timeout_ms: u64,
    /// `internal` (an organisation's own app) or `third_party` (one deployment, many organisations).
    #[serde(deserialize_with = "from_str_or_native")]
    pub app_type: AppType,
    /// Third-party apps: `unified` (`/v1.0/oauth2/{corpId}/token`) or `classic` (suite ticket).
    pub corp_token_route: String,
    /// Third-party apps on the classic route: a suite ticket to start with, until DingTalk pushes one.
    pub suite_ticket: Option<SecretString>,
    /// When set, only these conversation ids are answered (comma-separated).
    #[serde(deserialize_with = "string_list")]
    pub allow_conversations: Vec<String>,
    /// When set, only these staff ids are answered (comma-separated).
    #[serde(deserialize_with = "string_list")]
    pub allow_users: Vec<String>,
    /// Redis for state shared by several replicas (`redis://[[user]:password@]host[:port][/db]`,
    /// or `rediss://…` for TLS); unset or empty keeps state in memory.
    pub redis_url: Option<SecretString>,
    /// With `rediss://`: a PEM file of the CA certificate(s) the Redis server's certificate must
    /// chain to, instead of the system roots (a private CA, as Memorystore's). Unset: system roots.
    pub redis_ca_file: Option<PathBuf>,
    /// Prepended to every Redis key, so several bots can share one Redis.
    pub redis_key_prefix: String,
    /// Replies per minute to one conversation (DingTalk throttles beyond 20); 0 turns the limit off.
    #[serde(deserialize_with = "from_str_or_native")]
    pub rate_limit_per_minute: u32,
    /// How long a reply may wait for a free slot under the rate limit before it is dropped.
    #[serde(deserialize_with = "from_str_or_native")]
    pub rate_limit_wait_secs: u64,
    /// How long shutdown waits for replies in flight.
    #[serde(deserialize_with = "from_str_or_native")]
    pub shutdown_grace_secs: u64,
    /// Where the store of record lives (created if missing, mode 0700). Unset: `$STATE_DIRECTORY`
    /// when systemd sets it, else `./dingmeet-data`.
    pub data_dir: Option<PathBuf>,
    /// Whether accepted messages are journaled before they are acknowledged (off only to measure
    /// what the journal costs: a crash then loses what was acknowledged and not yet answered).
    #[serde(deserialize_with = "from_str_or_native")]
    pub journal: bool,
    /// With Redis: how long a journaled message may stay unacknowledged by the replica that
    /// took it before another replica takes it over.
    #[serde(deserialize_with = "from_str_or_native")]
    pub journal_claim_secs: u64,
    /// `interactive`: meeting answers that can still change are interactive cards that update
    /// themselves; `markdown`: every answer is a markdown reply on the session webhook.
    #[serde(deserialize_with = "from_str_or_native")]
    pub cards: CardsMode,
    /// The card template of interactive answers: markdown with buttons (`markdown`, `sys_full_json_obj`).
    pub card_template_id: String,
    /// How often a live card of a meeting in progress is refreshed.
    #[serde(deserialize_with = "from_str_or_native")]
    pub card_refresh_secs: u64,
    /// How long a card stays live: meetings starting within this many hours make it interactive.
    #[serde(deserialize_with = "from_str_or_native")]
    pub card_live_hours: u64,
    /// OpenAPI calls per organisation in a rolling 30 days; background work is paced within it.
    #[serde(deserialize_with = "from_str_or_native")]
    pub monthly_call_budget: u64,
    /// The bot's public base URL (HTTP mode): card button presses are called back at
    /// `{public_url}/dingtalk/card-callback`. Unset: HTTP-mode cards have no Refresh button.
    pub public_url: Option<String>,
}

/// Whether meeting answers may be interactive cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardsMode {
    #[default]
    Interactive,
    Markdown,
}

impl FromStr for CardsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "interactive" => Ok(Self::Interactive),
            "markdown" => Ok(Self::Markdown),
            other => Err(format!("unknown card mode {other:?}: use interactive or markdown")),
        }
    }
}

/// The standard markdown-with-buttons card template.
pub const DEFAULT_CARD_TEMPLATE: &str = "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema";

impl Default for Settings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            callback_secrets: Vec::new(),
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            api_base: "https://api.dingtalk.com".to_owned(),
            webhook_hosts: vec!["oapi.dingtalk.com".to_owned(), "api.dingtalk.com".to_owned()],
            timezone: chrono_tz::Asia::Shanghai,
            lang: Lang::Zh,
            sign_window_secs: 3600,
            upstream_timeout_ms: 5000,
            cache_ttl_secs: 30,
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
            data_dir: None,
            journal: true,
            journal_claim_secs: 30,
            cards: CardsMode::Interactive,
            card_template_id: DEFAULT_CARD_TEMPLATE.to_owned(),
            card_refresh_secs: 600,
            card_live_hours: 24,
            monthly_call_budget: 10_000,
            public_url: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("callback_secrets", &self.callback_secrets.len())
            .field("listen", &self.listen)
            .field("api_base", &self.api_base)
            .field("webhook_hosts", &self.webhook_hosts)
            .field("timezone", &self.timezone)
            .field("lang", &self.lang)
            .field("sign_window_secs", &self.sign_window_secs)
            .field("upstream_timeout_ms", &self.upstream_timeout_ms)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("circuit_failures", &self.circuit_failures)
            .field("circuit_cooldown_ms", &self.circuit_cooldown_ms)
            .field("dedupe_ttl_secs", &self.dedupe_ttl_secs)
            .field("log_format", &self.log_format)
            .field("allow_conversations", &self.allow_conversations)
            .field("allow_users", &self.allow_users)
            .field("mode", &self.mode)
            .field("app_type", &self.app_type)
            .field("corp_token_route", &self.corp_token_route)
            .field("suite_ticket", &self.suite_ticket.as_ref().map(|_| "[redacted]"))
            .field("stream_backoff_initial_ms", &self.stream_backoff_initial_ms)
            .field("stream_backoff_max_ms", &self.stream_backoff_max_ms)
            .field("stream_ping_interval_ms", &self.stream_ping_interval_ms)
            .field("stream_pong_timeout_ms", &self.stream_pong_timeout_ms)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[redacted]"))
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_wait_secs", &self.rate_limit_wait_secs)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("data_dir", &self.data_dir)
            .field("journal", &self.journal)
            .field("journal_claim_secs", &self.journal_claim_secs)
            .field("cards", &self.cards)
            .field("card_template_id", &self.card_template_id)
            .field("card_refresh_secs", &self.card_refresh_secs)
            .field("card_live_hours", &self.card_live_hours)
            .field("monthly_call_budget", &self.monthly_call_budget)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// Why settings could not be loaded; each names the file or variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("{0} is not set: it must hold the DingTalk app's {1}")]
    Missing(&'static str, &'static str),
}

impl Settings {
    /// Reads the optional file, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Reads the optional file, then `vars` (the environment, or a test's), which win.
    pub fn load_from(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env_settings(vars) {
            table.insert(key, toml::Value::String(value));
        }
        Settings::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The client id and secret, or an error naming the missing variable.
    pub fn credentials(&self) -> Result<(String, SecretString), ConfigError> {
        let id = self.client_id.clone().filter(|s| !s.trim().is_empty());
        let id = id.ok_or(ConfigError::Missing("DINGMEET_CLIENT_ID", "AppKey (Client ID)"))?;
        let secret = self.client_secret.clone().filter(|s| !secrecy::ExposeSecret::expose_secret(s).trim().is_empty());
        let secret = secret.ok_or(ConfigError::Missing("DINGMEET_CLIENT_SECRET", "AppSecret (Client Secret)"))?;
        Ok((id, secret))
    }

    /// How a third-party app gets organisation tokens.
    pub fn corp_token_route(&self) -> Result<crate::dingtalk::token::CorpTokenRoute, ConfigError> {
        use crate::dingtalk::token::CorpTokenRoute;
        match self.corp_token_route.trim().to_ascii_lowercase().as_str() {
            "unified" => Ok(CorpTokenRoute::Unified),
            "classic" => Ok(CorpTokenRoute::Classic),
            other => Err(ConfigError::Invalid(format!("corp_token_route {other:?}: use unified or classic"))),
        }
    }

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms.max(1))
    }

    /// The conference API's circuit breaker.
    pub fn circuit_breaker(&self) -> crate::dingtalk::breaker::Policy {
        crate::dingtalk::breaker::Policy {
            failures: self.circuit_failures,
            cool_down: Duration::from_millis(self.circuit_cooldown_ms),
        }
    }

    /// The Redis URL, if one is set and not blank.
    pub fn redis_url(&self) -> Option<&SecretString> {
        self.redis_url.as_ref().filter(|url| !secrecy::ExposeSecret::expose_secret(*url).trim().is_empty())
    }

    /// The Redis CA file, if one is set and not blank.
    pub fn redis_ca_file(&self) -> Option<&Path> {
        self.redis_ca_file.as_deref().filter(|path| !path.to_string_lossy().trim().is_empty())
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The store's directory: `DINGMEET_DATA_DIR`, else the first of systemd's
    /// `$STATE_DIRECTORY` (`StateDirectory=`), else `./dingmeet-data`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir_with(std::env::var_os("STATE_DIRECTORY"))
    }

    fn data_dir_with(&self, state_directory: Option<std::ffi::OsString>) -> PathBuf {
        let set = self.data_dir.as_ref().filter(|path| !path.to_string_lossy().trim().is_empty());
        if let Some(dir) = set {
            return dir.clone();
        }
        let systemd = state_directory.and_then(|dirs| std::env::split_paths(&dirs).find(|d| !d.as_os_str().is_empty()));
        systemd.unwrap_or_else(|| PathBuf::from("dingmeet-data"))
    }

    /// With Redis: how long before another replica takes over an unacknowledged message.
    pub fn journal_claim(&self) -> Duration {
        Duration::from_secs(self.journal_claim_secs.max(1))
    }
}

/// `DINGMEET_FOO_BAR=x` → `("foo_bar", "x")`; an unknown name fails loading, so typos show.
/// The variables Kubernetes and Docker links set for a service named `dingmeet`
/// (`DINGMEET_SERVICE_HOST`, `DINGMEET_PORT_8080_TCP`, …) are not settings and are skipped.
fn env_settings(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let s = Settings::load_from(None, env(&[])).expect("loads");
        assert_eq!(s.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.api_base, "https://api.dingtalk.com");
        assert_eq!(s.webhook_hosts, ["oapi.dingtalk.com", "api.dingtalk.com"]);
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!((s.lang, s.sign_window_secs, s.upstream_timeout_ms), (Lang::Zh, 3600, 5000));
        assert!(s.redis_url().is_none() && s.redis_ca_file().is_none());
        assert_eq!(s.redis_key_prefix, "dingmeet:");
        assert_eq!((s.rate_limit_per_minute, s.rate_limit_wait_secs, s.shutdown_grace_secs), (18, 30, 10));
        assert_eq!(s.circuit_breaker(), crate::dingtalk::breaker::Policy::default());
        assert_eq!((s.circuit_failures, s.circuit_cooldown_ms), (5, 30_000));
    }

    #[test]
    fn the_data_dir_is_the_setting_else_systemds_state_directory_else_beside_the_process() {
        let s = Settings::load_from(None, env(&[])).expect("loads");
        assert_eq!(s.data_dir_with(None), PathBuf::from("dingmeet-data"));
        assert_eq!(
            s.data_dir_with(Some("/var/lib/dingmeet:/var/lib/other".into())),
            PathBuf::from("/var/lib/dingmeet")
        );
        assert!(s.journal && s.journal_claim() == Duration::from_secs(30));
        let s = Settings::load_from(
            None,
            env(&[
                ("DINGMEET_DATA_DIR", "/srv/dm"),
                ("DINGMEET_JOURNAL", "false"),
                ("DINGMEET_JOURNAL_CLAIM_SECS", "5"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.data_dir_with(Some("/var/lib/dingmeet".into())), PathBuf::from("/srv/dm"));
        assert!(!s.journal && s.journal_claim() == Duration::from_secs(5));
    }

    #[test]
    fn circuit_breaker_settings_are_read_from_the_environment() {
        let vars = env(&[("DINGMEET_CIRCUIT_FAILURES", "0"), ("DINGMEET_CIRCUIT_COOLDOWN_MS", "250")]);
        let s = Settings::load_from(None, vars).expect("loads");
        let policy = s.circuit_breaker();
        assert_eq!((policy.failures, policy.cool_down), (0, Duration::from_millis(250)));
    }

    #[test]
    fn redis_rate_limit_and_shutdown_settings_are_read_from_the_environment() {
        let s = Settings::load_from(
            None,
            env(&[
                ("DINGMEET_REDIS_URL", "redis://:pw@127.0.0.1:6390/2"),
                ("DINGMEET_REDIS_KEY_PREFIX", "bot2:"),
                ("DINGMEET_REDIS_CA_FILE", "/etc/dingmeet/redis-ca.pem"),
                ("DINGMEET_RATE_LIMIT_PER_MINUTE", "10"),
                ("DINGMEET_RATE_LIMIT_WAIT_SECS", "5"),
                ("DINGMEET_SHUTDOWN_GRACE_SECS", "3"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.redis_url().map(|u| u.expose_secret()), Some("redis://:pw@127.0.0.1:6390/2"));
        assert_eq!(s.redis_key_prefix, "bot2:");
        assert_eq!(s.redis_ca_file(), Some(Path::new("/etc/dingmeet/redis-ca.pem")));
        assert_eq!((s.rate_limit_per_minute, s.rate_limit_wait_secs), (10, 5));
        assert_eq!(s.shutdown_grace(), Duration::from_secs(3));
        let blank = Settings::load_from(None, env(&[("DINGMEET_REDIS_URL", " "), ("DINGMEET_REDIS_CA_FILE", " ")]))
            .expect("loads");
        assert!(blank.redis_url().is_none(), "a blank URL means no Redis");
        assert!(blank.redis_ca_file().is_none(), "a blank CA file means the system roots");
    }

    #[test]
    fn environment_variables_are_read_as_text_whatever_they_look_like() {
        let s = Settings::load_from(
            None,
            env(&[
                ("DINGMEET_CLIENT_ID", "12345"),
                ("DINGMEET_CLIENT_SECRET", "1e5"),
                ("DINGMEET_WEBHOOK_HOSTS", "a.example, 127.0.0.1"),
                ("DINGMEET_LANG", "en"),
                ("DINGMEET_TIMEZONE", "Europe/Berlin"),
                ("DINGMEET_SIGN_WINDOW_SECS", "300"),
                ("DINGMEET_LISTEN", "127.0.0.1:0"),
                ("OTHER", "ignored"),
            ]),
        )
        .expect("loads");
        let (id, secret) = s.credentials().expect("credentials");
        assert_eq!((id.as_str(), secret.expose_secret()), ("12345", "1e5"));
        assert_eq!(s.webhook_hosts, ["a.example", "127.0.0.1"]);
        assert_eq!((s.lang, s.timezone, s.sign_window_secs), (Lang::En, chrono_tz::Europe::Berlin, 300));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = std::env::temp_dir().join(format!("dingmeet-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("c.toml");
        std::fs::write(&path, "lang = \"en\"\nsign_window_secs = 60\nwebhook_hosts = [\"x.example\"]\n")
            .expect("write");
        let s = Settings::load_from(Some(&path), env(&[("DINGMEET_LANG", "zh")])).expect("loads");
        assert_eq!((s.lang, s.sign_window_secs), (Lang::Zh, 60));
        assert_eq!(s.webhook_hosts, ["x.example"]);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Settings::load_from(None, env(&[("DINGMEET_TIMEZONE", "Mars/Base")])).expect_err("fails");
        assert!(err.to_string().contains("Mars/Base"), "{err}");
        let err = Settings::load_from(None, env(&[("DINGMEET_LISTN", "x")])).expect_err("fails");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn kubernetes_service_link_variables_are_not_settings() {
        let s = Settings::load_from(
            None,
            env(&[
                ("DINGMEET_SERVICE_HOST", "10.0.0.1"),
                ("DINGMEET_SERVICE_PORT", "80"),
                ("DINGMEET_SERVICE_PORT_HTTP", "80"),
                ("DINGMEET_PORT", "tcp://10.0.0.1:80"),
                ("DINGMEET_PORT_80_TCP_ADDR", "10.0.0.1"),
            ]),
        );
        assert!(s.is_ok(), "{:?}", s.err());
    }

    #[test]
    fn missing_credentials_name_the_variable() {
        let s = Settings::load_from(None, env(&[("DINGMEET_CLIENT_ID", "ding1")])).expect("loads");
        assert!(s.credentials().expect_err("missing").to_string().starts_with("DINGMEET_CLIENT_SECRET is not set"));
        let s = Settings::load_from(None, env(&[])).expect("loads");
        assert!(s.credentials().expect_err("missing").to_string().starts_with("DINGMEET_CLIENT_ID is not set"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings::load_from(
            None,
            env(&[
                ("DINGMEET_CLIENT_SECRET", "very-secret"),
                ("DINGMEET_CALLBACK_SECRETS", "old-secret"),
                ("DINGMEET_REDIS_URL", "redis://:redis-pass@cache:6379"),
            ]),
        )
        .expect("loads");
        let text = format!("{s:?}");
        assert!(!text.contains("very-secret") && !text.contains("old-secret"), "{text}");
        assert!(!text.contains("redis-pass"), "{text}");
    }
}
