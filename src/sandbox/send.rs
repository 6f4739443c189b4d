//! `dingmeet send`: signs a robot message with a given secret and posts it to any callback URL as
//! DingTalk would (through the simulator's own callback sender), then reports the HTTP answer.
//! Against the sandbox it also opens a real session webhook there and waits for the bot's reply.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::DEFAULT_PORT;
use super::playground::{Chat, Reply};
use dingtalk_sim::sender::Format;
use dingtalk_sim::{MessageBuilder, Scenario, ScenarioError, SimClock, SimState};

/// Where `send` posts when neither `--url` nor a sandbox says otherwise.
pub const DEFAULT_CALLBACK_URL: &str = "http://127.0.0.1:8080/dingtalk/callback";

/// How the words are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    #[default]
    Text,
    /// `richText`: the words, then a picture.
    RichText,
    /// `richText` as the HarmonyOS client sends it (the first segment repeats the @-mention).
    Harmony,
}

/// What to send, and where.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub text: String,
    /// The callback URL (default: the sandbox's bot, else [`DEFAULT_CALLBACK_URL`]).
    pub url: Option<String>,
    /// The app secret to sign with (default: the sandbox's simulated one).
    pub secret: Option<SecretString>,
    /// `robotCode` (an enterprise robot's AppKey).
    pub client_id: Option<String>,
    pub chat: Chat,
    pub format: MessageFormat,
    pub conversation_id: Option<String>,
    /// `senderStaffId`.
    pub staff_id: Option<String>,
    /// Other members @-mentioned, by staff id (`atUsers`).
    pub mentioned: Vec<String>,
    /// `sessionWebhook` (default: a live session in the sandbox, else a DingTalk-shaped URL).
    pub webhook: Option<String>,
    /// The playground URL of a running sandbox.
    pub sandbox: Option<String>,
    /// With no sandbox, secret or URL given, look for a sandbox on the default port.
    pub detect_sandbox: bool,
    /// How long to wait for the reply (sandbox only; zero: do not wait).
    pub wait: Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            text: String::new(),
            url: None,
            secret: None,
            client_id: None,
            chat: Chat::Group,
            format: MessageFormat::Text,
            conversation_id: None,
            staff_id: None,
            mentioned: Vec::new(),
            webhook: None,
            sandbox: None,
            detect_sandbox: true,
            wait: Duration::from_secs(15),
        }
    }
}

/// Why nothing (or not everything) could be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "no secret to sign with: pass --secret or set DINGMEET_CLIENT_SECRET, or start `dingmeet sandbox` \
         (found on 127.0.0.1:{DEFAULT_PORT}) or pass --sandbox URL"
    )]
    NoSecret,
    #[error("no sandbox answers at {url}: {reason}")]
    NoSandbox { url: String, reason: String },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("could not post to {url}: {reason}")]
    Post { url: String, reason: String },
}

/// What `/api/sandbox` says (the fields `send` needs).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SandboxInfo {
    bot_name: String,
    callback_url: String,
    simulator_url: String,
    client_id: String,
    client_secret: String,
    /// The newest record before this message: its reply comes after.
    #[serde(default)]
    latest: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer {
    session_webhook: String,
    expires_ms: i64,
}

#[derive(Debug, Deserialize)]
struct RepliesAnswer {
    replies: Vec<Reply>,
    latest: u64,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    pub url: String,
    pub chat: Chat,
    pub format: MessageFormat,
    pub msg_id: String,
    pub conversation_id: String,
    pub session_webhook: String,
    /// The callback's HTTP answer.
    pub status: u16,
    pub body: String,
    /// The playground URL, when sent through a sandbox.
    pub sandbox: Option<String>,
    /// The bot's reply as the sandbox recorded it: `None` when not waited for; `Some(Err)` when it
    /// did not come in time.
    pub reply: Option<Result<Reply, String>>,
}

impl SendOutcome {
    /// The callback was accepted and, if a reply was awaited, it arrived and was delivered.
    pub fn ok(&self) -> bool {
        self.failure().is_none()
    }

    /// What went wrong, if anything: for the exit status.
    pub fn failure(&self) -> Option<String> {
        if !(200..300).contains(&self.status) {
            return Some(format!("the callback answered HTTP {}", self.status));
        }
        match &self.reply {
            Some(Err(why)) => Some(why.clone()),
            Some(Ok(reply)) if !reply.delivered => Some("DingTalk refused the bot's reply".to_owned()),
            _ => None,
        }
    }

