//! Wiring: builds the state store, the clients, the bot and the router from settings; binds;
//! serves (and runs the Stream client) until told to stop, then drains the replies in flight
//! within the grace period.

mod options;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bot::access::Access;
use crate::bot::budget::Budget;
use crate::bot::handle::{Bot, BotParts};
use crate::bot::live::LiveCards;
use crate::bot::meeting_events::MeetingEvents;
use crate::bot::organiser::Organiser;
use crate::bot::remind::{RemindSettings, Reminders};
use crate::clock::{self, SharedClock};
use crate::config::{AppType, ConfigError, Mode, Settings};
use crate::dingtalk::callback_crypto::EventCipher;
use crate::dingtalk::card::CardClient;
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::meeting_api::MeetingApi;
use crate::dingtalk::openapi::call_purpose::Calls;
use crate::dingtalk::openapi::token::{AppKind, CorpTokenRoute, Credentials, TokenProvider};
use crate::dingtalk::openapi::{Bases, OpenApi, http_client};
use crate::dingtalk::reply::Replier;
use crate::dingtalk::sign::Verifier;
use crate::dingtalk::webhook::WebhookHosts;
use crate::readiness::Readiness;
use crate::server::limits::{HttpLimits, raise_open_files_limit};
use crate::server::{self, AppState};
pub use crate::signals::shutdown_signal;
use crate::state::{StateError, StateStore, SuiteTickets};
use crate::stream_client::StreamClient;
use crate::telemetry::Metrics;

pub use self::options::state_options;
use self::options::{card_options, stream_options};

/// Everything built from settings, before anything listens.
pub struct Components {
    pub bot: Arc<Bot>,
    pub verifier: Arc<Verifier>,
    pub http: reqwest::Client,
    pub credentials: Credentials,
    /// The event subscription's cipher, when its token and aes_key are set.
    pub events: Option<Arc<EventCipher>>,
}

/// A bound, ready-to-run bot.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    mode: Mode,
    stream: Option<Arc<StreamClient>>,
    grace: Duration,
    limits: HttpLimits,
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

