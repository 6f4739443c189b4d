//! The harness, the one way a test starts a bot (as zero-to-production's `spawn_app`): the real
//! bot on 127.0.0.1, wired to the DingTalk simulator through `Settings::load_from(None, vars)`
//! exactly as a deployment is through its environment.
//!
//! [`spawn_app`] starts a simulator and a bot that owns it (most tests); [`spawn_bot`] starts
//! any number of bots against one simulator (replicas, readiness), each stopped on demand;
//! [`process::BotProcess`] runs the real binary as a child process, for what only a process
//! shows (its logs, its signals).

pub(crate) mod process;

use std::time::Duration;

use dingmeet::app::Application;
use dingmeet::clock::{Clock, SharedClock};
use dingmeet::config::Settings;
use dingtalk_sim::records::WebhookPost;
use dingtalk_sim::sender::Delivery;
use dingtalk_sim::{MessageBuilder, Scenario, SimClock, Simulator};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once (a generous deadline,
/// polled, never slept).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Taken by the tests that load the whole machine (thousands of sockets, a benchmark's burst, a
/// browser), so that no two of them run at once: each asserts answers within a deadline, and
/// two of them side by side on a 2-core machine can starve each other past it. A failed test
/// releases it too (a tokio mutex does not poison).
static MACHINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The machine to this test alone among the heavy ones, in an async test.
pub(crate) async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    MACHINE.lock().await
}

/// As [`heavy`], in a plain (non-async) test.
pub(crate) fn heavy_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    MACHINE.blocking_lock()
}

/// The bot's callback path.
pub(crate) const CALLBACK_PATH: &str = "/dingtalk/callback";

/// A bot serving on 127.0.0.1; dropping it stops it.
pub(crate) struct TestBot {
    /// `http://127.0.0.1:port`
    pub(crate) address: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// Its own store, unless the test gave one (`DINGMEET_DATA_DIR`); removed with it.
    _data_dir: Option<tempfile::TempDir>,
}

/// A fresh directory for one bot's store: no two tests share one.
pub(crate) fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("dingmeet-test-").tempdir().expect("a temporary data directory")
}

/// The bot and its simulated DingTalk.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:port` of the bot.
    pub(crate) address: String,
    pub(crate) sim: Simulator,
    bot: TestBot,
}

fn init_logging() {
    // `TEST_LOG=1 cargo test` shows the bot's logs; they are quiet otherwise.
    if std::env::var_os("TEST_LOG").is_some() {
        let _flushed_when_dropped = dingmeet::telemetry::init_logging(false);
    }
}

/// The builtin scenario, on real time, with the bot's default settings.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The builtin scenario, with extra `DINGMEET_*` settings.
pub(crate) async fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    let scenario = Scenario::builtin().expect("the builtin scenario is valid");
    let sim = Simulator::start_with(scenario, SimClock::real()).await.expect("the simulator starts");
    spawn_app_against(sim, settings).await
}

/// The bot, wired to an already running simulator that it then owns.
pub(crate) async fn spawn_app_against(sim: Simulator, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_in(sim, settings, data_dir(), false).await
}

/// The bot, wired to a running simulator that it then owns, keeping its store in `data_dir`;
/// with `sim_clock`, its background work (live cards, the budget, reminders) runs on the
/// simulator's clock.
pub(crate) async fn spawn_app_in(
    sim: Simulator,
    settings: &[(&str, &str)],
    data_dir: tempfile::TempDir,
    sim_clock: bool,
) -> TestApp {
    let clock = sim_clock.then(|| sim_time(&sim));
    let bot = spawn_bot_on(&sim, settings, Some(data_dir), clock).await;
    TestApp { address: bot.address.clone(), sim, bot }
}

/// The simulator's clock as a bot's: it moves when a test moves it, and is looked at often.
pub(crate) fn sim_time(sim: &Simulator) -> SharedClock {
    struct SimTime(SimClock);
    impl Clock for SimTime {
        fn now_ms(&self) -> i64 {
            self.0.now_ms()
        }

        fn poll(&self) -> Duration {
            Duration::from_millis(20)
        }
    }
    std::sync::Arc::new(SimTime(sim.clock().clone()))
}

/// The settings a bot talking to `sim` runs with, plus `extra` `DINGMEET_*` pairs.
pub(crate) fn test_settings(sim: &Simulator, extra: &[(&str, &str)]) -> Settings {
    let mut vars = sim.bot_env();
    vars.push(("DINGMEET_OAPI_BASE".to_owned(), sim.base_url().to_owned()));
    // Interactive cards are tested on their own (live_cards.rs); elsewhere answers are markdown.
    vars.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    vars.push(("DINGMEET_LISTEN".to_owned(), "127.0.0.1:0".to_owned()));
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Settings::load_from(None, vars).expect("the test settings load")
}

