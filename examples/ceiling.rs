//! The load benchmark's ceiling (`bench/load.sh`): the least I/O the bot's job needs. It
//! acknowledges each `POST /dingtalk/callback` with DingTalk's empty answer and sends one fixed
//! reply to a session webhook, with the bot's own HTTP client, on the same runtime, and nothing
//! else: no signature, no parsing, no dedupe, no lookup, no rendering, no logging.
//!
//! ```sh
//! CEILING_WEBHOOK=http://127.0.0.1:PORT/robot/sendBySession?session=… \
//! CEILING_REPLY_FILE=reply.json cargo run --profile dist --example ceiling
//! ```
//!
//! `CEILING_WEBHOOK`: where replies go (comma-separated: used in turn). `CEILING_REPLY_FILE`: the
//! reply body (default: a small markdown message). `CEILING_LISTEN`: default `127.0.0.1:0`.
//! Prints `listening on ADDR`; `GET /healthz` answers 200, `GET /count` the callbacks received.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The bot's allocator, so the two differ in the work they do only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_REPLY: &str = r#"{"msgtype":"markdown","markdown":{"title":"ceiling","text":"ceiling"},"at":{"atUserIds":[],"atMobiles":[],"isAtAll":false}}"#;

/// As many posts in flight as the bot allows (`MAX_POSTS_IN_FLIGHT` in src/dingtalk/reply.rs):
/// the same I/O discipline, so the ceiling stays the least I/O the bot's job needs.
const MAX_POSTS_IN_FLIGHT: usize = 64;

struct Sink {
    http: reqwest::Client,
    posts: tokio::sync::Semaphore,
    webhooks: Vec<String>,
    reply: Bytes,
    received: AtomicU64,
}

async fn callback(State(sink): State<Arc<Sink>>, _body: Bytes) -> Response {
    let n = sink.received.fetch_add(1, Ordering::Relaxed);
    let task = Arc::clone(&sink);
    tokio::spawn(async move {
        let _permit = task.posts.acquire().await.ok();
        let index = usize::try_from(n).unwrap_or(0) % task.webhooks.len();
        let request = task
            .http
            .post(&task.webhooks[index])
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(task.reply.clone());
        // The answer is read to the end so the connection goes back to the pool.
        if let Ok(response) = request.send().await {
            let _ = response.bytes().await;
        }
    });
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], r#"{"msgtype":"empty"}"#).into_response()
}

async fn count(State(sink): State<Arc<Sink>>) -> String {
    sink.received.load(Ordering::Relaxed).to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let webhooks: Vec<String> = std::env::var("CEILING_WEBHOOK")
        .map_err(|_| anyhow::anyhow!("set CEILING_WEBHOOK to the session webhook URL(s) to reply on"))?
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!webhooks.is_empty(), "CEILING_WEBHOOK names no URL");
    let reply = match std::env::var("CEILING_REPLY_FILE") {
        Ok(path) => Bytes::from(std::fs::read(&path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?),
        Err(_) => Bytes::from_static(DEFAULT_REPLY.as_bytes()),
    };
    let listen: SocketAddr = std::env::var("CEILING_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".to_owned()).parse()?;
    let sink = Arc::new(Sink {
        http: dingmeet::dingtalk::openapi::http_client(Duration::from_secs(5)),
        posts: tokio::sync::Semaphore::new(MAX_POSTS_IN_FLIGHT),
        webhooks,
        reply,
        received: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/dingtalk/callback", post(callback))
        .route("/healthz", get(|| async { "ok" }))
        .route("/count", get(count))
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
