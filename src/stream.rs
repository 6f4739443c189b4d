//! Stream mode: keeps a WebSocket to DingTalk's gateway open and hands each robot message to
//! the bot, exactly as an HTTP callback would be. A robot message is acknowledged once the bot
//! recorded it (off the read loop, so frames do not wait for each other), work happens after;
//! dead sockets are noticed by ping and replaced with exponential backoff and jitter, forever.
//!
//! Against the simulator (the `dingtalk-sim` crate, whose gateway is always on),
//! `DINGMEET_MODE=stream` with the simulator's `bot_env()` is all it takes: the open call goes to
//! `DINGMEET_API_BASE` and answers with the simulator's own `ws://` endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bot::handle::{Admission, Bot};
use crate::dingtalk::message::CallbackBody;
use crate::dingtalk::stream::{self as wire, Ack, Frame, FrameKind};
use crate::dingtalk::token::Credentials;

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
}

/// Decrements the live-socket count when a session ends, however it ends.
struct LiveGuard(Arc<StreamStatus>);

impl LiveGuard {
    fn new(status: &Arc<StreamStatus>) -> Self {
        status.live.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(status))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = SplitSink<Socket, Message>;

/// Why a session ended.
#[derive(Debug)]
enum SessionEnd {
    /// The server asked us to move (`disconnect`); a new socket should open at once.
    Handoff,
    /// The socket closed, failed or went silent.
    Lost(String),
    Shutdown,
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
        let mut first = true;
        while !shutdown.is_cancelled() {
            if !first {
                self.bot.metrics.stream_reconnect();
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
                ended = &mut session => ended.unwrap_or_else(|err| SessionEnd::Lost(format!("the session task failed: {err}"))),
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

    async fn connect(&self) -> Result<Socket, String> {
        let connection = wire::open_connection(&self.http, &self.api_base, &self.credentials)
            .await
            .map_err(|e| format!("gateway open failed: {e}"))?;
        let url = connection.url()?;
        // The URL carries the ticket: only its host goes into messages.
        let host = url.host_str().unwrap_or("?").to_owned();
        crate::dingtalk::api::install_crypto_provider();
        let handshake = tokio_tungstenite::connect_async(url.as_str());
        let (socket, _) = tokio::time::timeout(self.options.connect_timeout, handshake)
            .await
            .map_err(|_| format!("websocket connect to {host} timed out after {:?}", self.options.connect_timeout))?
            .map_err(|e| format!("websocket connect to {host} failed: {e}"))?;
        Ok(socket)
    }

    /// Reads one socket until it ends; acks every frame before any work (a robot message once recorded).
    async fn session(
        self: Arc<Self>,
        socket: Socket,
        handoff: tokio::sync::oneshot::Sender<()>,
        shutdown: CancellationToken,
    ) -> SessionEnd {
        let _live = LiveGuard::new(&self.status);
        let (mut sink, mut stream) = socket.split();
        let mut handoff = Some(handoff);
        let mut last_heard = Instant::now();
        let mut pinged_at: Option<Instant> = None;
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        // Acks of robot messages, sent by their tasks once the message is recorded.
        let (acks, mut recorded) = tokio::sync::mpsc::unbounded_channel::<Ack>();
        let mut ticker = tokio::time::interval(
            self.options.ping_interval.min(self.options.pong_timeout).max(Duration::from_millis(10)),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let drain = async {
                match drain_deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = self.send(&mut sink, Message::Close(None)).await;
                    return SessionEnd::Shutdown;
                }
                () = drain => return SessionEnd::Handoff,
                Some(ack) = recorded.recv() => {
                    if let Err(err) = self.send(&mut sink, Message::Text(ack.to_json().into())).await {
                        return SessionEnd::Lost(format!("ack failed: {err}"));
                    }
                }
                _ = ticker.tick() => {
                    if let Some(sent) = pinged_at
                        && sent.elapsed() >= self.options.pong_timeout
                    {
                        return SessionEnd::Lost("no answer to ping".to_owned());
                    }
                    if pinged_at.is_none() && last_heard.elapsed() >= self.options.ping_interval {
                        if let Err(err) = self.send(&mut sink, Message::Ping(Vec::new().into())).await {
                            return SessionEnd::Lost(format!("ping failed: {err}"));
                        }
                        pinged_at = Some(Instant::now());
                    }
                }
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    pinged_at = None;
                    let text = match incoming {
                        None => return end_after_close(drain_deadline, "the server closed the socket"),
                        Some(Err(err)) => return end_after_close(drain_deadline, &format!("socket error: {err}")),
                        Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                        Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => text,
                            Err(_) => {
                                tracing::warn!(bytes = bytes.len(), "binary stream frame that is not UTF-8 ignored");
                                continue;
                            }
                        },
                        Some(Ok(Message::Close(_))) => return end_after_close(drain_deadline, "the server closed the socket"),
                        Some(Ok(_)) => continue, // pings are answered by tungstenite; pongs only prove life
                    };
                    let frame = match Frame::parse(&text) {
                        Ok(frame) => frame,
                        Err(err) => {
                            tracing::warn!(%err, bytes = text.len(), "malformed stream frame ignored");
                            continue;
                        }
                    };
                    let (ack, work) = match frame.classify() {
                        // Events are quick bookkeeping; their ack says whether it was kept.
                        FrameKind::Event(event_type) => (Some(self.handle_event(&event_type, &frame).await), Work::Nothing),
                        _ => self.acknowledge(&frame),
                    };
                    if let Some(ack) = ack
                        && let Err(err) = self.send(&mut sink, Message::Text(ack.to_json().into())).await
                    {
                        return SessionEnd::Lost(format!("ack failed: {err}"));
                    }
                    match work {
                        Work::Message(body) => {
                            // Off the read loop, so the next frame's ack never waits for this one.
                            let (client, acks) = (Arc::clone(&self), acks.clone());
                            let id = frame.message_id();
                            self.tasks.spawn(
                                async move {
                                    if client.dispatch(id.clone(), body).await {
                                        let _ = acks.send(Ack::callback(id.unwrap_or_default()));
                                    }
                                }
                                .in_current_span(),
                            );
                        }
                        Work::CardPress(body) => {
                            let bot = Arc::clone(&self.bot);
                            self.tasks.spawn(async move { bot.card_pressed(body.as_bytes()).await }.in_current_span());
                        }
                        Work::Handoff => {
                            if let Some(handoff) = handoff.take() {
                                let _ = handoff.send(());
                            }
                            drain_deadline = Some(tokio::time::Instant::now() + self.options.drain_after_disconnect);
                        }
                        Work::Nothing => {}
                    }
                }
            }
        }
    }

