//! The DingTalk simulator: a loopback HTTP server that behaves like DingTalk on every endpoint
//! the bot touches, following `docs/dingtalk-protocol.md` to the byte. One server stands in for
//! both `api.dingtalk.com` (tokens, conference infos, robot OpenAPI) and `oapi.dingtalk.com`
//! (session webhooks), so the bot's `DINGMEET_API_BASE` and `DINGMEET_WEBHOOK_HOSTS=127.0.0.1`
//! point at it. It also plays DingTalk's part towards the bot: [`Simulator::message`] builds,
//! signs and posts robot callbacks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dingtalk_sim::{Scenario, Simulator};
//! let sim = Simulator::start(Scenario::builtin()?).await?;
//! // Start the bot with `sim.bot_env()`, then:
//! let delivery = sim.message("/meeting 123456789").post("http://127.0.0.1:8080/dingtalk/callback").await?;
//! assert_eq!(delivery.status, 200);
//! let posts = sim.wait_for_webhook_posts(1, std::time::Duration::from_secs(5)).await?;
//! println!("{}", posts[0].text().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! Layout, by concern, dependencies pointing one way (endpoints → state → records and scenario):
//! - [`scenario`]: the world to simulate, read from TOML (`scenario.toml` is built in);
//! - [`state`]: the one shared state ([`SimState`]), one sub-state per concern under one lock,
//!   each with a view that holds what tests and endpoints do with it (`sim.tokens()`,
//!   `sim.orgs()`, `sim.users()`, `sim.meetings()`, `sim.sessions()`, `sim.cards()`,
//!   `sim.stream()`, `sim.isv()`, `sim.events()`), and the waits on the records; it knows no
//!   endpoint;
//! - [`endpoints`]: the HTTP endpoints, one module per concern, merged by [`router`]: tokens,
//!   the conference lookup, session webhooks, the robot OpenAPI, cards, the Stream gateway
//!   (always on: the bot in `DINGMEET_MODE=stream` with `sim.bot_env()` connects here), and the
//!   old-style contact API;
//! - [`records`]: what was recorded, numbered from one sequence;
//! - [`sender`]: DingTalk's side towards the bot, building and signing callbacks ([`sign`]);
//! - [`callback_crypto`]: the encryption of DingTalk's HTTP event pushes;
//! - [`controls`]: HTTP controls doing what Rust tests do, for the binary.
//!
//! Meeting events: starting or ending a meeting through the scenario controls, and
//! [`state::meeting_events::EventsView::join`] / `leave`, make `meeting_status_change` and
//! `meeting_member_status_change` events, delivered as Stream `EVENT` frames
//! ([`state::meeting_events::EventsView::set_stream`], or the scenario's `[events] stream`) and as
//! encrypted HTTP pushes ([`state::meeting_events::EventsView::subscribe_http`]) with DingTalk's
//! retries and its failed-push list.
//!
//! Organisations: the scenario's app belongs to one (`app.corp_id`), and `[[orgs]]` adds others,
//! each with its own chats, people, tokens and meetings, for a third-party app serving many. A
//! token speaks for the organisation it was issued to; [`state::orgs::OrgsView::uninstall`] and
//! friends change who has installed the app, and [`SimState::isv`] does the same while pushing
//! the Stream event DingTalk sends (`suite_ticket`, `org_suite_auth`, `org_suite_change`,
//! `org_suite_relieve`).

pub mod callback_crypto;
mod clock;
pub mod controls;
pub mod endpoints;
pub mod http_client;
mod ids;
pub mod records;
mod robot_callback;
pub mod scenario;
pub mod sender;
pub mod sign;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use clock::SimClock;
pub use endpoints::router;
pub use scenario::{Scenario, ScenarioError};
pub use sender::MessageBuilder;
pub use state::cards::CardRefusal;
pub use state::stream_push::{Pushed, StreamEvent};
pub use state::{SimState, WaitTimeout};

/// A running simulator. It derefs to its [`SimState`] for records, counters and injections;
/// dropping it stops the server.
#[derive(Debug)]
pub struct Simulator {
    state: Arc<SimState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Makes the event pushes and redeliveries as they come due.
    pusher: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Starts `scenario` on `127.0.0.1` at a free port, on real time.
    pub async fn start(scenario: Scenario) -> std::io::Result<Self> {
        Self::start_with(scenario, SimClock::real()).await
    }

    /// Starts `scenario` on `127.0.0.1` at a free port, reading `clock`.
    pub async fn start_with(scenario: Scenario, clock: SimClock) -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), scenario, clock).await
    }

    /// Starts `scenario` on `addr`.
    pub async fn bind(addr: SocketAddr, scenario: Scenario, clock: SimClock) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(scenario, clock, &format!("http://{addr}")));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::warn!(%err, "the DingTalk simulator stopped with an error");
            }
        });
        let pusher = tokio::spawn(push_events(Arc::clone(&state)));
        Ok(Self { state, addr, shutdown: Some(shutdown), task, pusher })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> &str {
        self.state.base_url()
    }

    /// The shared state (for a Stream gateway, or to outlive this handle).
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// A robot message saying `text` (group, text, signed, live session), to adjust and post.
    pub fn message(&self, text: impl Into<String>) -> MessageBuilder {
        MessageBuilder::new(Arc::clone(&self.state), text)
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn stop(mut self) {
        self.pusher.abort();
        self.state.stream().close_all();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl std::ops::Deref for Simulator {
    type Target = SimState;

    fn deref(&self) -> &SimState {
        &self.state
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.pusher.abort();
        self.state.stream().close_all();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}

/// Makes the HTTP event pushes due, and the Stream events' redeliveries due by the simulator's
/// clock: after every change (a new event) and, since the clock may be moved without a change, a
/// few times a second.
async fn push_events(state: Arc<SimState>) {
    let mut changes = state.subscribe_changes();
    loop {
        changes.borrow_and_update();
        state.events().push_due().await;
        state.stream().redeliver_due_by_clock();
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
        }
    }
}
