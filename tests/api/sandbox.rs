//! The sandbox end to end on loopback: the playground's API takes the real path (signed callback →
//! bot → session webhook or interactive card; a card's Refresh → card callback → bot → update), `dingmeet send` signs for the sandbox or for any bot, and the binary's
//! `sandbox` and `send` subcommands work as the README says.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dingmeet::config::Mode;
use dingmeet::sandbox::playground::{Chat, Reply};
use dingmeet::sandbox::send::{MessageFormat, SendOptions, send};
use dingmeet::sandbox::{Sandbox, SandboxOptions};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{WAIT, spawn_app};

/// A running sandbox on free ports.
struct Running {
    url: String,
    callback_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn start() -> Self {
        Self::start_with(SandboxOptions::default()).await
    }

    async fn start_with(options: SandboxOptions) -> Self {
        let sandbox = Sandbox::start(SandboxOptions { port: Some(0), ..options }).await.expect("the sandbox starts");
        let url = sandbox.playground_url().trim_end_matches('/').to_owned();
        let callback_url = sandbox.callback_url().to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sandbox.run_until(async {
            let _ = stopped.await;
        }));
        Self { url, callback_url, stop: Some(stop), task: Some(task) }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = http().post(format!("{}{path}", self.url)).json(&body).send().await.expect("answers");
        (response.status().as_u16(), response.json().await.expect("JSON"))
    }

    async fn get(&self, path: &str) -> Value {
        http().get(format!("{}{path}", self.url)).send().await.expect("answers").json().await.expect("JSON")
    }

    /// Long-polls until a reply arrives after `after`.
    async fn next_replies(&self, after: u64) -> Vec<Reply> {
        let answer = self.get(&format!("/api/replies?after={after}&wait={}", WAIT.as_secs())).await;
        serde_json::from_value(answer["replies"].clone()).expect("replies")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let ended = tokio::time::timeout(WAIT, task).await.expect("the sandbox stops in time");
            ended.expect("the task ends").expect("the sandbox stops cleanly");
        }
    }
}

fn http() -> reqwest::Client {
    dingmeet::dingtalk::openapi::http_client(Duration::from_secs(30))
}

