//! Wiring: builds the state store, the clients, the bot and the router from settings; binds;
//! serves (and runs the Stream client) until told to stop, then drains the replies in flight
//! within the grace period.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bot::access::Access;
use crate::bot::budget::Budget;
use crate::bot::clock::{self, Clock};
use crate::bot::handle::Bot;
use crate::bot::live::{CardOptions, LiveCards};
use crate::config::{AppType, CardsMode, ConfigError, Mode, Settings};
use crate::dingtalk::api::http_client;
use crate::dingtalk::calls::Calls;
use crate::dingtalk::card::{Callback, CardClient};
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::reply::{Replier, WebhookHosts};
use crate::dingtalk::sign::Verifier;
use crate::dingtalk::token::{CorpTokenRoute, Credentials, TokenProvider};
use crate::readiness::Readiness;
use crate::server::{self, AppState};
use crate::state::{RateLimit, StateError, StateOptions, StateStore, SuiteTickets};
use crate::stream::{StreamClient, StreamOptions};
use crate::telemetry::Metrics;

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
    grace: Duration,
    /// `DINGMEET_PUBLIC_URL`: where card presses are called back in HTTP mode.
    public_url: Option<String>,
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
        redis_ca_file: settings.redis_ca_file().map(Path::to_path_buf),
        journal: settings.journal,
        journal_claim: settings.journal_claim(),
    }
}

/// Opens the state store: the store of record in the data directory, shared through Redis when
/// `DINGMEET_REDIS_URL` is set (reporting to `readiness`).
pub async fn open_state(settings: &Settings, readiness: &Readiness) -> Result<StateStore, StateError> {
    let store = StateStore::open(&settings.data_dir(), state_options(settings)).await?;
    match settings.redis_url() {
        Some(url) => store.with_redis(url, readiness.clone()).await,
        None => Ok(store),
    }
}

/// Builds the bot (clients, caches) from settings, with in-memory state.
pub fn build(settings: &Settings) -> Result<Components, ConfigError> {
    build_with_state(settings, StateStore::memory_with(state_options(settings)))
}

/// Builds the bot (clients, caches) from settings around a state store.
pub fn build_with_state(settings: &Settings, state: StateStore) -> Result<Components, ConfigError> {
    build_with_clock(settings, state, clock::system())
}

/// How interactive cards are made, from settings (`None`: answers are markdown only).
fn card_options(settings: &Settings) -> Option<CardOptions> {
    if settings.cards == CardsMode::Markdown {
        return None;
    }
    let public_url = settings.public_url.as_deref().map(str::trim).filter(|url| !url.is_empty());
    let callback = if settings.mode.stream() {
        Some(Callback::Stream)
    } else {
        public_url.map(|_| Callback::Http { route_key: CARD_ROUTE_KEY.to_owned() })
    };
    Some(CardOptions {
        template_id: settings.card_template_id.clone(),
        refresh: Duration::from_secs(settings.card_refresh_secs.max(1)),
        live: Duration::from_secs(settings.card_live_hours.saturating_mul(3600)),
        callback,
    })
}

/// The route key HTTP card callbacks are registered under.
pub const CARD_ROUTE_KEY: &str = "dingmeet";

/// Builds the bot around a state store, its scheduled work on `clock` (the wall clock in
/// service; a test's or benchmark's simulated clock).
pub fn build_with_clock(
    settings: &Settings,
    state: StateStore,
    clock: Arc<dyn Clock>,
) -> Result<Components, ConfigError> {
    let (client_id, client_secret) = settings.credentials()?;
    let credentials = Credentials { client_id, client_secret };
    let metrics = Arc::new(Metrics::new());
    let http = http_client(settings.upstream_timeout());
    let mut secrets = vec![credentials.client_secret.clone()];
    secrets.extend(settings.callback_secrets.iter().cloned());
    let verifier = Arc::new(Verifier::new(secrets, Duration::from_secs(settings.sign_window_secs)));
    let budget =
        Arc::new(Budget::new(settings.monthly_call_budget, clock::system(), state.registry(), Arc::clone(&metrics)));
    let mut tokens = TokenProvider::new(http.clone(), &settings.api_base, credentials.clone(), Arc::clone(&metrics))
        .with_calls(Calls::new(budget.clone()));
    if settings.app_type == AppType::ThirdParty {
        let tickets = SuiteTickets::new(state.clone(), settings.suite_ticket.clone());
        tokens = tokens.third_party(settings.corp_token_route()?, Arc::new(tickets));
    }
    let cache_ttl = Duration::from_secs(settings.cache_ttl_secs);
    let conferences = ConferenceClient::new(
        http.clone(),
        &settings.api_base,
        tokens.clone(),
        cache_ttl,
        settings.circuit_breaker(),
        Arc::clone(&metrics),
    );
    let hosts = WebhookHosts::new(&settings.webhook_hosts);
    let cards = card_options(settings).map(|options| {
        let client = CardClient::new(http.clone(), &settings.api_base, tokens.clone(), Arc::clone(&metrics));
        Arc::new(LiveCards::new(
            client,
            conferences.clone(),
            options,
            state.registry(),
            Arc::clone(&budget),
            Arc::clone(&clock),
            settings.timezone,
            Arc::clone(&metrics),
        ))
    });
    let replier = Replier::new(http.clone(), &settings.api_base, hosts, tokens, Arc::clone(&metrics));
    let access = Access::new(settings.allow_conversations.clone(), settings.allow_users.clone());
    let bot = Bot::new(settings.lang, settings.timezone, conferences, replier, state, metrics)
        .with_access(access)
        .with_budget(budget);
    let bot = match cards {
        Some(cards) => bot.with_cards(cards),
        None => bot,
    };
    Ok(Components { bot: Arc::new(bot), verifier, http, credentials })
}

