//! The real `dingmeet serve` binary: what its JSON logs say (and never say), and how it stops.

use dingtalk_sim::sender::post_callback;
use dingtalk_sim::sender::{Callback, SessionMode};
use dingtalk_sim::{Scenario, Simulator};
use serde_json::Value;

use crate::helpers::WAIT;
use crate::helpers::process::BotProcess;
use crate::redis_server::RedisServer;

pub(crate) async fn simulator() -> Simulator {
    Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("the simulator starts")
}

/// The binary's environment for `sim`, plus `extra`.
pub(crate) fn env(sim: &Simulator, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = sim.bot_env();
    // Interactive cards are tested on their own (live_cards.rs); elsewhere answers are markdown.
    vars.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    vars
}

fn sign_of(callback: &Callback) -> Option<String> {
    callback.headers.iter().find(|(name, _)| name == "sign").map(|(_, value)| value.clone())
}

/// The log line whose message is `message` (and that satisfies `also`).
fn find<'a>(lines: &'a [Value], message: &str, also: impl Fn(&Value) -> bool) -> &'a Value {
    lines.iter().find(|line| line["message"] == message && also(line)).unwrap_or_else(|| {
        panic!("no {message:?} line in:\n{}", lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"))
    })
}

fn reason_contains(text: &'static str) -> impl Fn(&Value) -> bool {
    move |line| line["reason"].as_str().is_some_and(|reason| reason.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_explain_rejections_carry_the_ids_and_never_contain_a_secret() {
    let redis = RedisServer::start_with_password("redis-pass-5be1");
    let sim = simulator().await;
    let redis_url = redis.url();
    let rotated = "rotated-callback-secret-77c3";
    let mut bot = BotProcess::start(&env(
        &sim,
        &[("RUST_LOG", "debug"), ("DINGMEET_REDIS_URL", &redis_url), ("DINGMEET_CALLBACK_SECRETS", rotated)],
    ))
    .await;
    let url = format!("{}/dingtalk/callback", bot.address);
    let mut callbacks = Vec::new();
    let mut send = |callback: Callback, status: u16| {
        callbacks.push(callback.clone());
        let (sim, url) = (&sim, url.clone());
        async move {
            let delivery = post_callback(sim, &url, callback).await.expect("the bot answers");
            assert_eq!(delivery.status, status, "{}", delivery.body);
        }
    };

    let good = sim.message("/meeting 123456789").build();
    send(good.clone(), 200).await;
    sim.wait_for_webhook_posts(1, WAIT).await.expect("a reply on the session webhook");
    send(good.clone(), 200).await;
    send(sim.message("/help").session(SessionMode::Expired).build(), 200).await;
    sim.wait_for_openapi_sends(1, WAIT).await.expect("a reply through the OpenAPI, with the access token");
    send(sim.message("/help").secret(rotated).build(), 200).await;
    send(sim.message("/help").secret("some-other-secret").build(), 401).await;
    send(sim.message("/help").skew_ms(-2 * 3_600_000 - 60_000).build(), 401).await;
    send(sim.message("/help").without_sign().build(), 401).await;
    send(sim.message("/help").raw_body(b"{\"hello\":1}".to_vec()).build(), 400).await;
    send(sim.message("/help").raw_body(vec![b' '; 70_000]).build(), 413).await;
    sim.wait_for_webhook_posts(2, WAIT).await.expect("the rotated secret's message is answered");

    bot.terminate();
    assert!(bot.wait_for_exit().await.success());
    let output = bot.output();
    let lines: Vec<Value> = output
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}")))
        .collect();

    // Every refusal says what to check.
    find(
        &lines,
        "callback rejected",
        reason_contains("signature mismatch: is DINGMEET_CLIENT_SECRET the app's AppSecret"),
    );
    find(&lines, "callback rejected", reason_contains("timestamp 2h1m off (allowed 1h0m): check the server clock"));
    find(&lines, "callback rejected", reason_contains("no `sign` header"));
    find(&lines, "callback rejected: body over the size limit", |_| true);
    find(&lines, "callback rejected: the body is not a DingTalk robot message", |_| true);

    // One span per callback: its request id and msgId are on every line it leads to.
    let spans = |line: &Value| line["spans"].as_array().cloned().unwrap_or_default();
    let replied = find(&lines, "replied", |line| spans(line).iter().any(|s| s["msg_id"] == good.msg_id.as_str()));
    let callback_span = spans(replied).into_iter().find(|s| s["name"] == "callback").expect("the callback span");
    let request_id = callback_span["request_id"].as_str().expect("a request id");
    assert_eq!(request_id.len(), 16, "{callback_span}");
    let duplicate = find(&lines, "duplicate delivery acknowledged, not processed again", |_| true);
    assert_eq!(duplicate["span"]["msg_id"], good.msg_id.as_str());
    assert_ne!(duplicate["span"]["request_id"], request_id, "each delivery has its own request id");

    // And no secret, signature, token or password, anywhere.
    let text = output.join("\n");
    let mut secrets = vec![sim.client_secret().to_owned(), rotated.to_owned(), "redis-pass-5be1".to_owned()];
    secrets.extend(callbacks.iter().filter_map(sign_of));
    let tokens = sim.tokens().issued_texts();
    assert!(!tokens.is_empty(), "the bot fetched a token");
    secrets.extend(tokens);
    secrets.extend(callbacks.iter().map(|callback| callback.session_id.clone()));
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "{secret:?} reached the logs:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_delivers_the_reply_in_flight_and_exits_0() {
    let sim = simulator().await;
    let held = sim.meetings().hold("123456789");
    let mut bot = BotProcess::start(&env(&sim, &[("DINGMEET_SHUTDOWN_GRACE_SECS", "10")])).await;
    let delivery = sim.message("/meeting 123456789").post(&format!("{}/dingtalk/callback", bot.address)).await;
    assert_eq!(delivery.expect("the bot answers").status, 200);
    sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the lookup is in flight");

    bot.terminate();
    bot.wait_for_line(|line| line.contains("shutting down")).await;
    let healthz = format!("{}/healthz", bot.address);
    let deadline = std::time::Instant::now() + WAIT;
    while reqwest::get(&healthz).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting connections after SIGTERM");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(sim.records().webhook_posts.is_empty(), "the reply waits for the lookup");

    held.release();
    let posts = sim.wait_for_webhook_posts(1, WAIT).await.expect("the reply in flight is delivered");
    assert!(posts[0].text().is_some_and(|text| text.contains("产品周会")), "{:?}", posts[0].body);
    let status = bot.wait_for_exit().await;
    assert_eq!(status.code(), Some(0), "{}", bot.output().join("\n"));
    assert!(bot.output().iter().any(|line| line.contains("every reply in flight delivered")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_stale_suite_ticket_gets_the_waiting_reply_and_a_warning_for_the_operator() {
    for (seed, code) in [(None, "noSuiteTicket"), (Some("stale-seed-ticket-0b7e"), "invalidSuiteTicket")] {
        let sim = simulator().await;
        let mut settings = vec![("DINGMEET_APP_TYPE", "third_party"), ("DINGMEET_CORP_TOKEN_ROUTE", "classic")];
        settings.extend(seed.map(|seed| ("DINGMEET_SUITE_TICKET", seed)));
        let mut bot = BotProcess::start(&env(&sim, &settings)).await;

        let delivery = sim.message("/meeting 123456789").post(&format!("{}/dingtalk/callback", bot.address)).await;
        assert_eq!(delivery.expect("the bot answers").status, 200);

        let posts = sim.wait_for_webhook_posts(1, WAIT).await.expect("a reply");
        let reply = posts[0].text().unwrap_or_default();
        assert!(reply.contains("等待钉钉推送本应用的授权信息"), "{code}: {reply}");
        let line = bot.wait_for_line(|line| line.contains("no usable suite ticket")).await;
        let line: Value = serde_json::from_str(&line).expect("a JSON log line");
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["code"], code, "{line}");
        assert_eq!(line["corp"], sim.home_corp(), "{line}");
        assert!(line["message"].as_str().is_some_and(|m| m.contains("DINGMEET_SUITE_TICKET")), "{line}");

        bot.terminate();
        assert!(bot.wait_for_exit().await.success());
        let text = bot.output().join("\n");
        for secret in [Some(sim.client_secret()), seed].into_iter().flatten() {
            assert!(!text.contains(secret), "{secret:?} reached the logs:\n{text}");
        }
    }
}

/// What a failed start wrote, each line parsed as JSON.
async fn refused_to_start(vars: &[(String, String)]) -> Vec<Value> {
    let mut bot = BotProcess::spawn(vars);
    let status = bot.wait_for_exit().await;
    assert!(!status.success(), "it started:\n{}", bot.output().join("\n"));
    let output = bot.output();
    output
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}")))
        .collect()
}

#[tokio::test]
async fn a_configuration_error_with_json_logs_is_one_json_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("client_secret");
    std::fs::write(&file, "secret-from-a-file-4d1e\n").expect("a secret file");
    let file = file.display().to_string();
    let both = [("DINGMEET_CLIENT_SECRET", "inline-secret-9a2c"), ("DINGMEET_CLIENT_SECRET_FILE", file.as_str())];
    let lines = refused_to_start(&env_of(&both)).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "ERROR", "{}", lines[0]);
    let message = lines[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("DINGMEET_CLIENT_SECRET and DINGMEET_CLIENT_SECRET_FILE are both set"), "{message}");
    let text = lines[0].to_string();
    assert!(!text.contains("inline-secret-9a2c") && !text.contains("secret-from-a-file-4d1e"), "{text}");

    let lines = refused_to_start(&env_of(&[("DINGMEET_NO_SUCH_SETTING", "1")])).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["message"].as_str().is_some_and(|m| m.contains("no_such_setting")), "{}", lines[0]);
}

