//! The harness: the DingTalk simulator and the real bot on 127.0.0.1, wired together through
//! `Settings::load_from(None, vars)` exactly as a deployment would be through its environment.

use std::time::Duration;

use dingmeet::app::Application;
use dingmeet::config::Settings;
use dingtalk_sim::records::WebhookPost;
use dingtalk_sim::sender::Delivery;
use dingtalk_sim::{MessageBuilder, Scenario, SimClock, Simulator};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once (a generous deadline,
/// polled, never slept).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The bot's callback path.
pub(crate) const CALLBACK_PATH: &str = "/dingtalk/callback";

/// The bot and its simulated DingTalk.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:port` of the bot.
    pub(crate) address: String,
    pub(crate) sim: Simulator,
    /// Dropping it (with the `TestApp`) stops the bot too.
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// The bot's own store (`DINGMEET_DATA_DIR`), removed with the `TestApp`.
    _data_dir: tempfile::TempDir,
}

/// A fresh directory for one bot's store: no two tests share one.
pub(crate) fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("dingmeet-test-").tempdir().expect("a temporary data directory")
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

/// The bot, wired to an already running simulator.
pub(crate) async fn spawn_app_against(sim: Simulator, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_in(sim, settings, data_dir(), false).await
}

/// The bot, wired to a running simulator, keeping its store in `data_dir`; with `sim_clock`,
/// its scheduled work (live cards, the budget) runs on the simulator's clock.
pub(crate) async fn spawn_app_in(
    sim: Simulator,
    settings: &[(&str, &str)],
    data_dir: tempfile::TempDir,
    sim_clock: bool,
) -> TestApp {
    init_logging();
    let mut vars = sim.bot_env();
    // Interactive cards are tested on their own (cards.rs); elsewhere answers are markdown.
    vars.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    vars.push(("DINGMEET_LISTEN".to_owned(), "127.0.0.1:0".to_owned()));
    vars.push(("DINGMEET_DATA_DIR".to_owned(), data_dir.path().display().to_string()));
    vars.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::load_from(None, vars).expect("the test settings load");
    let app = if sim_clock {
        let clock = sim.clock().clone();
        let clock: std::sync::Arc<dyn dingmeet::bot::clock::Clock> = std::sync::Arc::new(move || clock.now_ms());
        Application::build_on(&settings, clock).await.expect("the bot builds")
    } else {
        Application::build(&settings).await.expect("the bot builds")
    };
    let address = format!("http://{}", app.local_addr());
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stop.await;
    }));
    TestApp { address, sim, shutdown: Some(shutdown), server: Some(server), _data_dir: data_dir }
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
    pub(crate) async fn finish(mut self) -> Simulator {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(WAIT, server).await.expect("the bot stops in time");
            stopped.expect("the bot task ends").expect("the bot stops cleanly");
        }
        let TestApp { sim, .. } = self;
        sim
    }

    /// Like [`Self::finish`], keeping the bot's store for the next bot.
    pub(crate) async fn finish_keeping_store(mut self) -> (Simulator, tempfile::TempDir) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(WAIT, server).await.expect("the bot stops in time");
            stopped.expect("the bot task ends").expect("the bot stops cleanly");
        }
        let TestApp { sim, _data_dir, .. } = self;
        (sim, _data_dir)
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

/// Nothing reached DingTalk at all: no lookup, no post, no send.
pub(crate) fn assert_nothing_sent(sim: &Simulator) {
    let records = sim.records();
    assert!(records.webhook_posts.is_empty(), "webhook posts: {:?}", records.webhook_posts);
    assert!(records.openapi_sends.is_empty(), "OpenAPI sends: {:?}", records.openapi_sends);
    assert!(records.conference_calls.is_empty(), "conference calls: {:?}", records.conference_calls);
}

/// The reply's markdown text.
pub(crate) fn text_of(post: &WebhookPost) -> String {
    post.text().unwrap_or_else(|| panic!("a text in {:?}", post.body)).to_owned()
}