    /// A human-readable account, for the terminal.
    pub fn report(&self) -> String {
        let chat = match self.chat {
            Chat::Group => "group",
            Chat::Single => "1:1",
        };
        let format = match self.format {
            MessageFormat::Text => "text",
            MessageFormat::RichText => "richText",
            MessageFormat::Harmony => "richText (HarmonyOS)",
        };
        let mut out = format!("POST {}  ({chat}, {format}, msgId {})\n", self.url, self.msg_id);
        out.push_str(&format!("  conversationId {}\n", self.conversation_id));
        out.push_str(&format!("  sessionWebhook {}\n", self.session_webhook));
        out.push_str(&format!("HTTP {}  {}\n", self.status, self.body.trim()));
        match &self.reply {
            None if self.sandbox.is_none() => {
                out.push_str("(the bot replies to the session webhook; use --sandbox to see the reply here)\n");
            }
            None => {}
            Some(Err(why)) => out.push_str(&format!("no reply: {why}\n")),
            Some(Ok(reply)) => {
                let via = match reply.via.as_str() {
                    "openapi" => "the robot OpenAPI",
                    "card" => "an interactive card",
                    _ => "the session webhook",
                };
                let outcome = match &reply.error {
                    None => "delivered".to_owned(),
                    Some(error) => format!("refused: {error}"),
                };
                out.push_str(&format!("\nreply via {via}: {} ({outcome})\n", reply.msgtype));
                if let Some(title) = &reply.title {
                    out.push_str(&format!("title: {title}\n"));
                }
                if !reply.at_user_ids.is_empty() {
                    out.push_str(&format!("at: {}\n", reply.at_user_ids.join(", ")));
                }
                for button in &reply.buttons {
                    out.push_str(&format!("button: {} -> {}\n", button.title, button.url));
                }
                for action in reply.card.iter().flat_map(|card| &card.actions) {
                    out.push_str(&format!("button: {} (calls the bot back: {})\n", action.title, action.id));
                }
                out.push_str("---\n");
                out.push_str(reply.text.trim_end());
                out.push('\n');
            }
        }
        out
    }
}

/// Signs and posts one message; with a sandbox, waits for the reply.
pub async fn send(options: SendOptions) -> Result<SendOutcome, SendError> {
    let http = crate::dingtalk::openapi::http_client(Duration::from_secs(30));
    let sandbox_url = match (&options.sandbox, &options.secret, &options.url) {
        (Some(url), _, _) => Some(url.trim_end_matches('/').to_owned()),
        (None, None, None) if options.detect_sandbox => Some(format!("http://127.0.0.1:{DEFAULT_PORT}")),
        _ => None,
    };
    let sandbox = match &sandbox_url {
        Some(url) => match sandbox_info(&http, url).await {
            Ok(info) => Some((url.clone(), info)),
            // Only an explicit --sandbox must answer; a guess that finds nothing just means no secret.
            Err(reason) if options.sandbox.is_some() => return Err(SendError::NoSandbox { url: url.clone(), reason }),
            Err(_) => None,
        },
        None => None,
    };
    let info = sandbox.as_ref().map(|(_, info)| info);
    let secret = match (&options.secret, info) {
        (Some(secret), _) => secret.expose_secret().to_owned(),
        (None, Some(info)) => info.client_secret.clone(),
        (None, None) => return Err(SendError::NoSecret),
    };
    let url = options
        .url
        .clone()
        .or_else(|| info.map(|i| i.callback_url.clone()))
        .unwrap_or_else(|| DEFAULT_CALLBACK_URL.to_owned());

    let mut scenario = Scenario::builtin()?;
    scenario.app.client_secret = secret;
    if let Some(id) = options.client_id.clone().or_else(|| info.map(|i| i.client_id.clone())) {
        scenario.app.client_id = id;
        scenario.app.robot_code = None;
    }
    if let Some(info) = info {
        scenario.app.bot_name = info.bot_name.clone();
    }
    let base = info.map_or("http://127.0.0.1", |i| i.simulator_url.as_str());
    let state = Arc::new(SimState::new(scenario, SimClock::real(), base));

    let mut message = MessageBuilder::new(Arc::clone(&state), options.text.clone());
    message = match options.chat {
        Chat::Group => message.group(),
        Chat::Single => message.single(),
    };
    message = match options.format {
        MessageFormat::Text => message,
        MessageFormat::RichText => message.format(Format::RichText),
        MessageFormat::Harmony => message.format(Format::HarmonyRichText),
    };
    if let Some(id) = &options.conversation_id {
        message = message.conversation_id(id);
    }
    for staff_id in &options.mentioned {
        message = message.mentioning(staff_id);
    }
    if let Some(id) = &options.staff_id {
        message = message.sender_staff_id(Some(id));
    }
    message = match (&options.webhook, &sandbox) {
        (Some(webhook), _) => {
            let lifetime_ms = 5_400_000;
            message.session_webhook(webhook, state.clock().now_ms().saturating_add(lifetime_ms))
        }
        (None, Some((sandbox_url, _))) => {
            let session = open_session(&http, sandbox_url, options.chat, options.conversation_id.as_deref())
                .await
                .map_err(|reason| SendError::NoSandbox { url: sandbox_url.clone(), reason })?;
            message.session_webhook(&session.session_webhook, session.expires_ms)
        }
        // A DingTalk-shaped URL; a deployed bot's reply to it fails, as it would for a stale message.
        (None, None) => message.webhook_host("oapi.dingtalk.com"),
    };

    let callback = message.build();
    let delivery = dingtalk_sim::sender::post_callback(&state, &url, callback)
        .await
        .map_err(|err| SendError::Post { url: url.clone(), reason: error_chain(&err) })?;
    let callback = &delivery.callback;
    let accepted = (200..300).contains(&delivery.status);
    let reply = match &sandbox {
        Some((sandbox_url, info)) if accepted && !options.wait.is_zero() => {
            let (session, conversation) = (&callback.session_id, &callback.conversation_id);
            Some(wait_for_reply(&http, sandbox_url, (session, conversation), info.latest, options.wait).await)
        }
        _ => None,
    };
    Ok(SendOutcome {
        url,
        chat: options.chat,
        format: options.format,
        msg_id: callback.msg_id.clone(),
        conversation_id: callback.conversation_id.clone(),
        session_webhook: callback.session_webhook.clone(),
        status: delivery.status,
        body: delivery.body.clone(),
        sandbox: sandbox.map(|(url, _)| url),
        reply,
    })
}

