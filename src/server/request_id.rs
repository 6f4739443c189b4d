//! `X-Request-Id`: each request's id, taken from the request (a proxy's or the caller's) or made,
//! echoed in the response and carried by the request's log span, so one id finds a request in
//! the caller's logs and in the bot's.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header read and echoed.
pub const HEADER: &str = "x-request-id";

/// The longest id taken from a request; a longer or odd one is replaced, so a caller cannot
/// fill the logs through it.
const MAX_LEN: usize = 64;

/// A request's id: the caller's, or 16 hex digits made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A new id, different for every request.
    pub fn new() -> Self {
        Self(format!("{:016x}", fastrand::u64(..)))
    }

    /// The caller's id when it is one: 1 to 64 visible ASCII characters.
    pub fn from_header(value: Option<&HeaderValue>) -> Option<Self> {
        let text = value?.to_str().ok()?;
        let acceptable = !text.is_empty() && text.len() <= MAX_LEN && text.bytes().all(|b| b.is_ascii_graphic());
        acceptable.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The middleware: the id into the request's extensions (handlers put it on their own spans),
/// the request served within a `request` span carrying it, and the id on the response.
pub async fn tag(mut request: Request, next: Next) -> Response {
    let id = RequestId::from_header(request.headers().get(HEADER)).unwrap_or_default();
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_id_is_kept_when_it_is_short_visible_ascii() {
        let id = |text: &str| RequestId::from_header(Some(&HeaderValue::from_str(text).expect("a header value")));
        assert_eq!(id("req-7f3a/1").map(|id| id.0), Some("req-7f3a/1".to_owned()));
        assert_eq!(id(""), None);
        assert_eq!(id("two words"), None);
        assert_eq!(id(&"x".repeat(65)), None);
        assert!(id(&"x".repeat(64)).is_some());
        assert_eq!(RequestId::from_header(None), None);
    }

    #[test]
    fn a_made_id_is_16_hex_digits_and_new_each_time() {
        let (a, b) = (RequestId::new(), RequestId::new());
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