#[tokio::test]
async fn a_playground_message_reaches_the_bot_signed_and_its_card_comes_back() {
    let sandbox = Running::start().await;
    let info = sandbox.get("/api/sandbox").await;
    assert_eq!(info["callbackUrl"], sandbox.callback_url.as_str());
    assert_eq!(info["botName"], "会议助手");
    let codes: Vec<&str> = info["codes"].as_array().expect("codes").iter().filter_map(|c| c["code"].as_str()).collect();
    assert!(codes.contains(&"123456789") && codes.contains(&"404000000"), "{codes:?}");
    let after = info["latest"].as_u64().expect("latest");

    let (status, answer) =
        sandbox.post("/api/send", json!({ "text": "@会议助手 /meeting 123456789", "chat": "group" })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200, "the bot verified the signature and acknowledged: {answer}");
    assert_eq!(answer["body"], r#"{"msgtype":"empty"}"#);
    assert_eq!(answer["hint"], Value::Null);

    // A meeting in progress: an interactive card, in the message's own group, and no webhook copy.
    let replies = sandbox.next_replies(after).await;
    let reply = &replies[0];
    assert_eq!((reply.chat, reply.via.as_str(), reply.delivered), (Some(Chat::Group), "card", true));
    assert_eq!(reply.conversation_id.as_deref(), answer["conversationId"].as_str());
    assert_eq!(reply.msgtype, "interactive");
    for expected in
        ["产品周会", "季度规划评审", "客户电话会", "(https://meeting.dingtalk.com/j/123456789)", "@manager807"]
    {
        assert!(reply.text.contains(expected), "{expected} in {}", reply.text);
    }
    assert_eq!(reply.at_user_ids, ["manager807"]);
    assert!(replies.iter().all(|r| r.via == "card"), "{replies:?}");
    sandbox.stop().await;
}

#[tokio::test]
async fn with_markdown_cards_the_answer_comes_back_on_the_session_webhook() {
    let options = SandboxOptions { cards: dingmeet::config::CardsMode::Markdown, ..SandboxOptions::default() };
    let sandbox = Running::start_with(options).await;
    let (_, answer) = sandbox.post("/api/send", json!({ "text": "@会议助手 /meeting 123456789" })).await;
    let replies = sandbox.next_replies(0).await;
    let reply = &replies[0];
    assert_eq!((reply.chat, reply.via.as_str(), reply.msgtype.as_str()), (Some(Chat::Group), "webhook", "markdown"));
    assert_eq!(reply.session.as_deref(), answer["session"].as_str(), "posted to the message's own session");
    assert!(reply.text.contains("产品周会"), "{}", reply.text);
    sandbox.stop().await;
}

#[tokio::test]
async fn a_one_to_one_share_comes_back_as_a_card_with_its_join_and_refresh_buttons() {
    let sandbox = Running::start().await;
    let (_, answer) = sandbox.post("/api/send", json!({ "text": "/share 123456789", "chat": "single" })).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let replies = sandbox.next_replies(0).await;
    let reply = &replies[0];
    assert_eq!((reply.chat, reply.via.as_str(), reply.msgtype.as_str()), (Some(Chat::Single), "card", "interactive"));
    assert_eq!(reply.buttons.len(), 1, "the join link: {reply:?}");
    assert_eq!(reply.buttons[0].url, "https://meeting.dingtalk.com/j/123456789");
    let actions = reply.card.as_ref().map(|card| card.actions.len());
    assert_eq!(actions, Some(1), "and Refresh, which calls the bot back: {reply:?}");
    sandbox.stop().await;
}

#[tokio::test]
async fn a_group_message_without_a_mention_is_still_delivered_with_a_hint() {
    let sandbox = Running::start().await;
    let (_, answer) = sandbox.post("/api/send", json!({ "text": "/help", "chat": "group" })).await;
    assert_eq!((answer["status"].as_u64(), answer["hint"].as_str()), (Some(200), Some("no_mention")));
    let (status, answer) = sandbox.post("/api/send", json!({ "text": "   ", "chat": "group" })).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = sandbox.post("/api/send", json!({ "text": "x".repeat(5001) })).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = sandbox.post("/api/send", json!({ "words": "hi" })).await;
    assert_eq!(status, 400);
    sandbox.stop().await;
}

#[tokio::test]
async fn an_edited_scenario_file_changes_the_world_the_sandbox_simulates() {
    let dir = std::env::temp_dir().join(format!("dingmeet-sandbox-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join("mine.toml");
    let scenario = dingtalk_sim::scenario::BUILTIN_TOML.to_owned()
        + "\n[[codes]]\ncode = \"777000777\"\nabout = \"Mine\"\n\n[[codes.meetings]]\ntitle = \"我的会\"\nstatus = 2\nstart = \"-5m\"\n";
    std::fs::write(&path, scenario).expect("the scenario is written");
    let sandbox =
        Running::start_with(SandboxOptions { scenario: Some(path.clone()), ..SandboxOptions::default() }).await;
    let info = sandbox.get("/api/sandbox").await;
    assert!(info["codes"].as_array().expect("codes").iter().any(|c| c["code"] == "777000777" && c["about"] == "Mine"));
    sandbox.post("/api/send", json!({ "text": "@会议助手 /meeting 777000777" })).await;
    let replies = sandbox.next_replies(0).await;
    assert!(replies[0].text.contains("我的会"), "{}", replies[0].text);
    sandbox.stop().await;

    std::fs::write(&path, "[app]\nclient_id = \"x\"\n").expect("a broken scenario is written");
    let err = Sandbox::start(SandboxOptions { port: Some(0), scenario: Some(path), ..SandboxOptions::default() })
        .await
        .err()
        .expect("a broken scenario is refused")
        .to_string();
    assert!(err.contains("mine.toml"), "the error names the file: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn in_stream_mode_the_playground_pushes_over_the_gateway_and_the_card_comes_back() {
    let sandbox = Running::start_with(SandboxOptions { mode: Mode::Stream, ..SandboxOptions::default() }).await;
    let info = sandbox.get("/api/sandbox").await;
    assert_eq!(info["mode"], "stream");
    let after = info["latest"].as_u64().expect("latest");
    let (status, answer) = sandbox.post("/api/send", json!({ "text": "@会议助手 /meeting 123456789" })).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["streamMessageId"].as_str().is_some_and(|id| !id.is_empty()), "pushed as a frame: {answer}");
    let replies = sandbox.next_replies(after).await;
    assert!(replies[0].text.contains("产品周会"), "{:?}", replies[0]);
    assert_eq!(replies[0].conversation_id.as_deref(), answer["conversationId"].as_str());
    assert_eq!(replies[0].via, "card", "{:?}", replies[0]);
    sandbox.stop().await;
}

#[tokio::test]
async fn the_page_is_served_from_the_binary_under_a_strict_policy_and_only_on_loopback() {
    let sandbox = Running::start().await;
    let page = http().get(format!("{}/", sandbox.url)).send().await.expect("answers");
    assert_eq!(page.status(), 200);
    let csp = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(page.text().await.expect("html").contains(r#"<script src="/assets/playground.js" defer>"#));
    for (path, kind) in [("/assets/playground.js", "text/javascript"), ("/assets/playground.css", "text/css")] {
        let asset = http().get(format!("{}{path}", sandbox.url)).send().await.expect("answers");
        let content_type = asset.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
    let js = http().get(format!("{}/assets/playground.js", sandbox.url)).send().await.expect("js");
    assert!(!js.text().await.expect("text").contains("innerHTML"), "the page never parses text as HTML");
    let missing = http().get(format!("{}/nope", sandbox.url)).send().await.expect("answers");
    assert_eq!(missing.status(), 404);
    // A page on another name (DNS rebinding) gets nothing.
    let foreign = http()
        .get(format!("{}/api/sandbox", sandbox.url))
        .header("host", "evil.example")
        .send()
        .await
        .expect("answers");
    assert_eq!(foreign.status(), 403);
    sandbox.stop().await;
}

#[tokio::test]
async fn send_signs_for_the_sandbox_and_reports_the_bots_reply() {
    let sandbox = Running::start().await;
    let options = SendOptions {
        text: "/meeting 404000000".to_owned(),
        sandbox: Some(sandbox.url.clone()),
        format: MessageFormat::RichText,
        wait: WAIT,
        ..SendOptions::default()
    };
    let outcome = send(options).await.expect("sent");
    assert_eq!(outcome.status, 200, "{}", outcome.report());
    assert_eq!(outcome.url, sandbox.callback_url);
    assert!(outcome.ok(), "{}", outcome.report());
    let report = outcome.report();
    assert!(report.contains("HTTP 200  {\"msgtype\":\"empty\"}"), "{report}");
    assert!(report.contains("reply via the session webhook: markdown (delivered)"), "{report}");
    assert!(report.contains("404000000"), "{report}");

    // A wrong secret: the bot refuses the signature, and `send` says so.
    let options = SendOptions {
        text: "/help".to_owned(),
        sandbox: Some(sandbox.url.clone()),
        secret: Some(SecretString::from("not-the-secret")),
        chat: Chat::Single,
        ..SendOptions::default()
    };
    let outcome = send(options).await.expect("sent");
    assert_eq!(outcome.status, 401, "{}", outcome.report());
    assert_eq!(outcome.failure().as_deref(), Some("the callback answered HTTP 401"));
    assert!(outcome.reply.is_none(), "no reply is awaited for a refused callback");
    sandbox.stop().await;
}

#[tokio::test]
async fn send_posts_to_any_bot_with_the_given_secret_and_webhook() {
    let app = spawn_app().await;
    let session = app.sim.sessions().open("cidSendCli==", "2", app.sim.clock().now_ms() + 600_000);
    let webhook = app.sim.sessions().url(&session.id);
    let options = SendOptions {
        text: "/meeting 123456789".to_owned(),
        url: Some(app.callback_url()),
        secret: Some(SecretString::from(app.sim.client_secret().to_owned())),
        conversation_id: Some("cidSendCli==".to_owned()),
        staff_id: Some("user42".to_owned()),
        webhook: Some(webhook.clone()),
        detect_sandbox: false,
        ..SendOptions::default()
    };
    let outcome = send(options).await.expect("sent");
    assert_eq!((outcome.status, outcome.body.as_str()), (200, r#"{"msgtype":"empty"}"#));
    assert_eq!(
        (outcome.session_webhook.as_str(), outcome.conversation_id.as_str()),
        (webhook.as_str(), "cidSendCli==")
    );
    assert!(outcome.ok() && outcome.reply.is_none(), "{}", outcome.report());
    let post = app
        .sim
        .wait_until(WAIT, |records| records.webhook_posts.iter().find(|p| p.session == session.id).cloned())
        .await
        .expect("the bot replied to the given webhook");
    assert!(post.delivered());
    assert_eq!(post.at_user_ids(), ["user42"], "the given staff id is mentioned back");
    app.finish().await;
}

#[tokio::test]
async fn send_without_a_secret_or_a_sandbox_says_what_to_do() {
    let options = SendOptions {
        text: "/help".to_owned(),
        sandbox: Some("http://127.0.0.1:9".to_owned()),
        ..SendOptions::default()
    };
    let err = send(options).await.expect_err("no sandbox there").to_string();
    assert!(err.starts_with("no sandbox answers at http://127.0.0.1:9"), "{err}");
    let options = SendOptions { text: "/help".to_owned(), detect_sandbox: false, ..SendOptions::default() };
    let err = send(options).await.expect_err("no secret").to_string();
    assert!(err.contains("--secret") && err.contains("DINGMEET_CLIENT_SECRET"), "{err}");
}

/// Reads a child's stdout lines on a thread, so a test can wait for one with a deadline.
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn the_sandbox_command_prints_where_to_look_answers_send_and_stops_on_ctrl_c() {
    let binary = env!("CARGO_BIN_EXE_dingmeet");
    let mut child = Command::new(binary)
        .args(["sandbox", "--port", "0", "--lang", "en"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dingmeet sandbox starts");
    let lines = lines_of(child.stdout.take().expect("stdout"));
    let mut guard = KillOnDrop { pid: child.id() };
    let (exit, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exit.send(child.wait());
    });
    let mut banner = Vec::new();
    while !banner.last().is_some_and(|l: &String| l.starts_with("Ctrl-C stops it")) {
        banner.push(lines.recv_timeout(WAIT).unwrap_or_else(|_| panic!("the banner so far: {banner:#?}")));
    }
    let text = banner.join("\n");
    let playground = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("Playground"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the playground URL")
        .to_owned();
    for expected in
        ["Bot         http://127.0.0.1:", "/dingtalk/callback", "Simulator   http://127.0.0.1:", "123456789"]
    {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(text.contains(&format!("dingmeet send --sandbox {playground} ")), "{text}");

    let sent = Command::new(binary)
        .args(["send", "--sandbox", &playground, "--single", "/meeting", "246813579"])
        .env_remove("DINGMEET_CLIENT_SECRET")
        .output()
        .expect("dingmeet send runs");
    let out = String::from_utf8_lossy(&sent.stdout);
    assert!(sent.status.success(), "{out}\n{}", String::from_utf8_lossy(&sent.stderr));
    assert!(
        out.contains("HTTP 200") && out.contains("reply via an interactive card: interactive (delivered)"),
        "{out}"
    );
    assert!(out.contains("Meeting code 246813579"), "English, as --lang en asked: {out}");
    assert!(out.contains("button: Refresh (calls the bot back: refresh)"), "{out}");

    signal(guard.pid, "-INT");
    let status = exited.recv_timeout(WAIT).expect("the sandbox stops on Ctrl-C").expect("its status");
    guard.pid = 0;
    assert!(status.success(), "Ctrl-C stops the sandbox cleanly: {status:?}");
}

fn signal(pid: u32, which: &str) {
    let sent = Command::new("kill").args([which, &pid.to_string()]).status().expect("kill runs");
    assert!(sent.success(), "kill {which} {pid}");
}

/// Kills the child this test started (by its id) if the test ends early.
struct KillOnDrop {
    pid: u32,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.pid != 0 {
            let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        }
    }
}

#[tokio::test]
async fn a_reminder_set_in_the_playground_arrives_in_the_chat_when_its_clock_is_run_ahead() {
    let sandbox = Running::start().await;
    let info = sandbox.get("/api/sandbox").await;
    let after = info["latest"].as_u64().expect("latest");
    let (status, answer) =
        sandbox.post("/api/send", json!({ "text": "@会议助手 /remind 111222333 10", "chat": "group" })).await;
    assert_eq!((status, &answer["status"]), (200, &json!(200)), "{answer}");
    let confirmation = sandbox.next_replies(after).await.remove(0);
    assert!(confirmation.text.contains("10 分钟"), "{}", confirmation.text);

    let before = sandbox.get("/api/clock").await;
    let (status, clock) = sandbox.post("/api/clock", json!({ "advanceSecs": 25 * 60 })).await;
    assert_eq!(status, 200, "{clock}");
    assert!(clock["nowMs"].as_i64() >= before["nowMs"].as_i64().map(|ms| ms + 25 * 60_000), "{before} → {clock}");
    let reminder = sandbox.next_replies(confirmation.seq).await.remove(0);
    assert_eq!((reminder.via.as_str(), reminder.chat), ("openapi", Some(Chat::Group)));
    assert!(
        reminder.text.contains("10 分钟后开始") && reminder.text.contains("/remind off 111222333"),
        "{}",
        reminder.text
    );
    assert_eq!(reminder.buttons.len(), 1, "the join button");

    let (status, clock) = sandbox.post("/api/clock", json!({ "speed": 10_080 })).await;
    assert_eq!((status, clock["speed"].as_u64()), (200, Some(10_080)));
    let (status, _) = sandbox.post("/api/clock", json!({ "speed": 0 })).await;
    assert_eq!(status, 400);
    sandbox.stop().await;
}

/// The first card reply after `after` for `out_track_id` (any card when `None`), long-polled.
async fn next_card(sandbox: &Running, after: u64, out_track_id: Option<&str>) -> Reply {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut after = after;
    while tokio::time::Instant::now() < deadline {
        for reply in sandbox.next_replies(after).await {
            after = after.max(reply.seq);
            let id = reply.card.as_ref().map(|card| card.out_track_id.as_str());
            if id.is_some() && (out_track_id.is_none() || id == out_track_id) {
                return reply;
            }
        }
    }
    panic!("no card after {after}");
}

#[tokio::test]
async fn a_card_comes_alive_as_its_meeting_starts_and_ends_and_refresh_goes_the_real_way() {
    for mode in [Mode::Http, Mode::Both] {
        let sandbox = Running::start_with(SandboxOptions { mode, ..SandboxOptions::default() }).await;
        let after = sandbox.get("/api/sandbox").await["latest"].as_u64().expect("latest");
        let (_, answer) = sandbox.post("/api/send", json!({ "text": "@会议助手 /meeting 888000111" })).await;
        assert_eq!(answer["status"], 200, "{answer}");
        let card = next_card(&sandbox, after, None).await;
        let shown = card.card.clone().expect("a card");
        assert_eq!((card.via.as_str(), card.msgtype.as_str(), card.chat), ("card", "interactive", Some(Chat::Group)));
        assert!(card.text.contains("项目站会") && card.text.contains("未开始"), "{}", card.text);
        assert_eq!(card.buttons[0].url, "https://meeting.dingtalk.com/j/888000111", "{card:?}");
        assert_eq!(shown.actions.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["refresh"], "{mode:?}");
        let id = shown.out_track_id.as_str();

        let meetings = sandbox.get("/api/meetings").await;
        let meeting = meetings.as_array().and_then(|m| m.iter().find(|m| m["code"] == "888000111")).expect("movable");
        let conference = meeting["conferenceId"].as_str().expect("id").to_owned();
        let control = |action: &str| json!({ "code": "888000111", "conferenceId": conference, "action": action });
        let (status, moved) = sandbox.post("/api/meetings", control("start")).await;
        assert_eq!(status, 200, "{moved}");
        let live = next_card(&sandbox, card.seq, Some(id)).await;
        assert!(live.text.contains("进行中"), "the card shows it live: {}", live.text);
        assert_eq!(live.buttons[0].url, "https://meeting.dingtalk.com/j/888000111");
        assert_eq!(live.card.as_ref().map(|c| c.updates), Some(1));

        // People join: DingTalk's `user_join` events, the count on the card.
        let mut join = control("join");
        join["count"] = json!(2);
        let (status, moved) = sandbox.post("/api/meetings", join).await;
        assert_eq!(status, 200, "{moved}");
        let joined = moved.as_array().and_then(|m| m.iter().find(|m| m["code"] == "888000111")).expect("listed");
        assert_eq!(joined["activeNum"], 2, "{joined}");
        // The first join shows at once, the second after the card's pause (1 s in the sandbox).
        let mut counted = next_card(&sandbox, live.seq, Some(id)).await;
        while !counted.text.contains("在会人数：2") {
            assert!(counted.text.contains("在会人数：1"), "the count follows the joins: {}", counted.text);
            counted = next_card(&sandbox, counted.seq, Some(id)).await;
        }
        let mut too_many = control("leave");
        too_many["count"] = json!(0);
        assert_eq!(sandbox.post("/api/meetings", too_many).await.0, 400);
        let live = counted;

        let mut rename = control("rename");
        rename["title"] = json!("项目站会（改）");
        assert_eq!(sandbox.post("/api/meetings", rename).await.0, 200);
        // Refresh reuses an answer under 10 s old: the press comes later.
        assert_eq!(sandbox.post("/api/clock", json!({ "advanceSecs": 15 })).await.0, 200);
        let (status, pressed) = sandbox.post("/api/press", json!({ "outTrackId": id })).await;
        assert_eq!(status, 200, "{pressed}");
        assert_eq!(pressed["via"], if mode == Mode::Http { "http" } else { "stream" }, "{pressed}");
        let fresh = next_card(&sandbox, live.seq, Some(id)).await;
        assert!(fresh.text.contains("项目站会（改）"), "Refresh shows the new title: {}", fresh.text);

        assert_eq!(sandbox.post("/api/meetings", control("end")).await.0, 200);
        let ended = next_card(&sandbox, fresh.seq, Some(id)).await;
        assert!(ended.text.contains("已结束"), "{}", ended.text);
        assert!(ended.buttons.is_empty(), "no join link once it ended: {ended:?}");
        assert_eq!(sandbox.post("/api/meetings", control("join")).await.0, 409, "no one joins an ended meeting");

        let (status, _) = sandbox.post("/api/press", json!({ "outTrackId": "nope" })).await;
        assert_eq!(status, 404);
        let (status, _) =
            sandbox.post("/api/meetings", json!({ "code": "1", "conferenceId": "x", "action": "start" })).await;
        assert_eq!(status, 404);
        sandbox.stop().await;
    }
}
