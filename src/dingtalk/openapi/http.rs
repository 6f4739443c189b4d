//! The one HTTP client every DingTalk call uses, and the plain JSON exchange for the calls that
//! carry no organisation token (token requests, the Stream's open call, session webhooks).

use std::time::Duration;

use super::error::ApiError;

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
}
