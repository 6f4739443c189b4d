//! Settings: an optional TOML file, then `DINGMEET_*` environment variables, which win.
//! Loaded once at start, into typed sections (durations as `Duration`s, choices as enums);
//! the flat names and their defaults are in [`raw`], the only place they are converted.
//! Secrets are `SecretString`s, whose `Debug` prints no secret.

mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::dingtalk::breaker::Policy;
use crate::dingtalk::token::CorpTokenRoute;
use crate::lang::Lang;

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

/// Every setting, by concern.
#[derive(Debug, Clone)]
pub struct Settings {
    pub app: AppSettings,
    pub server: ServerSettings,
    pub dingtalk: DingTalkSettings,
    pub answers: AnswerSettings,
    pub state: StateSettings,
    pub stream: StreamSettings,
}

/// Which DingTalk app the bot is.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// The app's AppKey (Client ID); a third-party app's SuiteKey.
    pub client_id: Option<String>,
    /// The app's AppSecret (Client Secret); also verifies callbacks.
    pub client_secret: Option<SecretString>,
    /// An organisation's own app, or a third-party app serving many.
    pub app_type: AppType,
    /// How a third-party app gets organisation tokens.
    pub corp_token_route: CorpTokenRoute,
    /// Third-party apps on the classic route: a suite ticket to start with, until DingTalk pushes one.
    pub suite_ticket: Option<SecretString>,
}

/// How messages arrive, and the process around them.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub mode: Mode,
    /// More secrets accepted on callbacks while rotating.
    pub callback_secrets: Vec<SecretString>,
    /// How far a callback's `timestamp` may be from now.
    pub sign_window: Duration,
    /// How long shutdown waits for replies in flight.
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
}

/// Calls to DingTalk.
#[derive(Debug, Clone)]
pub struct DingTalkSettings {
    pub api_base: String,
    /// Hosts a `sessionWebhook` may point at (any port).
    pub webhook_hosts: Vec<String>,
    /// Every upstream call's timeout (at least 1 ms); also the Stream handshake's.
    pub timeout: Duration,
    /// How long a conference lookup is reused (zero turns the cache off).
    pub cache_ttl: Duration,
    pub circuit_breaker: Policy,
}

/// What answers look like, and to whom.
#[derive(Debug, Clone)]
pub struct AnswerSettings {
    pub lang: Lang,
    pub timezone: chrono_tz::Tz,
    /// When not empty, only these conversation ids are answered.
    pub allow_conversations: Vec<String>,
    /// When not empty, only these staff ids are answered.
    pub allow_users: Vec<String>,
}

/// The state store: dedupe, rate limits, per-conversation settings.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// Redis for state shared by several replicas; `None` keeps state in memory.
    pub redis_url: Option<SecretString>,
    /// With `rediss://`: the CA certificate(s) to trust instead of the system roots.
    pub redis_ca_file: Option<PathBuf>,
    pub redis_key_prefix: String,
    /// How long a `msgId` is remembered (at least a second).
    pub dedupe_ttl: Duration,
    /// Replies per minute to one conversation; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// How long a reply may wait for a slot under the rate limit before it is dropped.
    pub rate_limit_wait: Duration,
}

