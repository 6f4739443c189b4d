//! The accept loop: every connection is served by hyper under a watch that closes it when its
//! request headers, its body or its next request take too long, or when it is shed at the cap.
//!
//! hyper's own `header_read_timeout` is not used: its timer also runs while a keep-alive
//! connection waits for its next request, which would cut every idle connection at the header
//! timeout. The watch gives the header timeout to the headers and the idle timeout to the wait.

use std::convert::Infallible;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::connections::{Connections, Registration, Tracker};
use super::deadline::DeadlineBody;
use super::limits::HttpLimits;
use crate::telemetry::connections::{ConnectionMetrics, Timeout};

/// A connection's read and write buffers grow to this at the most: DingTalk's requests are a
/// few KiB, and a client sending endless headers must not cost more.
const MAX_BUF_BYTES: usize = 32 * 1024;

/// After an accept error other than a connection's own (out of descriptors), the pause before
/// the next accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// How often, at most, accept errors are logged.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` within `limits` until `stop` is cancelled; then stops
/// accepting, lets each connection finish the request it is serving, and returns when all
/// are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: ConnectionMetrics,
    stop: CancellationToken,
) -> io::Result<()> {
    let connections = Arc::new(Connections::new(limits.max_connections, metrics));
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_secs = limits.header_timeout.as_secs(),
        body_timeout_secs = limits.body_timeout.as_secs(),
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        "HTTP limits"
    );
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_BUF_BYTES).header_read_timeout(None);
    let tasks = TaskTracker::new();
    let mut accept_errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                let shed = connections.make_room();
                accept_errors.log(&err, shed);
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let registration = connections.admit();
        let connection = Connection {
            registration,
            router: router.clone(),
            limits,
            metrics: connections.metrics().clone(),
            stop: stop.clone(),
        };
        tasks.spawn(connection.serve(stream, builder.clone()));
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// A peer that gave up before it was accepted: nothing to do about it.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Accept errors since the last warning.
#[derive(Default)]
struct AcceptErrors {
    last: Option<Instant>,
    count: u64,
    shed: u64,
}

impl AcceptErrors {
    fn log(&mut self, err: &io::Error, shed: u64) {
        self.count += 1;
        self.shed += shed;
        if self.last.is_some_and(|last| last.elapsed() < ACCEPT_LOG_INTERVAL) {
            return;
        }
        tracing::warn!(
            %err, errors = self.count, shed = self.shed,
            "cannot accept HTTP connections (out of open files?): closing the quietest to make room; \
             lower DINGMEET_HTTP_MAX_CONNECTIONS or raise the open-files limit if this repeats"
        );
        *self = Self { last: Some(Instant::now()), count: 0, shed: 0 };
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    registration: Registration,
    router: Router,
    limits: HttpLimits,
    metrics: ConnectionMetrics,
    stop: CancellationToken,
}

impl Connection {
    async fn serve(self, stream: TcpStream, builder: http1::Builder) {
        let Self { registration, router, limits, metrics, stop } = self;
        let tracker = Arc::clone(registration.tracker());
        let io = TokioIo::new(Tracked { inner: stream, tracker: Arc::clone(&tracker) });
        let service = {
            let tracker = Arc::clone(&tracker);
            hyper::service::service_fn(move |request| {
                respond(request, router.clone(), Arc::clone(&tracker), limits.body_timeout, metrics.clone())
            })
        };
        let mut connection = pin!(builder.serve_connection(io, service));
        // The watch is looked at when it may expire and at least every `check`: activity only
        // moves a deadline later, except when a request begins on an idle connection (then the
        // header timeout applies from its first byte), which is seen within `check`, in time.
        // So serving a request costs the watch nothing: no wake-up, no timer.
        let check = limits.header_timeout.min(limits.idle_timeout);
        let next_look = |now: Instant| {
            let watch = tracker.watch(&limits).map(|(deadline, _)| deadline);
            watch.map_or(now + check, |deadline| deadline.min(now + check))
        };
        let expiry = tokio::time::sleep_until(next_look(Instant::now()).into());
        let mut expiry = pin!(expiry);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(%err, "HTTP connection ended with an error");
                    }
                    return;
                }
                () = tracker.shed_notice() => return,
                () = expiry.as_mut() => {
                    let now = Instant::now();
                    if let Some((deadline, timeout)) = tracker.watch(&limits)
                        && deadline <= now
                    {
                        registration.timed_out(timeout);
                        return;
                    }
                    expiry.as_mut().reset(next_look(now).into());
                }
                () = stop.cancelled(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Serves one request: its body cut off at the body timeout (then 408, and the connection
/// closes), and the connection closed after the answer when the body was not read to its end.
async fn respond(
    request: Request<Incoming>,
    mut router: Router,
    tracker: Arc<Tracker>,
    body_timeout: Duration,
    metrics: ConnectionMetrics,
) -> Result<Response<Body>, Infallible> {
    let _request = tracker.begin_request(request.body().is_end_stream());
    let deadline = tokio::time::Instant::now() + body_timeout;
    let request = request.map(|body| DeadlineBody::new(body, deadline, Arc::clone(&tracker)));
    let mut response = router.call(request).await?;
    if tracker.body_too_late() {
        metrics.timed_out(Timeout::Body);
        response = body_timed_out(body_timeout);
    } else if tracker.body_unfinished() {
        // What is left of the body would be read as the next request's head.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

fn body_timed_out(body_timeout: Duration) -> Response<Body> {
    let message = format!("the request body did not arrive within {} s", body_timeout.as_secs());
    let body = axum::Json(serde_json::json!({ "error": "body_timeout", "message": message }));
    let mut response = (StatusCode::REQUEST_TIMEOUT, body).into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A client's socket whose reads are reported to its tracker.
struct Tracked {
    inner: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for Tracked {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            this.tracker.read(read);
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