/// An error and its causes on one line (reqwest's own message leaves out why a connection failed).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

async fn sandbox_info(http: &reqwest::Client, url: &str) -> Result<SandboxInfo, String> {
    let response = http
        .get(format!("{url}/api/sandbox"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    response.json().await.map_err(|e| format!("not a dingmeet sandbox ({e})"))
}

async fn open_session(
    http: &reqwest::Client,
    sandbox: &str,
    chat: Chat,
    conversation_id: Option<&str>,
) -> Result<SessionAnswer, String> {
    let body = serde_json::json!({ "chat": chat, "conversationId": conversation_id });
    let response = http.post(format!("{sandbox}/api/sessions")).json(&body).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("opening a session answered HTTP {}", response.status().as_u16()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// Long-polls the sandbox for the reply to this message, until `wait` has passed. A refused post
/// may be followed by the bot's OpenAPI fallback, so a delivered reply wins; a refused one is
/// reported if nothing better comes within a few seconds.
async fn wait_for_reply(
    http: &reqwest::Client,
    sandbox: &str,
    (session, conversation_id): (&str, &str),
    mut after: u64,
    wait: Duration,
) -> Result<Reply, String> {
    let mut deadline = tokio::time::Instant::now() + wait;
    let mut refused: Option<Reply> = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return refused.ok_or_else(|| format!("the bot posted nothing within {}s", wait.as_secs()));
        }
        let (after_text, wait_text) = (after.to_string(), left.as_secs().max(1).to_string());
        let query = [
            ("session", session),
            ("conversation", conversation_id),
            ("after", after_text.as_str()),
            ("wait", wait_text.as_str()),
        ];
        let answer = http
            .get(format!("{sandbox}/api/replies"))
            .query(&query)
            .send()
            .await
            .map_err(|e| format!("the sandbox stopped answering: {e}"))?;
        let answer: RepliesAnswer = answer.json().await.map_err(|e| format!("the sandbox's answer: {e}"))?;
        after = answer.latest.max(after);
        for reply in answer.replies {
            if reply.delivered {
                return Ok(reply);
            }
            if refused.is_none() {
                deadline = deadline.min(tokio::time::Instant::now() + Duration::from_secs(5));
            }
            refused = Some(reply);
        }
    }
}
