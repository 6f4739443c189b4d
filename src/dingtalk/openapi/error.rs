//! [`ApiError`]: every way a DingTalk call fails, mapped from both answer styles: the new
//! `{code, message, requestid, accessdenieddetail}` with its HTTP status, and the old
//! `{errcode, errmsg}` that comes with HTTP 200.

use std::time::Duration;

use serde::Deserialize;

use crate::dingtalk::loose_json;

/// How long a per-second limit (`…QpsLimit…`) asks to wait: DingTalk advises at least a second.
const PER_SECOND_WAIT: Duration = Duration::from_secs(1);
/// How long a per-minute limit (`…QpmLimit…`) asks to wait.
const PER_MINUTE_WAIT: Duration = Duration::from_secs(60);
/// How long DingTalk holds back a robot past its per-minute quota (`130101`, `660026`).
const ROBOT_QUOTA_WAIT: Duration = Duration::from_secs(600);

/// The new-style error envelope: `{"code","message","requestid","accessdenieddetail"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub requestid: Option<String>,
    /// On `Forbidden.AccessDenied.AccessTokenPermissionDenied`: the scopes the call needs.
    #[serde(default)]
    pub accessdenieddetail: Option<AccessDeniedDetail>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccessDeniedDetail {
    #[serde(default, rename = "requiredScopes")]
    pub required_scopes: Vec<String>,
}

/// The old-style envelope (oapi, session webhooks): `errcode` may be a number or a string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OldEnvelope {
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub errcode: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub errmsg: Option<String>,
}

/// Everything that can go wrong calling DingTalk, in the categories the bot answers differently.
/// Serialized so a live card can keep the answer it shows (an error included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ApiError {
    #[error("DingTalk says the meeting code is invalid ({code})")]
    InvalidRoomCode { code: String },
    #[error("DingTalk rejected the request parameters ({code})")]
    BadRequest { code: String },
    /// `scopes`: what DingTalk says the call needs, else what the endpoint is declared to need.
    #[error("the app lacks the permission {} ({code}); an administrator grants it in the developer console", scope_list(.scopes))]
    NoPermission { code: String, scopes: Vec<String> },
    #[error("DingTalk refused the call ({code}, HTTP {status})")]
    Forbidden { code: String, status: u16 },
    /// `retry_after_ms`: how long DingTalk asks to wait, when it says or the limit implies it.
    #[error("DingTalk is throttling this app ({code})")]
    Throttled { code: String, retry_after_ms: Option<u64> },
    #[error("the access token was refused ({code})")]
    InvalidToken { code: String },
    #[error("DingTalk refused the app's credentials ({code}): check DINGMEET_CLIENT_ID and DINGMEET_CLIENT_SECRET")]
    BadCredentials { code: String },
    #[error("the organisation has not installed or authorised the app ({code})")]
    NotAuthorized { code: String },
    #[error("no valid suite ticket ({code}): waiting for DingTalk's suite_ticket push")]
    SuiteTicket { code: String },
    #[error("the message names no organisation (no chatbotCorpId or senderCorpId), so there is no token to use")]
    NoOrganisation,
    #[error("DingTalk failed ({code}, HTTP {status})")]
    Upstream { code: String, status: u16 },
    #[error("DingTalk did not answer in time")]
    Timeout,
    #[error("could not reach DingTalk: {0}")]
    Network(String),
    #[error("DingTalk's answer could not be read: {0}")]
    Decode(String),
    /// Not a call: DingTalk failed several lookups in a row, so lookups pause for a while
    /// (see `breaker`).
    #[error("DingTalk has not been answering; lookups are paused for {retry_in_secs} s")]
    CircuitOpen { retry_in_secs: u64 },
}

fn scope_list(scopes: &[String]) -> String {
    if scopes.is_empty() { "(not named)".to_owned() } else { scopes.join(", ") }
}