    /// Writes one frame; a write that cannot finish within the pong timeout means the peer is gone.
    async fn send(&self, sink: &mut Sink, message: Message) -> Result<(), String> {
        match tokio::time::timeout(self.options.pong_timeout, sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("the write did not finish within {:?}", self.options.pong_timeout)),
        }
    }

    /// Decides the ack for a frame and what to do after sending it.
    fn acknowledge(&self, frame: &Frame) -> (Option<Ack>, Work) {
        let id = frame.message_id().unwrap_or_default();
        match frame.classify() {
            FrameKind::Ping => (Some(Ack::pong(frame)), Work::Nothing),
            FrameKind::Disconnect => {
                tracing::info!(data = %frame.data_text(), "server sent disconnect");
                (None, Work::Handoff)
            }
            FrameKind::OtherSystem(topic) => {
                tracing::debug!(%topic, "system frame");
                (None, Work::Nothing)
            }
            // Acknowledged by its task once recorded.
            FrameKind::BotMessage => (None, Work::Message(frame.data_text())),
            FrameKind::Event(_) => (Some(Ack::event(id, true)), Work::Nothing),
            // Acknowledged at once; the card is updated right after.
            FrameKind::CardCallback => (Some(Ack::callback(id)), Work::CardPress(frame.data_text())),
            FrameKind::OtherCallback(topic) => {
                tracing::info!(%topic, "callback on an unexpected topic acknowledged");
                (Some(Ack::callback(id)), Work::Nothing)
            }
        }
    }

    /// Third-party app events: keeps the suite ticket, forgets organisations that left or changed
    /// what they granted.
    async fn handle_event(&self, event_type: &str, frame: &Frame) -> Ack {
        let id = frame.message_id().unwrap_or_default();
        let data: serde_json::Value = serde_json::from_str(&frame.data_text()).unwrap_or_default();
        // The organisation the event is about: named in the data when it says so explicitly
        // (`authCorpId`, `authCorpInfo.corpid`), else the frame's `eventCorpId`.
        let corp = find_string(&data, &["authCorpId", "AuthCorpId", "auth_corp_id"])
            .or_else(|| data.get("authCorpInfo").and_then(|info| find_string(info, &["corpid", "corpId"])))
            .or_else(|| frame.header("eventCorpId"))
            .or_else(|| find_string(&data, &["corpId", "corpid", "corp_id"]))
            .filter(|c| !c.is_empty());
        match event_type {
            "suite_ticket" => {
                match find_string(&data, &["suiteTicket", "SuiteTicket"]).filter(|t| !t.trim().is_empty()) {
                    Some(ticket) => {
                        self.bot.remember_suite_ticket(&ticket).await;
                        Ack::event(id, true)
                    }
                    None => {
                        tracing::warn!("suite_ticket event without a ticket; asking DingTalk to push it again");
                        Ack::event(id, false)
                    }
                }
            }
            "org_suite_relieve" | "suite_relieve" | "org_micro_app_remove" | "org_suite_change" => {
                match &corp {
                    Some(corp) => self.bot.forget_organisation(corp).await,
                    None => tracing::warn!(event_type, "organisation event without a corp id"),
                }
                Ack::event(id, true)
            }
            "org_suite_auth" => {
                tracing::info!(corp = corp.as_deref().unwrap_or(""), "an organisation installed the app");
                Ack::event(id, true)
            }
            _ => {
                tracing::info!(event_type, corp = corp.as_deref().unwrap_or(""), "event acknowledged");
                Ack::event(id, true)
            }
        }
    }

    /// Hands a robot message to the bot, once per frame id and once per `msgId`; true if the
    /// frame is to be acknowledged (false: it could not be recorded, so DingTalk redelivers it).
    async fn dispatch(&self, frame_id: Option<String>, body: String) -> bool {
        if let Some(id) = frame_id.filter(|id| !id.is_empty())
            && !self.bot.state.first_seen(&format!("frame:{id}")).await
        {
            self.bot.metrics.callback("duplicate");
            tracing::info!(frame_id = %id, "redelivered frame acknowledged, not processed again");
            return true;
        }
        let mut message = match CallbackBody::parse(body.as_bytes()) {
            Ok(parsed) => parsed.into_inbound(),
            Err(err) => {
                self.bot.metrics.callback("bad_body");
                tracing::warn!(%err, "stream robot message is not a DingTalk robot message");
                return true;
            }
        };
        if !self.bot.replier.hosts().check(&mut message.reply_to) {
            self.bot.metrics.callback("webhook_host_not_allowed");
            tracing::warn!("stream message ignored: sessionWebhook host is not on DINGMEET_WEBHOOK_HOSTS");
            return true;
        }
        match self.bot.admit(&message).await {
            Admission::Duplicate => {
                self.bot.metrics.callback("duplicate");
                tracing::info!(msg_id = %message.id, "duplicate message acknowledged, not processed again");
            }
            Admission::Accepted(ticket) => {
                self.bot.metrics.callback("accepted");
                self.bot.spawn(message, ticket);
            }
            Admission::NotRecorded => return false,
        }
        true
    }
}

