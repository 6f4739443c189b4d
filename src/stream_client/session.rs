//! One socket's life: reads frames, acks each before any work (a robot message once the bot has
//! recorded it), hands robot messages to the
//! bot's intake off the read loop, pings a silent server, and drains after a `disconnect`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::ack::{self, Work};
use super::{StreamClient, StreamError, StreamStatus};
use crate::bot::handle::Admission;
use crate::bot::meeting_events::Transport;
use crate::dingtalk::event::Event;
use crate::dingtalk::meeting_event;
use crate::dingtalk::message::CallbackBody;
use crate::dingtalk::stream_frame::{Ack, Frame, FrameKind};
use crate::telemetry::Outcome;

pub(super) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = SplitSink<Socket, Message>;

/// Why a session ended.
#[derive(Debug)]
pub(super) enum SessionEnd {
    /// The server asked us to move (`disconnect`); a new socket should open at once.
    Handoff,
    /// The socket closed, failed or went silent.
    Lost(StreamError),
    Shutdown,
}

/// Decrements the live-socket count when a session ends, however it ends.
struct LiveGuard(Arc<StreamStatus>);

impl LiveGuard {
    fn new(status: &Arc<StreamStatus>) -> Self {
        status.socket_opened();
        Self(Arc::clone(status))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.socket_closed();
    }
}

impl StreamClient {
    /// Reads one socket until it ends; acks every frame before any work (a robot message once
    /// recorded).
    pub(super) async fn session(
        self: Arc<Self>,
        socket: Socket,
        handoff: tokio::sync::oneshot::Sender<()>,
        shutdown: CancellationToken,
    ) -> SessionEnd {
        let _live = LiveGuard::new(&self.status);
        let _counted = self.bot.metrics().operations().stream_socket();
        let (mut sink, mut stream) = socket.split();
        let mut handoff = Some(handoff);
        let mut last_heard = Instant::now();
        let mut pinged_at: Option<Instant> = None;
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        // Acks of robot messages, sent by their tasks once the bot recorded the message.
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
                        return SessionEnd::Lost(StreamError::Write { what: "ack", source: Box::new(err) });
                    }
                }
                _ = ticker.tick() => {
                    if let Some(sent) = pinged_at
                        && sent.elapsed() >= self.options.pong_timeout
                    {
                        return SessionEnd::Lost(StreamError::PingUnanswered);
                    }
                    if pinged_at.is_none() && last_heard.elapsed() >= self.options.ping_interval {
                        if let Err(err) = self.send(&mut sink, Message::Ping(Vec::new().into())).await {
                            return SessionEnd::Lost(StreamError::Write { what: "ping", source: Box::new(err) });
                        }
                        pinged_at = Some(Instant::now());
                    }
                }
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    self.bot.metrics().operations().stream_frame();
                    pinged_at = None;
                    let text = match incoming {
                        None => return end_after_close(drain_deadline, StreamError::Closed),
                        Some(Err(err)) => return end_after_close(drain_deadline, StreamError::Socket(Box::new(err))),
                        Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                        Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => text,
                            Err(_) => {
                                tracing::warn!(bytes = bytes.len(), "binary stream frame that is not UTF-8 ignored");
                                continue;
                            }
                        },
                        Some(Ok(Message::Close(_))) => return end_after_close(drain_deadline, StreamError::Closed),
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
                        kind => ack::acknowledge(&frame, kind),
                    };
                    if let Some(ack) = ack
                        && let Err(err) = self.send(&mut sink, Message::Text(ack.to_json().into())).await
                    {
                        return SessionEnd::Lost(StreamError::Write { what: "ack", source: Box::new(err) });
                    }
                    match work {
                        Work::Message(body) => {
                            // Off the read loop, so the next frame's ack never waits for this one.
                            let (client, acks) = (Arc::clone(&self), acks.clone());
                            let id = frame.message_id();
                            self.tasks.spawn(
                                async move {
                                    if client.dispatch(body).await {
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
    async fn send(&self, sink: &mut Sink, message: Message) -> Result<(), StreamError> {
        match tokio::time::timeout(self.options.pong_timeout, sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(StreamError::Socket(Box::new(err))),
            Err(_) => Err(StreamError::WriteTimeout(self.options.pong_timeout)),
        }
    }

    /// An event: a meeting event is recorded, any other handled by the bot; the ack says
    /// whether it was kept (`SUCCESS`) or is to be pushed again (`LATER`).
    async fn handle_event(&self, event_type: &str, frame: &Frame) -> Ack {
        let kept = if meeting_event::is_meeting_event(event_type) {
            let (id, corp) = (frame.header("eventId"), frame.header("eventCorpId"));
            let events = meeting_event::from_stream(id.as_deref(), corp.as_deref(), &frame.data_text());
            self.bot.meeting_events().receive(Transport::Stream, event_type, events).await
        } else {
            let event = Event::parse(event_type, frame.header("eventCorpId"), &frame.data_text());
            self.bot.handle_event(event).await
        };
        Ack::event(frame.message_id().unwrap_or_default(), kept)
    }

    /// Hands a robot message to the bot's intake (its `msgId` is the duplicate check, also for a
    /// redelivered frame); true if the frame is to be acknowledged (false: the bot could not
    /// record it, or Redis could not say whether another replica has it, so DingTalk redelivers).
    async fn dispatch(&self, body: String) -> bool {
        let message = match CallbackBody::parse(body.as_bytes()) {
            Ok(parsed) => parsed.into_inbound(),
            Err(err) => {
                self.bot.metrics().callback(Outcome::BadBody);
                tracing::warn!(%err, "stream robot message is not a DingTalk robot message");
                return true;
            }
        };
        let span = tracing::info_span!("message", msg_id = %message.id);
        // A refusal (webhook host) ends in the bot's log line and is acknowledged: sending it
        // again would not change it. One that could not be recorded is not.
        !matches!(
            self.bot.receive(message).instrument(span).await,
            Admission::NotRecorded | Admission::RedisUnreachable
        )
    }
}

/// After a `disconnect`, the server closing the socket is the expected end of the handoff.
fn end_after_close(drain_deadline: Option<tokio::time::Instant>, reason: StreamError) -> SessionEnd {
    if drain_deadline.is_some() { SessionEnd::Handoff } else { SessionEnd::Lost(reason) }
}
