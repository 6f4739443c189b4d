//! Settings: an optional TOML file, then `DINGMEET_*` environment variables, which win.
//! Loaded once at start, into typed sections (durations as `Duration`s, choices as enums);
//! the flat names and their defaults are in [`raw`], the only place they are converted.
//! Secrets are `SecretString`s, whose `Debug` prints no secret; each may instead be read from a
//! file (`DINGMEET_<SECRET>_FILE`, [`secret_files`]).

mod raw;
mod secret_files;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::dingtalk::openapi::breaker::Policy;
use crate::dingtalk::openapi::token::CorpTokenRoute;
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
    pub cards: CardSettings,
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

/// The event subscription's HTTP push: the console's token and aes_key (both secrets).
#[derive(Clone)]
pub struct EventPush {
    pub token: SecretString,
    pub aes_key: SecretString,
}

impl std::fmt::Debug for EventPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventPush { token: [redacted], aes_key: [redacted] }")
    }
}

/// How messages arrive, and the process around them.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub mode: Mode,
    /// More secrets accepted on callbacks while rotating.
    pub callback_secrets: Vec<SecretString>,
    /// DingTalk's encrypted event pushes to `POST /dingtalk/events`, when configured.
    pub events: Option<EventPush>,
    /// How far a callback's `timestamp` may be from now.
    pub sign_window: Duration,
    /// How long shutdown waits for replies in flight.
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// How long a client may take to send a request's headers (a new connection's first
    /// request, or the next one on a keep-alive connection once it has begun).
    pub http_header_timeout: Duration,
    /// How long a request's body may take to arrive, from the end of its headers (then 408).
    pub http_body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub http_idle_timeout: Duration,
    /// Open HTTP connections at most; 0 derives it from the open-files limit.
    pub http_max_connections: u64,
}

/// Calls to DingTalk.
#[derive(Debug, Clone)]
pub struct DingTalkSettings {
    pub api_base: String,
    /// The old-style OpenAPI host (`access_token` query parameter, `errcode` answers).
    pub oapi_base: String,
    /// Hosts a `sessionWebhook` may point at (any port).
    pub webhook_hosts: Vec<String>,
    /// Every upstream call's timeout (at least 1 ms); also the Stream handshake's.
    pub timeout: Duration,
    /// How long a conference lookup is reused (zero turns the cache off).
    pub cache_ttl: Duration,
    pub circuit_breaker: Policy,
    /// OpenAPI calls per organisation in a rolling 30 days; background work is paced within it.
    pub monthly_call_budget: u64,
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
    /// How many days a `/remind` lives (its code looked up again daily meanwhile).
    pub remind_days: u32,
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
    /// The store of record's directory (`DINGMEET_DATA_DIR`, else `$STATE_DIRECTORY`, else
    /// `./dingmeet-data`).
    pub data_dir: PathBuf,
    /// Whether accepted messages are journaled before they are acknowledged.
    pub journal: bool,
    /// With Redis: how long before another replica takes over a stopped one's messages.
    pub journal_claim: Duration,
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

/// Interactive meeting cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSettings {
    pub mode: CardsMode,
    /// The template of interactive answers: markdown with buttons (`markdown`, `sys_full_json_obj`).
    pub template_id: String,
    /// How often a live card of a meeting in progress is refreshed (at least a second).
    pub refresh: Duration,
    /// The least time between two updates of one card for people joining or leaving its
    /// meeting (`DINGMEET_CARD_MEMBER_UPDATE_SECS`; the last count always lands).
    pub member_update: Duration,
    /// How long a card stays live: meetings starting within it make an answer interactive.
    pub live: Duration,
    /// The bot's public base URL (HTTP mode): presses are called back at
    /// `{public_url}/dingtalk/card-callback`. Unset: HTTP-mode cards have no Refresh button.
    pub public_url: Option<String>,
}

/// Whether meeting answers may be interactive cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardsMode {
    /// Answers that can still change are interactive cards that update themselves.
    #[default]
    Interactive,
    /// Every answer is a markdown reply on the session webhook.
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

/// Why settings could not be loaded; each names the file or variable to fix. An IO error is
/// in the message, and deliberately not a `source`, so `{:#}` does not print it twice.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    /// A secret's file (`DINGMEET_*_FILE`) could not be read; the error names the file only.
    #[error("cannot read {setting} {path}: {error}")]
    SecretFile { setting: String, path: String, error: std::io::Error },
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
                    .map_err(|error| ConfigError::Read { path: path.display().to_string(), error })?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in raw::env_settings(vars) {
            table.insert(key, toml::Value::String(value));
        }
        secret_files::resolve(&mut table, |path| std::fs::read_to_string(path))?;
        // serde's message ends in a newline, which would end up inside a JSON log line.
        let invalid = |e: toml::de::Error| ConfigError::Invalid(e.to_string().trim_end().to_owned());
        raw::Raw::deserialize(toml::Value::Table(table)).map_err(invalid)?.typed()
    }

    /// The log format asked for, known before the settings load so that an error loading them
    /// is logged as configured: `DINGMEET_LOG_FORMAT` in `vars`, else the file's `log_format`,
    /// else text (also when either is unreadable: loading then says why).
    pub fn log_format_before_loading(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> LogFormat {
        let from_env = raw::env_settings(vars).remove("log_format");
        let from_file = || {
            let text = std::fs::read_to_string(file?).ok()?;
            let table = toml::from_str::<toml::Table>(&text).ok()?;
            table.get("log_format")?.as_str().map(str::to_owned)
        };
        from_env.or_else(from_file).and_then(|text| text.parse().ok()).unwrap_or_default()
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
mod tests;
