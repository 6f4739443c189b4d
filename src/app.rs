//! Wiring: builds the clients, the bot and the router from settings; binds; serves until told to
//! stop, then drains the replies in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::bot::access::Access;
use crate::bot::handle::Bot;
use crate::config::{ConfigError, Settings};
use crate::dingtalk::api::http_client;
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::reply::{Replier, WebhookHosts};
use crate::dingtalk::sign::Verifier;
use crate::dingtalk::token::{Credentials, TokenProvider};
use crate::server::{self, AppState};
use crate::state::StateStore;
use crate::telemetry::Metrics;

/// How long shutdown waits for replies in flight.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A bound, ready-to-run bot.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Builds the bot (clients, caches, state) from settings.
pub fn build_bot(settings: &Settings) -> Result<(Arc<Bot>, Arc<Verifier>), ConfigError> {
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
    let state = StateStore::memory(Duration::from_secs(settings.dedupe_ttl_secs.max(1)));
    let access = Access::new(settings.allow_conversations.clone(), settings.allow_users.clone());
    let bot = Bot::new(settings.lang, settings.timezone, conferences, replier, state, metrics).with_access(access);
    Ok((Arc::new(bot), verifier))
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let (bot, verifier) = build_bot(settings)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        Ok(Self { listener, state: AppState { bot, verifier } })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn bot(&self) -> Arc<Bot> {
        Arc::clone(&self.state.bot)
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits (bounded) for the
    /// replies in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let bot = Arc::clone(&self.state.bot);
        tracing::info!(addr = %self.local_addr(), "listening");
        axum::serve(self.listener, server::router(self.state)).with_graceful_shutdown(shutdown).await?;
        tracing::info!("no longer accepting; finishing replies in flight");
        if tokio::time::timeout(DRAIN_DEADLINE, bot.drain()).await.is_err() {
            tracing::warn!(deadline_secs = DRAIN_DEADLINE.as_secs(), "gave up waiting for replies in flight");
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
