//! Replies: the session webhook while it lives, the robot OpenAPI when it has expired or
//! DingTalk answers `300001`. The webhook URL comes from an unsigned body, so only allow-listed
//! hosts are ever called (the message reaches here only through [`super::webhook`]'s check).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::message::{ConversationKind, ReplyTarget};
use super::openapi::declaration::Declaration;
use super::openapi::error::OldEnvelope;
use super::openapi::{ApiError, Endpoint, OpenApi, endpoints, http};
use crate::telemetry::Metrics;

/// Use a session webhook only if it lives at least this much longer.
const EXPIRY_MARGIN_MS: i64 = 30_000;
/// The most session-webhook posts in flight at once. Each needs a connection of its own, and a
/// pooled connection holds tens of KiB of buffers: without a bound, a moment when the webhook
/// host answers slowly opens a connection for every reply waiting, and memory grows with them.
/// 64 posts in flight are over a thousand replies a second even at DingTalk's 50 ms; the others
/// wait their turn in memory, a few hundred bytes each.
const MAX_POSTS_IN_FLIGHT: usize = 64;
/// The pauses before posting again to a session webhook that failed on the way (a 5xx, a reset,
/// a timeout), after which the answer goes through the OpenAPI instead.
const WEBHOOK_RETRIES: [Duration; 4] =
    [Duration::from_millis(250), Duration::from_millis(750), Duration::from_secs(2), Duration::from_secs(4)];
/// The longest a reply keeps trying its webhook, waits and posts together (a hanging webhook takes
/// the request timeout each time).
const WEBHOOK_RETRY_BUDGET: Duration = Duration::from_secs(12);
/// `errcode` for an expired or unknown session.
const SESSION_GONE: i64 = 300_001;
/// `errcode`s for a conversation past 20 webhook posts a minute (held back for about 10 minutes).
const THROTTLED: [i64; 2] = [130_101, 660_026];

/// A message to post, in the shapes DingTalk's webhook and OpenAPI share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutgoingMessage {
    /// Markdown with an optional @-mention (the `@staffId` must also be in `text`).
    Markdown { title: String, text: String, at_user_ids: Vec<String> },
    /// A card with one button; used where a join link should be a button.
    ActionCard { title: String, text: String, button_title: String, button_url: String },
}

/// The session-webhook body of a message, serialised straight from borrowed fields.
#[derive(Debug, Serialize)]
#[serde(tag = "msgtype")]
pub enum WebhookBody<'a> {
    #[serde(rename = "markdown")]
    Markdown { markdown: TitledText<'a>, at: At<'a> },
    #[serde(rename = "actionCard")]
    ActionCard {
        #[serde(rename = "actionCard")]
        action_card: ActionCardBody<'a>,
    },
}

#[derive(Debug, Serialize)]
pub struct TitledText<'a> {
    title: &'a str,
    text: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct At<'a> {
    at_user_ids: &'a [String],
    at_mobiles: [&'a str; 0],
    is_at_all: bool,
}

#[derive(Debug, Serialize)]
pub struct ActionCardBody<'a> {
    title: &'a str,
    text: &'a str,
    #[serde(rename = "singleTitle")]
    single_title: &'a str,
    #[serde(rename = "singleURL")]
    single_url: &'a str,
    #[serde(rename = "btnOrientation", skip_serializing_if = "Option::is_none")]
    btn_orientation: Option<&'a str>,
}

impl OutgoingMessage {
    /// The session-webhook body.
    pub fn webhook_payload(&self) -> WebhookBody<'_> {
        match self {
            Self::Markdown { title, text, at_user_ids } => WebhookBody::Markdown {
                markdown: TitledText { title, text },
                at: At { at_user_ids, at_mobiles: [], is_at_all: false },
            },
            Self::ActionCard { title, text, button_title, button_url } => WebhookBody::ActionCard {
                action_card: ActionCardBody {
                    title,
                    text,
                    single_title: button_title,
                    single_url: button_url,
                    btn_orientation: Some("0"),
                },
            },
        }
    }

    /// The session-webhook body as a JSON value (for printing and tests).
    pub fn webhook_body(&self) -> serde_json::Value {
        serde_json::to_value(self.webhook_payload()).unwrap_or_default()
    }

    /// The OpenAPI `msgKey` and its `msgParam` (a JSON-encoded string, as DingTalk wants).
    pub fn msg_key_and_param(&self) -> (&'static str, String) {
        match self {
            Self::Markdown { title, text, .. } => {
                ("sampleMarkdown", serde_json::to_string(&TitledText { title, text }).unwrap_or_default())
            }
            Self::ActionCard { title, text, button_title, button_url } => {
                let param = ActionCardBody {
                    title,
                    text,
                    single_title: button_title,
                    single_url: button_url,
                    btn_orientation: None,
                };
                ("sampleActionCard", serde_json::to_string(&param).unwrap_or_default())
            }
        }
    }
}

