//! Stream mode: keeps a WebSocket to DingTalk's gateway open and hands each robot message to
//! the bot's intake, exactly as an HTTP callback would be. This file is the connection loop
//! (open, reconnect with backoff, hand off on `disconnect`); [`session`] is one socket's life,
//! [`ack`] the ack policy, [`backoff`] the pacing.
//!
//! Against the simulator (`dingtalk-sim`, whose gateway is always on), `DINGMEET_MODE=stream`
//! with the simulator's `bot_env()` is all it takes: the open call goes to `DINGMEET_API_BASE`
//! and answers with the simulator's own `ws://` endpoint.

mod ack;
mod backoff;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use self::backoff::{Backoff, millis, pause};
use self::session::{SessionEnd, Socket};
use crate::bot::handle::Bot;
use crate::dingtalk::openapi::ApiError;
use crate::dingtalk::openapi::token::Credentials;
use crate::dingtalk::stream_frame::{self as wire, BadEndpoint};

/// How the client paces itself.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Send a WebSocket ping after this long without hearing from the server.
    pub ping_interval: Duration,
    /// Declare the socket dead when nothing arrives this long after a ping.
    pub pong_timeout: Duration,
    /// After a `disconnect` frame, keep reading the old socket at most this long.
    pub drain_after_disconnect: Duration,
    /// The longest wait for the WebSocket handshake (the open call has the HTTP client's timeout).
    pub connect_timeout: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            drain_after_disconnect: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether the stream is up, for readiness: the number of live sockets.
#[derive(Debug, Default)]
pub struct StreamStatus {
    live: AtomicUsize,
}

impl StreamStatus {
    pub fn connected(&self) -> bool {
        self.live.load(Ordering::SeqCst) > 0
    }

    fn socket_opened(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    fn socket_closed(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a connection could not be opened or was lost.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("gateway open failed: {0}")]
    Open(#[from] ApiError),
    #[error(transparent)]
    Endpoint(#[from] BadEndpoint),
    /// `host` only: the URL carries the ticket.
    #[error("websocket connect to {host} timed out after {after:?}")]
    ConnectTimeout { host: String, after: Duration },
    #[error("websocket connect to {host} failed: {source}")]
    Connect { host: String, source: Box<WsError> },
    #[error("no answer to ping")]
    PingUnanswered,
    #[error("the server closed the socket")]
    Closed,
    #[error("socket error: {0}")]
    Socket(Box<WsError>),
    #[error("the write did not finish within {0:?}")]
    WriteTimeout(Duration),
    #[error("{what} failed: {source}")]
    Write { what: &'static str, source: Box<StreamError> },
    #[error("the session task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The Stream client.
pub struct StreamClient {
    bot: Arc<Bot>,
    http: reqwest::Client,
    api_base: String,
    credentials: Credentials,
    options: StreamOptions,
    status: Arc<StreamStatus>,
    /// Sessions and the messages they handed over, so shutdown can wait for both.
    tasks: TaskTracker,
}

impl StreamClient {
    pub fn new(
        bot: Arc<Bot>,
        http: reqwest::Client,
        api_base: &str,
        credentials: Credentials,
        options: StreamOptions,
    ) -> Self {
        let api_base = api_base.trim_end_matches('/').to_owned();
        Self { bot, http, api_base, credentials, options, status: Arc::default(), tasks: TaskTracker::new() }
    }

    pub fn status(&self) -> Arc<StreamStatus> {
        Arc::clone(&self.status)
    }

    /// Connects and reconnects until `shutdown` is cancelled; then waits for the sessions to
    /// close and for every acknowledged message to be handed to the bot.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Backoff::default();
        self.bot.metrics().operations().stream_enabled();
        let mut first = true;
        while !shutdown.is_cancelled() {
            if !first {
                self.bot.metrics().stream_reconnect();
            }
            first = false;
            let connected = tokio::select! {
                connected = self.connect() => connected,
                () = shutdown.cancelled() => break,
            };
            let socket = match connected {
                Ok(socket) => socket,
                Err(err) => {
                    let delay = backoff.next_delay(&self.options);
                    tracing::warn!(%err, retry_in_ms = millis(delay), "stream connection failed");
                    if pause(delay, &shutdown).await {
                        continue;
                    }
                    break;
                }
            };
            tracing::info!("stream connected");
            let started = Instant::now();
            let (handoff_tx, handoff_rx) = tokio::sync::oneshot::channel();
            let mut session = self.tasks.spawn(
                Arc::clone(&self)
                    .session(socket, handoff_tx, shutdown.clone())
                    .instrument(tracing::info_span!("stream")),
            );
            // A handoff opens the next socket while the old one drains by itself.
            let ended = tokio::select! {
                Ok(()) = handoff_rx => SessionEnd::Handoff,
                ended = &mut session => ended.unwrap_or_else(|err| SessionEnd::Lost(err.into())),
            };
            match ended {
                SessionEnd::Shutdown => break,
                SessionEnd::Handoff => {
                    backoff.reset();
                    tracing::info!("server asked to reconnect; opening a new connection");
                }
                SessionEnd::Lost(reason) => {
                    backoff.connection_lived(started.elapsed(), &self.options);
                    let delay = backoff.next_delay(&self.options);
                    tracing::warn!(%reason, retry_in_ms = millis(delay), "stream connection lost; reconnecting");
                    if !pause(delay, &shutdown).await {
                        break;
                    }
                }
            }
        }
        self.tasks.close();
        self.tasks.wait().await;
        tracing::info!("stream client stopped");
    }

    async fn connect(&self) -> Result<Socket, StreamError> {
        let connection = wire::open_connection(&self.http, &self.api_base, &self.credentials).await?;
        let url = connection.url()?;
        // The URL carries the ticket: only its host goes into messages.
        let host = url.host_str().unwrap_or("?").to_owned();
        crate::dingtalk::openapi::install_crypto_provider();
        let handshake = tokio_tungstenite::connect_async(url.as_str());
        let after = self.options.connect_timeout;
        let (socket, _) = tokio::time::timeout(after, handshake)
            .await
            .map_err(|_| StreamError::ConnectTimeout { host: host.clone(), after })?
            .map_err(|e| StreamError::Connect { host, source: Box::new(e) })?;
        Ok(socket)
    }
}