enum Work {
    Message(String),
    /// A card button press, to act on after the ack.
    CardPress(String),
    Handoff,
    Nothing,
}

/// The first string value under any of `keys`, searched depth-first (event payloads nest
/// differently between the documented envelope and what the SDKs pass through).
fn find_string(value: &serde_json::Value, keys: &[&str]) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => keys
            .iter()
            .find_map(|key| map.get(*key).and_then(|v| v.as_str()).map(str::to_owned))
            .or_else(|| map.values().find_map(|v| find_string(v, keys))),
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_string(v, keys)),
        serde_json::Value::String(text) if text.trim_start().starts_with('{') => {
            serde_json::from_str(text).ok().and_then(|inner| find_string(&inner, keys))
        }
        _ => None,
    }
}

/// After a `disconnect`, the server closing the socket is the expected end of the handoff.
fn end_after_close(drain_deadline: Option<tokio::time::Instant>, reason: &str) -> SessionEnd {
    if drain_deadline.is_some() { SessionEnd::Handoff } else { SessionEnd::Lost(reason.to_owned()) }
}

/// Counts failures in a row to pace reconnects.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait before the next attempt, counting this failure.
    fn next_delay(&mut self, options: &StreamOptions) -> Duration {
        let delay = backoff(options, self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// A connection that outlived the longest wait was healthy: start over. One that dropped
    /// sooner counts as another failure, so a gateway that accepts and hangs up at once is not
    /// hammered.
    fn connection_lived(&mut self, lived: Duration, options: &StreamOptions) {
        if lived >= options.backoff_max {
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Waits `delay`; false when shutdown came first.
async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}

fn millis(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}

/// Exponential backoff with full jitter between half and all of the step, capped.
fn backoff(options: &StreamOptions, failures: u32) -> Duration {
    let step = options.backoff_initial.saturating_mul(2u32.saturating_pow(failures.min(16))).min(options.backoff_max);
    let half = step / 2;
    half + Duration::from_millis(fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_and_corp_ids_are_found_however_they_nest() {
        let flat = serde_json::json!({"suiteTicket": "t1"});
        let enveloped = serde_json::json!({"eventType": "suite_ticket", "data": {"suiteTicket": "t2"}});
        let sync_http =
            serde_json::json!({"bizData": [{"biz_data": "{\"syncAction\":\"suite_ticket\",\"suiteTicket\":\"t3\"}"}]});
        assert_eq!(find_string(&flat, &["suiteTicket"]).as_deref(), Some("t1"));
        assert_eq!(find_string(&enveloped, &["suiteTicket"]).as_deref(), Some("t2"));
        assert_eq!(find_string(&sync_http, &["suiteTicket"]).as_deref(), Some("t3"));
        assert_eq!(
            find_string(&serde_json::json!({"authCorpInfo": {"corpid": "dingX"}}), &["corpid"]).as_deref(),
            Some("dingX")
        );
        assert_eq!(find_string(&serde_json::json!([1, 2]), &["x"]), None);
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let options = StreamOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ..StreamOptions::default()
        };
        for failures in 0..40 {
            let delay = backoff(&options, failures);
            assert!(delay <= Duration::from_millis(5001), "{failures}: {delay:?}");
        }
        assert!(backoff(&options, 0) <= Duration::from_millis(101));
        assert!(backoff(&options, 10) >= Duration::from_millis(2500));
    }

    #[test]
    fn connections_that_drop_at_once_keep_backing_off_and_a_healthy_one_starts_over() {
        let options = StreamOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ..StreamOptions::default()
        };
        let mut pacing = Backoff::default();
        for _ in 0..10 {
            pacing.connection_lived(Duration::from_millis(10), &options);
            pacing.next_delay(&options);
        }
        assert!(pacing.next_delay(&options) >= Duration::from_millis(2500), "a flapping gateway is not hammered");
        pacing.connection_lived(Duration::from_secs(5), &options);
        assert!(pacing.next_delay(&options) <= Duration::from_millis(101), "a healthy connection starts over");
    }
}