impl ApiError {
    /// A short stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRoomCode { .. } => "invalid_room_code",
            Self::BadRequest { .. } => "bad_request",
            Self::NoPermission { .. } => "no_permission",
            Self::Forbidden { .. } => "forbidden",
            Self::Throttled { .. } => "throttled",
            Self::InvalidToken { .. } => "invalid_token",
            Self::BadCredentials { .. } => "bad_credentials",
            Self::NotAuthorized { .. } => "not_authorized",
            Self::SuiteTicket { .. } => "suite_ticket",
            Self::NoOrganisation => "no_organisation",
            Self::Upstream { .. } => "upstream_error",
            Self::Timeout => "timeout",
            Self::Network(_) => "network",
            Self::Decode(_) => "decode",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }

    /// Maps a non-2xx answer to an error, from its status and the envelope's `code`.
    pub fn from_status(status: u16, body: &[u8]) -> Self {
        Self::from_response(status, None, body)
    }

    /// As [`Self::from_status`], with the answer's `Retry-After` (a 429's advised wait).
    pub fn from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let envelope: ErrorEnvelope = serde_json::from_slice(body).unwrap_or_default();
        let code = envelope.code.unwrap_or_else(|| format!("http_{status}"));
        let lowered = code.to_ascii_lowercase();
        let throttled = |wait: Option<Duration>| {
            let retry_after_ms = retry_after.or(wait).map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX));
            Self::Throttled { code: code.clone(), retry_after_ms }
        };
        let no_permission = || {
            let detail = envelope.accessdenieddetail.map(|d| d.required_scopes).unwrap_or_default();
            let scopes =
                if detail.is_empty() { bracketed(envelope.message.as_deref().unwrap_or_default()) } else { detail };
            Self::NoPermission { code: code.clone(), scopes }
        };
        match (status, lowered.as_str()) {
            (_, "invalidroomcode" | "missingroomcode") => Self::InvalidRoomCode { code },
            (_, c) if c.starts_with("invalidauthentication") => Self::InvalidToken { code },
            (_, "invalidclientidorsecret" | "invalid.client" | "invalidsuitekey" | "authfailed") => {
                Self::BadCredentials { code }
            }
            (_, "unauthorized.client" | "invalidauthinfo") => Self::NotAuthorized { code },
            (_, "invalidsuiteticket") => Self::SuiteTicket { code },
            (_, c) if c.contains("qpmlimit") => throttled(Some(PER_MINUTE_WAIT)),
            (_, c) if c.contains("qpslimit") => throttled(Some(PER_SECOND_WAIT)),
            (_, c) if c.contains("throttl") => throttled(None),
            (_, "nopermission") => no_permission(),
            (_, c) if c.contains("permissiondenied") => no_permission(),
            (400, _) => Self::BadRequest { code },
            (401 | 403, _) => Self::Forbidden { code, status },
            (429, _) => throttled(None),
            _ => Self::Upstream { code, status },
        }
    }

    /// Maps an old-style answer (HTTP 200) to an error; `None` when `errcode` is absent or 0.
    pub fn from_errcode(body: &[u8]) -> Option<Self> {
        let envelope: OldEnvelope = serde_json::from_slice(body).ok()?;
        let errcode = envelope.errcode.filter(|c| *c != 0)?;
        let errmsg = envelope.errmsg.unwrap_or_default();
        let code = errcode.to_string();
        Some(match errcode {
            // Invalid, expired, missing access_token.
            40014 | 42001 | 41001 => Self::InvalidToken { code },
            40089 | 40096 => Self::BadCredentials { code },
            130_101 | 660_026 => {
                Self::Throttled { code, retry_after_ms: u64::try_from(ROBOT_QUOTA_WAIT.as_millis()).ok() }
            }
            60011 => Self::NoPermission { code, scopes: bracketed(&errmsg) },
            33012 | 400_002 => Self::BadRequest { code },
            _ => Self::Upstream { code, status: 200 },
        })
    }

    pub fn from_reqwest(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else if err.is_decode() {
            Self::Decode(err.to_string())
        } else {
            Self::Network(describe(err))
        }
    }
}

/// The names in a message's `[…]` (`应用尚未开通所需的权限：[Document.AIAssistant.Read]`).
fn bracketed(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once('[') else { return Vec::new() };
    let Some((inside, _)) = rest.split_once(']') else { return Vec::new() };
    inside
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        .map(str::to_owned)
        .collect()
}

