//! The shared OpenAPI plumbing: the HTTP client, the error envelope and how failures map to
//! [`ApiError`].

use std::time::Duration;

use serde::Deserialize;

/// The new-style error envelope: `{"code": "...", "message": "...", "requestid": "..."}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub requestid: Option<String>,
}

/// Everything that can go wrong calling DingTalk, in the categories the bot answers differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("DingTalk says the meeting code is invalid ({code})")]
    InvalidRoomCode { code: String },
    #[error("DingTalk rejected the request parameters ({code})")]
    BadRequest { code: String },
    #[error("the app lacks a permission ({code}); grant VideoConference.Conference.Read")]
    NoPermission { code: String },
    #[error("DingTalk refused the call ({code}, HTTP {status})")]
    Forbidden { code: String, status: u16 },
    #[error("DingTalk is throttling this app ({code})")]
    Throttled { code: String },
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
        let envelope: ErrorEnvelope = serde_json::from_slice(body).unwrap_or_default();
        let code = envelope.code.unwrap_or_else(|| format!("http_{status}"));
        let lowered = code.to_ascii_lowercase();
        match (status, lowered.as_str()) {
            (_, "invalidroomcode" | "missingroomcode") => Self::InvalidRoomCode { code },
            (_, c) if c.starts_with("invalidauthentication") => Self::InvalidToken { code },
            (_, "invalidclientidorsecret" | "invalid.client" | "invalidsuitekey" | "authfailed") => {
                Self::BadCredentials { code }
            }
            (_, "unauthorized.client" | "invalidauthinfo") => Self::NotAuthorized { code },
            (_, "invalidsuiteticket") => Self::SuiteTicket { code },
            (_, c) if c.contains("qpslimit") || c.contains("throttl") => Self::Throttled { code },
            (_, "nopermission") => Self::NoPermission { code },
            (_, c) if c.contains("permissiondenied") => Self::NoPermission { code },
            (400, _) => Self::BadRequest { code },
            (401 | 403, _) => Self::Forbidden { code, status },
            (429, _) => Self::Throttled { code },
            _ => Self::Upstream { code, status },
        }
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

/// Builds the one HTTP client used for every DingTalk call.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("dingmeet/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|err| {
            tracing::error!(%err, "could not build the configured HTTP client; using defaults");
            reqwest::Client::new()
        })
}

/// rustls needs one process-wide crypto provider; we use ring (no C toolchain beyond cc).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Sends a request and reads its JSON answer, mapping every failure to an [`ApiError`].
pub async fn send_json<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, ApiError> {
    let response = request.send().await.map_err(|e| ApiError::from_reqwest(&e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| ApiError::from_reqwest(&e))?;
    if !status.is_success() {
        return Err(ApiError::from_status(status.as_u16(), &body));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))
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

    #[tokio::test]
    async fn network_errors_name_the_cause_but_not_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let url = format!("http://127.0.0.1:{port}/robot/sendBySession?session=session-token-123");
        let result = send_json::<serde_json::Value>(http_client(Duration::from_secs(2)).post(url)).await;
        let Err(err @ ApiError::Network(_)) = result else { panic!("expected a network error, got {result:?}") };
        let text = err.to_string();
        assert!(text.starts_with("could not reach DingTalk: could not connect"), "{text}");
        assert!(!text.contains("session-token-123") && !text.contains("127.0.0.1"), "{text}");
    }

    #[test]
    fn a_body_that_is_not_an_envelope_still_maps_by_status() {
        assert_eq!(
            ApiError::from_status(502, b"<html>bad gateway</html>"),
            ApiError::Upstream { code: "http_502".into(), status: 502 }
        );
        assert_eq!(ApiError::from_status(403, b""), ApiError::Forbidden { code: "http_403".into(), status: 403 });
    }
}