/// Which way a reply went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    SessionWebhook,
    OpenApi,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Self::SessionWebhook => "session_webhook",
            Self::OpenApi => "openapi",
        }
    }
}

/// Why a reply could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the session webhook answered errcode {errcode}: {errmsg}")]
    Webhook { errcode: i64, errmsg: String },
    #[error("the session webhook failed: {0}")]
    WebhookTransport(ApiError),
    #[error("the OpenAPI send failed: {0}")]
    OpenApi(ApiError),
    #[error("no way to reply: the session webhook is gone and {0}")]
    NoRoute(&'static str),
}

/// The robot's message to a group chat.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupSend<'a> {
    msg_key: &'static str,
    msg_param: String,
    open_conversation_id: &'a str,
    robot_code: &'a str,
}

impl Endpoint for GroupSend<'_> {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::GROUP_SEND;
}

/// The robot's 1:1 message to people, by staff id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OtoSend<'a> {
    robot_code: &'a str,
    user_ids: [&'a str; 1],
    msg_key: &'static str,
    msg_param: String,
}

impl Endpoint for OtoSend<'_> {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::OTO_SEND;
}

/// Sends replies.
#[derive(Clone)]
pub struct Replier {
    http: reqwest::Client,
    api: OpenApi,
    metrics: Arc<Metrics>,
    posts: Arc<tokio::sync::Semaphore>,
}

impl Replier {
    /// Session webhooks are posted with `http`; the OpenAPI sends go through `api`.
    pub fn new(http: reqwest::Client, api: OpenApi, metrics: Arc<Metrics>) -> Self {
        let posts = Arc::new(tokio::sync::Semaphore::new(MAX_POSTS_IN_FLIGHT));
        Self { http, api, metrics, posts }
    }

    /// Delivers `message` to `target`, through the session webhook when it is alive (it was
    /// checked against the allow-list already), else through the OpenAPI.
    pub async fn send(
        &self,
        target: &ReplyTarget,
        message: &OutgoingMessage,
        now_ms: i64,
    ) -> Result<Channel, ReplyError> {
        let live_webhook = target
            .session_webhook
            .as_ref()
            .filter(|webhook| webhook.expires_ms().is_none_or(|expires| now_ms + EXPIRY_MARGIN_MS < expires));
        if let Some(webhook) = live_webhook {
            let url = webhook.url();
            let posted = match self.post_in_turn(url, message).await {
                // Boxed like the fallback: retries are rare.
                Err(ReplyError::WebhookTransport(err)) if retriable(&err) => {
                    let lives_until = webhook.expires_ms().map(|expires| expires - EXPIRY_MARGIN_MS - now_ms);
                    Box::pin(self.retry_webhook(url, message, lives_until, err)).await
                }
                other => other,
            };
            match posted {
                Err(ReplyError::Webhook { errcode: SESSION_GONE, errmsg }) => {
                    tracing::info!(%errmsg, "session webhook gone (300001); falling back to the OpenAPI");
                }
                // Another sender (a second bot, a replica without shared Redis, a higher
                // DINGMEET_RATE_LIMIT_PER_MINUTE) used up the conversation's webhook quota; the
                // robot OpenAPI is a separate road, so the answer is not lost.
                Err(ReplyError::Webhook { errcode, errmsg }) if THROTTLED.contains(&errcode) => {
                    tracing::warn!(
                        errcode,
                        %errmsg,
                        "DingTalk throttled the session webhook (more than 20 posts a minute in this \
                         conversation); replying through the OpenAPI instead"
                    );
                }
                Err(ReplyError::WebhookTransport(err)) if retriable(&err) => {
                    self.metrics.reply(Channel::SessionWebhook.label(), "failed_over");
                    tracing::warn!(
                        %err,
                        "the session webhook kept failing (5xx, reset or timeout) through its retries; \
                         replying through the OpenAPI instead"
                    );
                }
                other => return other.map(|()| Channel::SessionWebhook),
            }
        } else {
            tracing::info!("session webhook expired or absent; replying through the OpenAPI");
        }
        // Boxed: the fallback is rare, and inline it would make every reply's future larger.
        Box::pin(self.send_openapi(target, message)).await.map(|()| Channel::OpenApi)
    }

    /// One post, in its turn among the posts in flight.
    async fn post_in_turn(&self, url: &reqwest::Url, message: &OutgoingMessage) -> Result<(), ReplyError> {
        // Never closed, so acquiring only waits.
        let permit = self.posts.acquire().await.ok();
        let posted = self.post_webhook(url.clone(), message).await;
        drop(permit);
        posted
    }

