//! Replies: the session webhook while it lives, the robot OpenAPI when it has expired or
//! DingTalk answers `300001`. The webhook URL comes from an unsigned body, so only allow-listed
//! hosts are ever called (the message reaches here only through [`super::webhook`]'s check).

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::{self, ApiError};
use super::calls::Purpose;
use super::message::{ConversationKind, ReplyTarget};
use super::token::TokenProvider;
use crate::telemetry::Metrics;

/// Use a session webhook only if it lives at least this much longer.
const EXPIRY_MARGIN_MS: i64 = 30_000;
/// The most session-webhook posts in flight at once. Each needs a connection of its own, and a
/// pooled connection holds tens of KiB of buffers: without a bound, a moment when the webhook
/// host answers slowly opens a connection for every reply waiting (over 200 in the load
/// benchmark, several MB). 64 posts in flight are over a thousand replies a second even at
/// DingTalk's 50 ms; the others wait their turn in memory, a few hundred bytes each.
const MAX_POSTS_IN_FLIGHT: usize = 64;
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

#[derive(Debug, Deserialize)]
struct WebhookAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Sends replies.
#[derive(Clone)]
pub struct Replier {
    http: reqwest::Client,
    api_base: String,
    tokens: TokenProvider,
    metrics: Arc<Metrics>,
    posts: Arc<tokio::sync::Semaphore>,
}

impl Replier {
    pub fn new(http: reqwest::Client, api_base: &str, tokens: TokenProvider, metrics: Arc<Metrics>) -> Self {
        let posts = Arc::new(tokio::sync::Semaphore::new(MAX_POSTS_IN_FLIGHT));
        Self { http, api_base: api_base.trim_end_matches('/').to_owned(), tokens, metrics, posts }
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
            let url = webhook.url().clone();
            // Never closed, so acquiring only waits.
            let permit = self.posts.acquire().await.ok();
            let posted = self.post_webhook(url, message).await;
            drop(permit);
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
                other => return other.map(|()| Channel::SessionWebhook),
            }
        } else {
            tracing::info!("session webhook expired or absent; replying through the OpenAPI");
        }
        // Boxed: the fallback is rare, and inline it would make every reply's future larger.
        Box::pin(self.send_openapi(target, message)).await.map(|()| Channel::OpenApi)
    }

    async fn post_webhook(&self, url: reqwest::Url, message: &OutgoingMessage) -> Result<(), ReplyError> {
        let started = Instant::now();
        let result = api::send_json::<WebhookAnswer>(self.http.post(url).json(&message.webhook_payload()))
            .await
            .map_err(ReplyError::WebhookTransport)
            .and_then(|answer| match answer.errcode {
                0 => Ok(()),
                errcode => Err(ReplyError::Webhook { errcode, errmsg: answer.errmsg }),
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
        let robot_code = target.robot_code.clone().unwrap_or_else(|| self.tokens.client_id().to_owned());
        let (msg_key, msg_param) = message.msg_key_and_param();
        let (endpoint, url, body) = match target.kind {
            ConversationKind::Group => (
                "group_send",
                format!("{}/v1.0/robot/groupMessages/send", self.api_base),
                json!({ "msgKey": msg_key, "msgParam": msg_param, "openConversationId": target.conversation_id, "robotCode": robot_code }),
            ),
            ConversationKind::Single => {
                let Some(staff_id) = target.sender_staff_id.as_deref() else {
                    self.metrics.reply(Channel::OpenApi.label(), "no_route");
                    return Err(ReplyError::NoRoute(
                        "a 1:1 reply needs the sender's staff id, which DingTalk did not send",
                    ));
                };
                (
                    "oto_send",
                    format!("{}/v1.0/robot/oToMessages/batchSend", self.api_base),
                    json!({ "robotCode": robot_code, "userIds": [staff_id], "msgKey": msg_key, "msgParam": msg_param }),
                )
            }
        };
        let corp = target.corp_id.as_deref();
        let mut result = self.post_openapi(corp, endpoint, &url, &body).await;
        if matches!(result, Err(ApiError::InvalidToken { .. })) {
            self.tokens.invalidate(target.corp_id.as_deref()).await;
            result = self.post_openapi(corp, endpoint, &url, &body).await;
        }
        self.metrics.reply(Channel::OpenApi.label(), result.as_ref().map_or_else(ApiError::kind, |()| "ok"));
        result.map_err(ReplyError::OpenApi)
    }

    async fn post_openapi(
        &self,
        corp: Option<&str>,
        endpoint: &'static str,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(), ApiError> {
        let token = self.tokens.token(corp).await?;
        let started = Instant::now();
        let request = self.http.post(url).header("x-acs-dingtalk-access-token", token.expose()).json(body);
        self.tokens.calls().record(corp, endpoint, Purpose::Reply);
        let result = api::send_json::<serde_json::Value>(request).await.map(drop);
        self.metrics.upstream(endpoint, result.as_ref().map_or_else(ApiError::kind, |()| "ok"), started.elapsed());
        result
    }
}

#[cfg(test)]
mod tests {
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