/// Opens the state store: the store of record in the data directory, shared through Redis when
/// `DINGMEET_REDIS_URL` is set (reporting to `readiness`).
pub async fn open_state(settings: &Settings, readiness: &Readiness) -> Result<StateStore, StateError> {
    let store = StateStore::open(&settings.state.data_dir, state_options(settings)).await?;
    match &settings.state.redis_url {
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

/// The route key HTTP card callbacks are registered under.
pub const CARD_ROUTE_KEY: &str = "dingmeet";

/// Builds the bot around a state store, its background work (reminders, live cards, the
/// budget's window) reading `clock` (the simulator's in tests and the sandbox).
pub fn build_with_clock(settings: &Settings, state: StateStore, clock: SharedClock) -> Result<Components, ConfigError> {
    let (client_id, client_secret) = settings.credentials()?;
    let credentials = Credentials { client_id, client_secret };
    let metrics = Arc::new(Metrics::with_redis_emptied(state.redis_emptied()));
    let http = http_client(settings.dingtalk.timeout);
    let mut secrets = vec![credentials.client_secret.clone()];
    secrets.extend(settings.server.callback_secrets.iter().cloned());
    let verifier = Arc::new(Verifier::new(secrets, settings.server.sign_window));
    let budget =
        Arc::new(Budget::new(settings.dingtalk.monthly_call_budget, Arc::clone(&clock), &state, Arc::clone(&metrics)));
    metrics.operations().budget_limit(settings.dingtalk.monthly_call_budget);
    let mut tokens =
        TokenProvider::new(http.clone(), &settings.dingtalk.api_base, credentials.clone(), Arc::clone(&metrics))
            .with_calls(Calls::new(budget.clone()));
    if settings.app.app_type == AppType::ThirdParty {
        let tickets = SuiteTickets::new(state.clone(), settings.app.suite_ticket.clone());
        tokens = tokens.third_party(settings.app.corp_token_route, Arc::new(tickets));
    }
    let dingtalk = &settings.dingtalk;
    let bases = Bases { api: &dingtalk.api_base, oapi: &dingtalk.oapi_base };
    let api = OpenApi::new(http.clone(), bases, tokens, Arc::clone(&metrics), dingtalk.timeout)
        .with_breaker(dingtalk.circuit_breaker);
    let conferences = ConferenceClient::new(api.clone(), dingtalk.cache_ttl, Arc::clone(&metrics));
    let answers = &settings.answers;
    let live = card_options(settings).map(|options| {
        let client = CardClient::new(api.clone());
        Arc::new(LiveCards::new(
            client,
            conferences.clone(),
            options,
            &state,
            Arc::clone(&budget),
            Arc::clone(&clock),
            answers.timezone,
            Arc::clone(&metrics),
        ))
    });
    let events = Arc::new(MeetingEvents::new(
        &state,
        live.clone(),
        api.clone(),
        Arc::clone(&clock),
        Arc::clone(&metrics),
        settings.server.events.is_some(),
    ));
    let meeting_api = MeetingApi::new(api.clone());
    let replier = Replier::new(http.clone(), api, Arc::clone(&metrics));
    let organiser = Organiser::new(meeting_api, &state, replier.clone(), Arc::clone(&clock));
    let reminders = Reminders::new(
        &state,
        conferences.clone(),
        replier.clone(),
        Arc::clone(&metrics),
        Arc::clone(&clock),
        RemindSettings { days: answers.remind_days.max(1), timezone: answers.timezone },
    )
    .with_budget(Arc::clone(&budget));
    let bot = Bot::new(BotParts {
        lang: answers.lang,
        timezone: answers.timezone,
        conferences,
        hosts: WebhookHosts::new(&dingtalk.webhook_hosts),
        replier,
        state,
        metrics,
        access: Access::new(answers.allow_conversations.clone(), answers.allow_users.clone()),
        reminders: Some(Arc::new(reminders)),
        budget,
        live,
        events,
        clock,
        organiser,
    });
    let events = match &settings.server.events {
        Some(push) => Some(Arc::new(
            EventCipher::new(push.token.clone(), &push.aes_key, &credentials.client_id)
                .map_err(|err| ConfigError::Invalid(format!("DINGMEET_EVENT_AES_KEY: {err}")))?,
        )),
        None => None,
    };
    Ok(Components { bot: Arc::new(bot), verifier, http, credentials, events })
}

/// A third-party app on the classic route needs suite tickets, which DingTalk pushes over the
/// Stream only: say so at start when none can arrive.
fn warn_about_suite_tickets(settings: &Settings) {
    if settings.app.app_type != AppType::ThirdParty || settings.app.corp_token_route != CorpTokenRoute::Classic {
        return;
    }
    if !settings.server.mode.stream() {
        tracing::warn!(
            seeded = settings.app.suite_ticket.is_some(),
            redis = settings.state.redis_url.is_some(),
            "DINGMEET_CORP_TOKEN_ROUTE=classic without the Stream: DingTalk pushes suite tickets over the Stream only, \
             so this replica gets them from DINGMEET_SUITE_TICKET or from a Stream replica sharing its Redis"
        );
    }
}

/// How long a failed access-token check is repeated before DingTalk is asked again.
const TOKEN_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The checks `/readyz` reports besides the pushed ones (Redis): the configuration (it loaded,
/// or the process would not run), the access token (needed until the first one), the store's
/// writer, and the Stream socket in stream mode.
fn register_checks(readiness: &Readiness, bot: &Bot, stream: Option<&StreamClient>) {
    readiness.pass("config");
    let tokens = bot.tokens().clone();
    readiness.probe_remembered("access_token", TOKEN_RETRY_AFTER, move || {
        let tokens = tokens.clone();
        async move {
            match tokens.kind() {
                AppKind::Internal => tokens.token(None).await.map(drop).map_err(|err| err.to_string()),
                // A third-party app has no token of its own, only per organisation.
                AppKind::ThirdParty(_) => Ok(()),
            }
        }
    });
    if let Some(stream) = stream {
        let status = stream.status();
        readiness.probe("stream", move || {
            let connected = status.connected();
            async move {
                if connected { Ok(()) } else { Err("the Stream connection is down; reconnecting".to_owned()) }
            }
        });
    }
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        Self::build_with_clock(settings, clock::system()).await
    }

    /// As [`Application::build`], with background work (reminders) reading `clock`.
    pub async fn build_with_clock(settings: &Settings, clock: SharedClock) -> Result<Self, StartError> {
        settings.credentials()?;
        let addr = settings.server.listen;
        let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        Self::build_on(settings, clock, listener).await
    }

    /// As [`Application::build_with_clock`], serving on `listener`, bound already (the sandbox
    /// binds first, so the bot's public URL can name its port).
    pub async fn build_on(settings: &Settings, clock: SharedClock, listener: TcpListener) -> Result<Self, StartError> {
        settings.credentials()?;
        let readiness = Readiness::new();
        let store = open_state(settings, &readiness).await?;
        let durable = store.durable().cloned();
        let components = build_with_clock(settings, store, clock)?;
        warn_about_suite_tickets(settings);
        let stream = settings.server.mode.stream().then(|| {
            Arc::new(StreamClient::new(
                Arc::clone(&components.bot),
                components.http.clone(),
                &settings.dingtalk.api_base,
                components.credentials.clone(),
                stream_options(settings),
            ))
        });
        register_checks(&readiness, &components.bot, stream.as_deref());
        if let Some(durable) = durable {
            server::health::watch_store(&readiness, components.bot.metrics(), durable);
        }
        let state =
            AppState { bot: components.bot, verifier: components.verifier, readiness, events: components.events };
        let limits = HttpLimits::new(&settings.server, raise_open_files_limit());
        let server = &settings.server;
        Ok(Self {
            listener,
            state,
            mode: server.mode,
            stream,
            grace: server.shutdown_grace,
            limits,
            public_url: settings.cards.public_url.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn bot(&self) -> Arc<Bot> {
        Arc::clone(&self.state.bot)
    }

    /// The named checks `/readyz` reports.
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
        let Self { listener, state, mode, stream, grace, limits, public_url } = self;
        let bot = Arc::clone(&state.bot);
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        tracing::info!(%addr, ?mode, "listening");
        #[cfg(unix)]
        crate::systemd::Notifier::from_environment().watch(state.readiness.clone(), stop.clone());
        // What was accepted before a crash is finished alongside new messages. Read before any
        // transport runs: a message this process records itself must not look left over (it
        // would be answered twice).
        bot.budget().load().await;
        bot.resume().await;
        let stream_task = stream.map(|client| tokio::spawn(client.run(stop.clone())));
        let take_over = tokio::spawn(Arc::clone(&bot).take_over(stop.clone()));
        let reminders = bot.reminders().map(|reminders| tokio::spawn(Arc::clone(reminders).run(stop.clone())));
        if let (Some(live), Some(url)) = (bot.live_cards(), public_url.as_deref()) {
            live.register_callback(url, crate::server::card_callback::PATH).await;
        }
        let live = bot.live_cards().map(|live| tokio::spawn(Arc::clone(live).run(stop.clone())));
        let events = tokio::spawn(Arc::clone(bot.meeting_events()).run(stop.clone()));
        let budget = tokio::spawn(Arc::clone(bot.budget()).run(stop.clone()));
        let connections = state.bot.metrics().connections().clone();
        let serve =
            server::listener::serve(listener, server::router(state, mode.http()), limits, connections, stop.clone());
        let mut serve = std::pin::pin!(serve);
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
        // A pass in progress finishes its sends (each is kept as being sent before it goes).
        if let Some(task) = reminders
            && tokio::time::timeout_at(deadline, task).await.is_err()
        {
            tracing::warn!("the reminder scheduler did not stop within the grace period");
        }
        // A look in progress finishes and keeps the card's next look (else, on Redis, the
        // card waits for its claim to lapse before another replica may look).
        if let Some(task) = live
            && tokio::time::timeout_at(deadline, task).await.is_err()
        {
            tracing::warn!("the live card scheduler did not stop within the grace period");
        }
        // What is not shown yet stays due in the records, for the next start or another replica.
        events.abort();
        // The drain keeps the counts once more.
        budget.abort();
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
