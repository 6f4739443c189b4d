//! The HTTP client the simulator posts callbacks with (rustls with ring, as the bot uses).

use std::time::Duration;

/// A client with `timeout` for each request (and at most 3 s to connect).
pub fn client(timeout: Duration) -> reqwest::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Err means another part of the process installed one already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .timeout(timeout)
        .build()
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "could not build the simulator's HTTP client; using defaults");
            reqwest::Client::new()
        })
}