fn env_of(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The service manager's side of `sd_notify`: datagrams on a socket in a temporary directory.
struct NotifySocket {
    socket: tokio::net::UnixDatagram,
    path: std::path::PathBuf,
    received: Vec<String>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("notify");
        let socket = tokio::net::UnixDatagram::bind(&path).expect("the notify socket binds");
        Self { socket, path, received: Vec::new(), _dir: dir }
    }

    /// Waits for a datagram holding the line `line`.
    async fn wait_for(&mut self, line: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.received.iter().any(|datagram| datagram.lines().any(|l| l == line)) {
            let mut buffer = vec![0; 4096];
            let received = tokio::time::timeout_at(deadline, self.socket.recv(&mut buffer)).await;
            let read = received.unwrap_or_else(|_| panic!("no {line:?} within {WAIT:?}: {:?}", self.received));
            let read = read.expect("a datagram");
            self.received.push(String::from_utf8_lossy(&buffer[..read]).into_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_it_says_ready_once_readyz_passes_pings_the_watchdog_and_says_stopping() {
    let sim = simulator().await;
    let mut notify = NotifySocket::bind();
    let path = notify.path.display().to_string();
    let mut bot = BotProcess::start(&env(&sim, &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "200000")])).await;

    notify.wait_for("READY=1").await;
    let readyz = reqwest::get(format!("{}/readyz", bot.address)).await.expect("/readyz answers");
    assert_eq!(readyz.status(), 200, "READY=1 is sent once /readyz passes");
    notify.wait_for("WATCHDOG=1").await;
    let start = bot.wait_for_line(|line| line.contains("\"dingmeet starting\"")).await;
    let start: Value = serde_json::from_str(&start).expect("a JSON log line");
    assert_eq!(start["version"], env!("CARGO_PKG_VERSION"), "{start}");
    assert!(start["profile"].is_string() && start["mode"] == "Http", "{start}");

    bot.terminate();
    notify.wait_for("STOPPING=1").await;
    assert!(bot.wait_for_exit().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_request_id_is_echoed_and_on_the_callbacks_log_lines() {
    let sim = simulator().await;
    let mut bot = BotProcess::start(&env(&sim, &[])).await;
    let refused = reqwest::Client::new()
        .post(format!("{}/dingtalk/callback", bot.address))
        .header("x-request-id", "edge-proxy-5c21")
        .body("{}")
        .send()
        .await
        .expect("the bot answers");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-request-id"], "edge-proxy-5c21");
    let line = bot.wait_for_line(|line| line.contains("callback rejected")).await;
    let line: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(line["span"]["request_id"], "edge-proxy-5c21", "{line}");
    bot.terminate();
    assert!(bot.wait_for_exit().await.success());
}