/// The Stream client's pacing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Ping after this much silence (at least 10 ms).
    pub ping_interval: Duration,
    /// Give up this long after a ping (at least 10 ms).
    pub pong_timeout: Duration,
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
        for (key, value) in raw::env_settings(vars) {
            table.insert(key, toml::Value::String(value));
        }
        raw::Raw::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid(e.to_string()))?.typed()
    }

    /// The client id and secret, or an error naming the missing variable.
    pub fn credentials(&self) -> Result<(String, SecretString), ConfigError> {
        let id = self.app.client_id.clone().ok_or(ConfigError::Missing("DINGMEET_CLIENT_ID", "AppKey (Client ID)"))?;
        let secret = self.app.client_secret.clone();
        let secret = secret.ok_or(ConfigError::Missing("DINGMEET_CLIENT_SECRET", "AppSecret (Client Secret)"))?;
        Ok((id, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let s = Settings::load_from(None, env(&[])).expect("loads");
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.dingtalk.api_base, "https://api.dingtalk.com");
        assert_eq!(s.dingtalk.webhook_hosts, ["oapi.dingtalk.com", "api.dingtalk.com"]);
        assert_eq!(s.answers.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!((s.answers.lang, s.server.sign_window, s.dingtalk.timeout), (Lang::Zh, secs(3600), ms(5000)));
        assert!(s.state.redis_url.is_none() && s.state.redis_ca_file.is_none());
        assert_eq!(s.state.redis_key_prefix, "dingmeet:");
        assert_eq!(
            (s.state.rate_limit_per_minute, s.state.rate_limit_wait, s.server.shutdown_grace),
            (18, secs(30), secs(10))
        );
        assert_eq!(s.dingtalk.circuit_breaker, Policy::default());
        assert_eq!((s.dingtalk.circuit_breaker.failures, s.dingtalk.circuit_breaker.cool_down), (5, ms(30_000)));
        assert_eq!((s.dingtalk.cache_ttl, s.state.dedupe_ttl), (secs(30), secs(600)));
        assert_eq!(
            (s.server.mode, s.server.log_format, s.app.app_type),
            (Mode::Http, LogFormat::Text, AppType::Internal)
        );
        assert_eq!(s.app.corp_token_route, CorpTokenRoute::Unified);
        assert_eq!(
            s.stream,
            StreamSettings {
                backoff_initial: secs(1),
                backoff_max: secs(60),
                ping_interval: secs(30),
                pong_timeout: secs(10)
            }
        );
    }

    #[test]
    fn circuit_breaker_settings_are_read_from_the_environment() {
        let vars = env(&[("DINGMEET_CIRCUIT_FAILURES", "0"), ("DINGMEET_CIRCUIT_COOLDOWN_MS", "250")]);
        let s = Settings::load_from(None, vars).expect("loads");
        let policy = s.dingtalk.circuit_breaker;
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
        assert_eq!(s.state.redis_url.as_ref().map(|u| u.expose_secret()), Some("redis://:pw@127.0.0.1:6390/2"));
        assert_eq!(s.state.redis_key_prefix, "bot2:");
        assert_eq!(s.state.redis_ca_file.as_deref(), Some(Path::new("/etc/dingmeet/redis-ca.pem")));
        assert_eq!((s.state.rate_limit_per_minute, s.state.rate_limit_wait), (10, secs(5)));
        assert_eq!(s.server.shutdown_grace, secs(3));
        let blank = Settings::load_from(None, env(&[("DINGMEET_REDIS_URL", " "), ("DINGMEET_REDIS_CA_FILE", " ")]))
            .expect("loads");
        assert!(blank.state.redis_url.is_none(), "a blank URL means no Redis");
        assert!(blank.state.redis_ca_file.is_none(), "a blank CA file means the system roots");
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
        assert_eq!(s.dingtalk.webhook_hosts, ["a.example", "127.0.0.1"]);
        assert_eq!(
            (s.answers.lang, s.answers.timezone, s.server.sign_window),
            (Lang::En, chrono_tz::Europe::Berlin, secs(300))
        );
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = std::env::temp_dir().join(format!("dingmeet-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("c.toml");
        std::fs::write(&path, "lang = \"en\"\nsign_window_secs = 60\nwebhook_hosts = [\"x.example\"]\n")
            .expect("write");
        let s = Settings::load_from(Some(&path), env(&[("DINGMEET_LANG", "zh")])).expect("loads");
        assert_eq!((s.answers.lang, s.server.sign_window), (Lang::Zh, secs(60)));
        assert_eq!(s.dingtalk.webhook_hosts, ["x.example"]);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Settings::load_from(None, env(&[("DINGMEET_TIMEZONE", "Mars/Base")])).expect_err("fails");
        assert!(err.to_string().contains("Mars/Base"), "{err}");
        let err = Settings::load_from(None, env(&[("DINGMEET_LISTN", "x")])).expect_err("fails");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn the_corp_token_route_is_checked_at_load_and_floors_apply() {
        let err = Settings::load_from(None, env(&[("DINGMEET_CORP_TOKEN_ROUTE", "fast")])).expect_err("fails");
        assert!(err.to_string().contains("corp_token_route \"fast\": use unified or classic"), "{err}");
        let s = Settings::load_from(
            None,
            env(&[
                ("DINGMEET_CORP_TOKEN_ROUTE", " Classic "),
                ("DINGMEET_UPSTREAM_TIMEOUT_MS", "0"),
                ("DINGMEET_DEDUPE_TTL_SECS", "0"),
                ("DINGMEET_STREAM_PING_INTERVAL_MS", "1"),
                ("DINGMEET_STREAM_BACKOFF_INITIAL_MS", "0"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.app.corp_token_route, CorpTokenRoute::Classic);
        assert_eq!((s.dingtalk.timeout, s.state.dedupe_ttl), (ms(1), secs(1)));
        assert_eq!((s.stream.ping_interval, s.stream.backoff_initial), (ms(10), ms(1)));
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
                ("DINGMEET_SUITE_TICKET", "ticket-secret"),
            ]),
        )
        .expect("loads");
        let text = format!("{s:?}");
        for secret in ["very-secret", "old-secret", "redis-pass", "ticket-secret"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("callback_secrets") && text.contains("REDACTED"), "the fields are there: {text}");
    }
}
