//! How DingTalk reaches the bot: in stream mode the Stream gateway is opened and the socket
//! connected and closed again; in http mode the public URL's `/healthz` is asked, when it is set.

use std::time::Duration;

use super::checklist::Check;
use crate::dingtalk::openapi::install_crypto_provider;
use crate::dingtalk::openapi::token::Credentials;
use crate::dingtalk::stream_frame::open_connection;

/// How long the WebSocket handshake or the public URL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a Stream connection with the app's credentials and closes it.
pub(super) async fn stream(http: &reqwest::Client, api_base: &str, credentials: &Credentials) -> Check {
    const NAME: &str = "stream";
    let connection = match open_connection(http, api_base, credentials).await {
        Ok(connection) => connection,
        Err(err) => {
            return Check::fail(
                NAME,
                format!("the Stream gateway refused to open a connection: {err}"),
                "turn on Stream mode for the robot (机器人配置, 消息接收模式: Stream 模式) in the developer console, \
                 or use DINGMEET_MODE=http",
            );
        }
    };
    let url = match connection.url() {
        Ok(url) => url,
        Err(err) => return Check::fail(NAME, err.to_string(), "run it again; DingTalk answered an odd endpoint"),
    };
    // The URL carries the ticket: only its host is named.
    let host = url.host_str().unwrap_or("?").to_owned();
    install_crypto_provider();
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url.as_str())).await {
        Ok(Ok((mut socket, _))) => {
            // Closing is a courtesy; the connection worked either way.
            let _ = socket.close(None).await;
            Check::pass(NAME, format!("connected to the Stream gateway at {host} and closed"))
        }
        Ok(Err(err)) => Check::fail(
            NAME,
            format!("the WebSocket to {host} failed: {}", socket_problem(&err)),
            "let this machine make outbound WebSocket (wss) connections to DingTalk (a proxy or firewall)",
        ),
        Err(_) => Check::fail(
            NAME,
            format!("the WebSocket to {host} did not open within {} s", CONNECT_TIMEOUT.as_secs()),
            "let this machine make outbound WebSocket (wss) connections to DingTalk (a proxy or firewall)",
        ),
    }
}

/// The handshake's failure without the URL (which carries the ticket).
fn socket_problem(err: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Http(response) => format!("HTTP {}", response.status()),
        Error::Io(io) => io.kind().to_string(),
        Error::Tls(_) => "TLS failed".to_owned(),
        _ => "the handshake failed".to_owned(),
    }
}

/// Asks `{public_url}/healthz`, where DingTalk's callbacks arrive; a note when it is not set.
pub(super) async fn public_url(http: &reqwest::Client, public_url: Option<&str>) -> Check {
    const NAME: &str = "public url";
    let Some(base) = public_url else {
        return Check::note(
            NAME,
            "DINGMEET_PUBLIC_URL not set, so not checked: DingTalk must reach POST /dingtalk/callback from the internet",
        );
    };
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    match http.get(&url).timeout(CONNECT_TIMEOUT).send().await {
        Ok(answer) if answer.status().is_success() => Check::pass(NAME, format!("{url} answers")),
        Ok(answer) => Check::fail(
            NAME,
            format!("{url} answered HTTP {}", answer.status().as_u16()),
            "route DINGMEET_PUBLIC_URL to this bot's DINGMEET_LISTEN address (the proxy or ingress), with the bot running",
        ),
        Err(err) => Check::fail(
            NAME,
            format!("{url} does not answer ({})", if err.is_timeout() { "timed out" } else { "no connection" }),
            "start `dingmeet serve` and route DINGMEET_PUBLIC_URL to its DINGMEET_LISTEN address",
        ),
    }
}
