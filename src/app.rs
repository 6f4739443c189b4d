//! Wiring: builds the clients, the bot and the router from settings; binds; serves (and runs the
//! Stream client) until told to stop, then drains the replies in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bot::access::Access;
use crate::bot::handle::Bot;
use crate::config::{AppType, ConfigError, Mode, Settings};
use crate::dingtalk::api::http_client;
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::reply::{Replier, WebhookHosts};
use crate::dingtalk::sign::Verifier;
use crate::dingtalk::token::{Credentials, TokenProvider};
use crate::server::{self, AppState};
use crate::state::StateStore;
use crate::stream::{StreamClient, StreamOptions};
use crate::telemetry::Metrics;

/// How long shutdown waits for replies in flight.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Everything built from settings, before anything listens.
pub struct Components {
    pub bot: Arc<Bot>,
    pub verifier: Arc<Verifier>,
    pub http: reqwest::Client,
    pub credentials: Credentials,
}

/// A bound, ready-to-run bot.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    mode: Mode,
    stream: Option<Arc<StreamClient>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Builds the bot (clients, caches, state) from settings.
pub fn build(settings: &Settings) -> Result<Components, ConfigError> {
    let (client_id, client_secret) = settings.credentials()?;
    let credentials = Credentials { client_id, client_secret };
    let metrics = Arc::new(Metrics::new());
    let http = http_client(settings.upstream_timeout());
    let mut secrets = vec![credentials.client_secret.clone()];
    secrets.extend(settings.callback_secrets.iter().cloned());
    let verifier = Arc::new(Verifier::new(secrets, Duration::from_secs(settings.sign_window_secs)));
    let state = StateStore::memory(Duration::from_secs(settings.dedupe_ttl_secs.max(1)));
    let mut tokens = TokenProvider::new(http.clone(), &settings.api_base, credentials.clone(), Arc::clone(&metrics));
    if settings.app_type == AppType::ThirdParty {
        tokens = tokens.third_party(settings.corp_token_route()?, Arc::new(state.clone()));
    }
    let cache_ttl = Duration::from_secs(settings.cache_ttl_secs);
    let conferences =
        ConferenceClient::new(http.clone(), &settings.api_base, tokens.clone(), cache_ttl, Arc::clone(&metrics));
    let hosts = WebhookHosts::new(&settings.webhook_hosts);
    let replier = Replier::new(http.clone(), &settings.api_base, hosts, tokens, Arc::clone(&metrics));
    let access = Access::new(settings.allow_conversations.clone(), settings.allow_users.clone());
    let bot = Bot::new(settings.lang, settings.timezone, conferences, replier, state, metrics).with_access(access);
    Ok(Components { bot: Arc::new(bot), verifier, http, credentials })
}

fn stream_options(settings: &Settings) -> StreamOptions {
    StreamOptions {
        backoff_initial: Duration::from_millis(settings.stream_backoff_initial_ms.max(1)),
        backoff_max: Duration::from_millis(settings.stream_backoff_max_ms.max(1)),
        ping_interval: Duration::from_millis(settings.stream_ping_interval_ms.max(10)),
        pong_timeout: Duration::from_millis(settings.stream_pong_timeout_ms.max(10)),
        connect_timeout: settings.upstream_timeout(),
        ..StreamOptions::default()
    }
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let components = build(settings)?;
        if let Some(ticket) = &settings.suite_ticket {
            components.bot.remember_suite_ticket(secrecy::ExposeSecret::expose_secret(ticket), false).await;
        }
        let stream = settings.mode.stream().then(|| {
            Arc::new(StreamClient::new(
                Arc::clone(&components.bot),
                components.http.clone(),
                &settings.api_base,
                components.credentials.clone(),
                stream_options(settings),
            ))
        });
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        let state = AppState {
            bot: components.bot,
            verifier: components.verifier,
            stream: stream.as_ref().map(|s| s.status()),
        };
        Ok(Self { listener, state, mode: settings.mode, stream })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn bot(&self) -> Arc<Bot> {
        Arc::clone(&self.state.bot)
    }

    /// Serves until `shutdown` resolves: stops accepting, closes the stream, and waits (bounded)
    /// for the replies in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let bot = Arc::clone(&self.state.bot);
        let stop = CancellationToken::new();
        tracing::info!(addr = %self.local_addr(), mode = ?self.mode, "listening");
        let stream_task = self.stream.map(|client| tokio::spawn(client.run(stop.clone())));
        let router = server::router(self.state, self.mode.http());
        let stop_serving = stop.clone();
        let serving = axum::serve(self.listener, router).with_graceful_shutdown(async move {
            shutdown.await;
            stop_serving.cancel();
        });
        let result = serving.await;
        stop.cancel();
        if let Some(task) = stream_task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        tracing::info!("no longer accepting; finishing replies in flight");
        if tokio::time::timeout(DRAIN_DEADLINE, bot.drain()).await.is_err() {
            tracing::warn!(deadline_secs = DRAIN_DEADLINE.as_secs(), "gave up waiting for replies in flight");
        }
        result
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