/// A third-party app on the classic route needs suite tickets, which DingTalk pushes over the
/// Stream only: say so at start when none can arrive.
fn warn_about_suite_tickets(settings: &Settings) -> Result<(), ConfigError> {
    if settings.app_type != AppType::ThirdParty || settings.corp_token_route()? != CorpTokenRoute::Classic {
        return Ok(());
    }
    if !settings.mode.stream() {
        tracing::warn!(
            seeded = settings.suite_ticket.is_some(),
            redis = settings.redis_url().is_some(),
            "DINGMEET_CORP_TOKEN_ROUTE=classic without the Stream: DingTalk pushes suite tickets over the Stream only, \
             so this replica gets them from DINGMEET_SUITE_TICKET or from a Stream replica sharing its Redis"
        );
    }
    Ok(())
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
        Self::build_on(settings, clock::system()).await
    }

    /// Like [`Self::build`], with scheduled work (live cards, the budget's window) on `clock`.
    pub async fn build_on(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        settings.credentials()?;
        let readiness = Readiness::new();
        let store = open_state(settings, &readiness).await?;
        let components = build_with_clock(settings, store, clock)?;
        warn_about_suite_tickets(settings)?;
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
            readiness,
        };
        let public_url = settings.public_url.clone().filter(|url| !url.trim().is_empty());
        Ok(Self { listener, state, mode: settings.mode, stream, grace: settings.shutdown_grace(), public_url })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn bot(&self) -> Arc<Bot> {
        Arc::clone(&self.state.bot)
    }

    /// Named readiness checks `/readyz` reports besides the access token and the Stream socket
    /// (Redis, when configured).
    pub fn readiness(&self) -> Readiness {
        self.state.readiness.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting, closes the Stream connection and
    /// waits for the replies in flight, all within the grace period
    /// (`DINGMEET_SHUTDOWN_GRACE_SECS`).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self { listener, state, mode, stream, grace, public_url } = self;
        let bot = Arc::clone(&state.bot);
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        tracing::info!(%addr, ?mode, "listening");
        let stream_task = stream.map(|client| tokio::spawn(client.run(stop.clone())));
        // What was accepted before a crash (or taken over from a stopped replica) is finished
        // alongside new messages.
        bot.budget().load().await;
        bot.resume().await;
        let take_over = tokio::spawn(Arc::clone(&bot).take_over(stop.clone()));
        if let (Some(cards), Some(url)) = (bot.cards(), public_url.as_deref()) {
            cards.register_callback(url, crate::server::card_callback::PATH).await;
        }
        let live = bot.cards().map(|cards| tokio::spawn(Arc::clone(cards).run(stop.clone())));
        let serve = axum::serve(listener, server::router(state, mode.http()))
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        let mut serve = std::pin::pin!(serve.into_future());
        tokio::select! {
            result = &mut serve => {
                stop.cancel();
                return result;
            }
            () = shutdown => {}
        }
        stop.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        tracing::info!(grace_secs = grace.as_secs(), "shutting down: no longer accepting; finishing replies in flight");
        match tokio::time::timeout_at(deadline, serve).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "the HTTP server stopped with an error"),
            Err(_) => tracing::warn!("HTTP connections still open at the end of the grace period; closing them"),
        }
        if let Some(task) = stream_task
            && tokio::time::timeout_at(deadline, task).await.is_err()
        {
            tracing::warn!("the Stream connection did not close within the grace period");
        }
        take_over.abort();
        if let Some(live) = live {
            live.abort();
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