/// What went wrong, down to the root cause, without the URL: reqwest's own `Display` names the
/// URL, and a session webhook's URL carries the session's token.
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "too many redirects"
    } else if err.is_body() {
        "the body could not be sent or read"
    } else {
        "the request failed"
    };
    let mut text = what.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str) -> ApiError {
        ApiError::from_status(status, format!(r#"{{"code":"{code}","message":"m","requestid":"r"}}"#).as_bytes())
    }

    #[test]
    fn documented_conference_errors_map_to_their_own_kinds() {
        assert_eq!(err(400, "invalidRoomCode").kind(), "invalid_room_code");
        assert_eq!(err(400, "missingRoomCode").kind(), "invalid_room_code");
        assert_eq!(err(400, "paramError").kind(), "bad_request");
        assert_eq!(err(403, "noPermission").kind(), "no_permission");
        assert_eq!(err(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied").kind(), "no_permission");
        assert_eq!(err(403, "Forbidden.AccessDenied.IpNotInWhiteList").kind(), "forbidden");
        assert_eq!(err(403, "Forbidden.AccessDenied.QpsLimitForApi").kind(), "throttled");
        assert_eq!(err(500, "systemError").kind(), "upstream_error");
        assert_eq!(err(400, "InvalidAuthentication").kind(), "invalid_token");
        assert_eq!(err(400, "invalidClientIdOrSecret").kind(), "bad_credentials");
        assert_eq!(err(401, "unauthorized.client").kind(), "not_authorized");
        assert_eq!(err(400, "invalidAuthInfo").kind(), "not_authorized");
        assert_eq!(err(400, "invalidSuiteTicket").kind(), "suite_ticket");
    }

    #[test]
    fn a_body_that_is_not_an_envelope_still_maps_by_status() {
        assert_eq!(
            ApiError::from_status(502, b"<html>bad gateway</html>"),
            ApiError::Upstream { code: "http_502".into(), status: 502 }
        );
        assert_eq!(ApiError::from_status(403, b""), ApiError::Forbidden { code: "http_403".into(), status: 403 });
    }

    #[test]
    fn a_permission_error_keeps_the_scopes_dingtalk_names() {
        let body = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","requestid":"MASK",
            "message":"没有调用该接口的权限","accessdenieddetail":{"requiredScopes":["Contact.User.Read"]}}"#;
        let scopes = |e| match e {
            ApiError::NoPermission { scopes, .. } => scopes,
            other => panic!("expected no permission, got {other:?}"),
        };
        assert_eq!(scopes(ApiError::from_status(403, body.as_bytes())), ["Contact.User.Read"]);
        let in_message = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "message":"应用尚未开通所需的权限：[Document.AIAssistant.Read]"}"#;
        assert_eq!(scopes(ApiError::from_status(403, in_message.as_bytes())), ["Document.AIAssistant.Read"]);
        assert!(scopes(err(403, "noPermission")).is_empty(), "the caller fills in the declared permission");
        let text = ApiError::from_status(403, body.as_bytes()).to_string();
        assert!(text.contains("Contact.User.Read") && text.contains("developer console"), "{text}");
    }

    #[test]
    fn limits_carry_the_wait_they_imply() {
        let wait = |e| match e {
            ApiError::Throttled { retry_after_ms, .. } => retry_after_ms,
            other => panic!("expected throttled, got {other:?}"),
        };
        assert_eq!(wait(err(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")), Some(1000));
        assert_eq!(wait(err(403, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi")), Some(60_000));
        assert_eq!(wait(ApiError::from_response(429, Some(Duration::from_secs(3)), b"")), Some(3000));
        assert_eq!(wait(ApiError::from_status(429, b"")), None);
    }

    #[test]
    fn old_style_errcodes_compare_numerically_even_as_strings() {
        assert_eq!(ApiError::from_errcode(br#"{"errcode":"0","errmsg":"ok"}"#), None);
        assert_eq!(ApiError::from_errcode(br#"{"errcode":0,"errmsg":"ok","result":{}}"#), None);
        assert_eq!(ApiError::from_errcode(br#"{"result":{}}"#), None);
        let kind = |body: &str| ApiError::from_errcode(body.as_bytes()).map(|e| e.kind());
        assert_eq!(kind(r#"{"errcode":"40014","errmsg":"不合法的access_token"}"#), Some("invalid_token"));
        assert_eq!(kind(r#"{"errcode":130101,"errmsg":"send too fast"}"#), Some("throttled"));
        assert_eq!(kind(r#"{"errcode":33012,"errmsg":"无效的userId"}"#), Some("bad_request"));
        assert_eq!(kind(r#"{"errcode":-1,"errmsg":"系统繁忙"}"#), Some("upstream_error"));
        assert_eq!(
            ApiError::from_errcode(br#"{"errcode":60011,"errmsg":"no permission: [qyapi_get_member]"}"#),
            Some(ApiError::NoPermission { code: "60011".into(), scopes: vec!["qyapi_get_member".into()] })
        );
    }
}