    /// Posts again after each of [`WEBHOOK_RETRIES`] while the webhook failed on the way (a 5xx,
    /// a reset, a timeout: the post did not land), within [`WEBHOOK_RETRY_BUDGET`] and while the
    /// webhook still lives (`lives_for_ms` more, when it says). The last failure when none lands.
    async fn retry_webhook(
        &self,
        url: &reqwest::Url,
        message: &OutgoingMessage,
        lives_for_ms: Option<i64>,
        mut failure: ApiError,
    ) -> Result<(), ReplyError> {
        let started = Instant::now();
        for delay in WEBHOOK_RETRIES {
            let waited = started.elapsed() + delay;
            let alive = lives_for_ms.is_none_or(|ms| i64::try_from(waited.as_millis()).unwrap_or(i64::MAX) < ms);
            if waited > WEBHOOK_RETRY_BUDGET || !alive {
                break;
            }
            tracing::info!(err = %failure, retry_in_ms = delay.as_millis(), "the session webhook failed; posting again");
            tokio::time::sleep(delay).await;
            match self.post_in_turn(url, message).await {
                Err(ReplyError::WebhookTransport(err)) if retriable(&err) => failure = err,
                other => {
                    if other.is_ok() {
                        self.metrics.reply(Channel::SessionWebhook.label(), "retried");
                    }
                    return other;
                }
            }
        }
        Err(ReplyError::WebhookTransport(failure))
    }

    async fn post_webhook(&self, url: reqwest::Url, message: &OutgoingMessage) -> Result<(), ReplyError> {
        let started = Instant::now();
        // The webhook answers in the old style, `{errcode, errmsg}` with HTTP 200; its codes
        // (300001, 130101, 460101) mean something to the reply path, so they are kept as they are.
        let result = http::send_json::<OldEnvelope>(self.http.post(url).json(&message.webhook_payload()))
            .await
            .map_err(ReplyError::WebhookTransport)
            .and_then(|answer| match answer.errcode.unwrap_or(0) {
                0 => Ok(()),
                errcode => Err(ReplyError::Webhook { errcode, errmsg: answer.errmsg.unwrap_or_default() }),
            });
        let outcome = match &result {
            Ok(()) => "ok",
            Err(ReplyError::Webhook { errcode: SESSION_GONE, .. }) => "session_gone",
            Err(ReplyError::Webhook { errcode, .. }) if THROTTLED.contains(errcode) => "throttled",
            Err(ReplyError::Webhook { errcode: 460_101, .. }) => "too_long",
            Err(_) => "error",
        };
        self.metrics.upstream("session_webhook", outcome, started.elapsed());
        self.metrics.reply(Channel::SessionWebhook.label(), outcome);
        result
    }

    async fn send_openapi(&self, target: &ReplyTarget, message: &OutgoingMessage) -> Result<(), ReplyError> {
        let robot_code = target.robot_code.as_deref().unwrap_or_else(|| self.api.tokens().client_id());
        let (msg_key, msg_param) = message.msg_key_and_param();
        let corp = target.corp_id.as_deref();
        let result = match target.kind {
            ConversationKind::Group => {
                let open_conversation_id = &target.conversation_id;
                self.api.call(corp, &GroupSend { msg_key, msg_param, open_conversation_id, robot_code }).await
            }
            ConversationKind::Single => {
                let Some(staff_id) = target.sender_staff_id.as_deref() else {
                    self.metrics.reply(Channel::OpenApi.label(), "no_route");
                    return Err(ReplyError::NoRoute(
                        "a 1:1 reply needs the sender's staff id, which DingTalk did not send",
                    ));
                };
                self.api.call(corp, &OtoSend { robot_code, user_ids: [staff_id], msg_key, msg_param }).await
            }
        };
        self.metrics.reply(Channel::OpenApi.label(), result.as_ref().map_or_else(ApiError::kind, |_| "ok"));
        result.map(drop).map_err(ReplyError::OpenApi)
    }
}

/// Whether a webhook post failed on the way, so it did not land and may be posted again: a 5xx,
/// a connection that failed or was reset, or no answer in time. DingTalk's `errcode` answers are
/// not among them: they are answers.
fn retriable(err: &ApiError) -> bool {
    matches!(err, ApiError::Timeout | ApiError::Network(_) | ApiError::Upstream { status: 500..=599, .. })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn markdown_webhook_body_has_dingtalks_shape() {
        let message =
            OutgoingMessage::Markdown { title: "t".into(), text: "x\n\n@u1".into(), at_user_ids: vec!["u1".into()] };
        assert_eq!(
            message.webhook_body(),
            json!({"msgtype":"markdown","markdown":{"title":"t","text":"x\n\n@u1"},"at":{"atUserIds":["u1"],"atMobiles":[],"isAtAll":false}})
        );
    }

    #[test]
    fn openapi_msg_param_is_a_json_string() {
        let message = OutgoingMessage::Markdown { title: "t".into(), text: "x".into(), at_user_ids: vec![] };
        let (key, param) = message.msg_key_and_param();
        assert_eq!(key, "sampleMarkdown");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&param).expect("json"), json!({"title":"t","text":"x"}));
    }
}
