//! Wiring: builds the state store, the clients, the bot and the router from settings; binds;
//! serves until told to stop, then drains the replies in flight within the grace period.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bot::handle::Bot;
use crate::config::{ConfigError, Settings};
use crate::dingtalk::api::http_client;
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::reply::{Replier, WebhookHosts};
use crate::dingtalk::sign::Verifier;
use crate::dingtalk::token::{Credentials, TokenProvider};
use crate::readiness::Readiness;
use crate::server::{self, AppState};
use crate::state::{RateLimit, StateError, StateOptions, StateStore};
use crate::telemetry::Metrics;

/// A bound, ready-to-run bot.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
    grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// The state store's options from settings.
pub fn state_options(settings: &Settings) -> StateOptions {
    StateOptions {
        dedupe_ttl: Duration::from_secs(settings.dedupe_ttl_secs.max(1)),
        rate_limit: RateLimit::per_minute(
            settings.rate_limit_per_minute,
            Duration::from_secs(settings.rate_limit_wait_secs),
        ),
        key_prefix: settings.redis_key_prefix.clone(),
    }
}

/// Opens the state store: Redis when `DINGMEET_REDIS_URL` is set (reporting to `readiness`),
/// else memory.
pub async fn open_state(settings: &Settings, readiness: &Readiness) -> Result<StateStore, StateError> {
    match settings.redis_url() {
        Some(url) => StateStore::redis(url, state_options(settings), readiness.clone()).await,
        None => Ok(StateStore::memory_with(state_options(settings))),
    }
}

/// Builds the bot (clients, caches) from settings around a state store.
pub fn build_bot(settings: &Settings, state: StateStore) -> Result<(Arc<Bot>, Arc<Verifier>), ConfigError> {
    let (client_id, client_secret) = settings.credentials()?;
    let metrics = Arc::new(Metrics::new());
    let http = http_client(settings.upstream_timeout());
    let mut secrets = vec![client_secret.clone()];
    secrets.extend(settings.callback_secrets.iter().cloned());
    let verifier = Arc::new(Verifier::new(secrets, Duration::from_secs(settings.sign_window_secs)));
    let tokens = TokenProvider::new(
        http.clone(),
        &settings.api_base,
        Credentials { client_id, client_secret },
        Arc::clone(&metrics),
    );
    let cache_ttl = Duration::from_secs(settings.cache_ttl_secs);
    let conferences =
        ConferenceClient::new(http.clone(), &settings.api_base, tokens.clone(), cache_ttl, Arc::clone(&metrics));
    let replier = Replier::new(
        http,
        &settings.api_base,
        WebhookHosts::new(&settings.webhook_hosts),
        tokens,
        Arc::clone(&metrics),
    );
    let bot = Bot::new(settings.lang, settings.timezone, conferences, replier, state, metrics);
    Ok((Arc::new(bot), verifier))
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        settings.credentials()?;
        let readiness = Readiness::new();
        let store = open_state(settings, &readiness).await?;
        let (bot, verifier) = build_bot(settings, store)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        Ok(Self {
            listener,
            state: AppState { bot, verifier, readiness },
            shutdown: CancellationToken::new(),
            grace: settings.shutdown_grace(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn bot(&self) -> Arc<Bot> {
        Arc::clone(&self.state.bot)
    }

    /// The readiness checks `/readyz` reports; the Stream client registers
    /// [`crate::readiness::STREAM`] here.
    pub fn readiness(&self) -> Readiness {
        self.state.readiness.clone()
    }

    /// Cancelled when shutdown begins: whatever else runs beside the HTTP server (the Stream
    /// client) watches it to stop taking messages and close its connection cleanly. Messages it
    /// already handed to the bot are drained with the HTTP ones.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.child_token()
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits for the replies in
    /// flight, all within the grace period (`DINGMEET_SHUTDOWN_GRACE_SECS`).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self { listener, state, shutdown: token, grace } = self;
        let bot = Arc::clone(&state.bot);
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        let serve =
            axum::serve(listener, server::router(state)).with_graceful_shutdown(token.clone().cancelled_owned());
        let mut serve = std::pin::pin!(serve.into_future());
        tokio::select! {
            result = &mut serve => return result,
            () = shutdown => {}
        }
        token.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        tracing::info!(grace_secs = grace.as_secs(), "shutting down: no longer accepting; finishing replies in flight");
        match tokio::time::timeout_at(deadline, serve).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "the HTTP server stopped with an error"),
            Err(_) => tracing::warn!("HTTP connections still open at the end of the grace period; closing them"),
        }
        if tokio::time::timeout_at(deadline, bot.drain()).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "gave up waiting for replies in flight: raise DINGMEET_SHUTDOWN_GRACE_SECS if this repeats"
            );
        } else {
            tracing::info!("every reply in flight delivered; stopped");
        }
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupted"),
        () = terminate => tracing::info!("terminated"),
    }
}