/// A bot against `sim` with `extra` settings; `sim` stays the caller's. Its store is a fresh
/// directory unless `extra` sets `DINGMEET_DATA_DIR`.
pub(crate) async fn spawn_bot(sim: &Simulator, extra: &[(&str, &str)]) -> TestBot {
    spawn_bot_on(sim, extra, None, None).await
}

/// A bot against `sim` with `extra` settings, its store in `data_dir` (else a fresh directory
/// unless `extra` sets `DINGMEET_DATA_DIR`), its background work on `clock` (else the wall clock).
pub(crate) async fn spawn_bot_on(
    sim: &Simulator,
    extra: &[(&str, &str)],
    data_dir: Option<tempfile::TempDir>,
    clock: Option<SharedClock>,
) -> TestBot {
    init_logging();
    let data_dir = data_dir.or_else(|| (!extra.iter().any(|(k, _)| *k == "DINGMEET_DATA_DIR")).then(self::data_dir));
    let path = data_dir.as_ref().map(|dir| dir.path().display().to_string());
    let mut extra = extra.to_vec();
    if let Some(path) = &path {
        extra.push(("DINGMEET_DATA_DIR", path));
    }
    let settings = test_settings(sim, &extra);
    let app = match clock {
        Some(clock) => Application::build_with_clock(&settings, clock).await,
        None => Application::build(&settings).await,
    };
    let app = app.expect("the bot builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestBot { address, stop: Some(stop), server: Some(server), _data_dir: data_dir }
}

impl TestBot {
    pub(crate) fn callback_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.address)
    }

    /// `GET path`: the status and the body.
    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.address)).await.expect("the bot answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// Stops the bot and waits until every reply in flight is sent.
    pub(crate) async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(WAIT, server).await.expect("the bot stops in time");
            stopped.expect("the bot task ends").expect("the bot stops cleanly");
        }
    }
}

impl Drop for TestBot {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl TestApp {
    pub(crate) fn callback_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.address)
    }

    /// A group text message saying `text`, signed with the app's secret.
    pub(crate) fn message(&self, text: &str) -> MessageBuilder {
        self.sim.message(text)
    }

    /// Posts a message to the bot's callback and returns its answer.
    pub(crate) async fn send(&self, message: MessageBuilder) -> Delivery {
        message.post(&self.callback_url()).await.expect("the bot answers the callback")
    }

    /// Sends `text` in the group, checks the ack, and returns the reply on the session webhook.
    pub(crate) async fn ask(&self, text: &str) -> WebhookPost {
        self.ask_with(self.message(text)).await
    }

    /// Sends `message`, checks the ack, and returns the reply on its session webhook.
    pub(crate) async fn ask_with(&self, message: MessageBuilder) -> WebhookPost {
        let delivery = self.send(message).await;
        assert_acknowledged(&delivery);
        self.reply_to(&delivery).await
    }

    /// The delivered webhook post answering `delivery`.
    pub(crate) async fn reply_to(&self, delivery: &Delivery) -> WebhookPost {
        let session = delivery.callback.session_id.clone();
        self.sim
            .wait_until(WAIT, |records| {
                records.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned()
            })
            .await
            .expect("the bot replies on the session webhook")
    }

    /// Stops the bot and waits until every reply in flight is sent, so what the simulator
    /// recorded is final. Returns the simulator for the last assertions.
    pub(crate) async fn finish(self) -> Simulator {
        let TestApp { sim, bot, .. } = self;
        bot.finish().await;
        sim
    }

    /// Like [`Self::finish`], keeping the bot's store for the next bot.
    pub(crate) async fn finish_keeping_store(self) -> (Simulator, tempfile::TempDir) {
        let TestApp { sim, mut bot, .. } = self;
        let data_dir = bot._data_dir.take().expect("the bot's own store");
        bot.finish().await;
        (sim, data_dir)
    }
}

/// The bot took the callback: `200 {"msgtype":"empty"}`.
pub(crate) fn assert_acknowledged(delivery: &Delivery) {
    assert_eq!(delivery.status, 200, "ack status; body: {}", delivery.body);
    assert_eq!(delivery.json(), Some(serde_json::json!({ "msgtype": "empty" })), "ack body");
}

/// The bot refused the callback with `status` and a JSON error body.
pub(crate) fn assert_refused(delivery: &Delivery, status: u16) {
    assert_eq!(delivery.status, status, "status; body: {}", delivery.body);
    let body = delivery.json().unwrap_or_else(|| panic!("a JSON error body, got {:?}", delivery.body));
    assert!(body.get("error").and_then(|e| e.as_str()).is_some(), "an error label in {body}");
}

/// The reply's markdown text.
pub(crate) fn text_of(post: &WebhookPost) -> String {
    post.text().unwrap_or_else(|| panic!("a text in {:?}", post.body)).to_owned()
}
