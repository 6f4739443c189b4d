//! The sandbox: the DingTalk simulator, the real bot wired to it, and the playground page, all on
//! loopback, with no credentials and nothing to configure (`dingmeet sandbox`).
//!
//! The bot is built in-process from settings that point it at the simulator (its client id and
//! secret from the scenario, `DINGMEET_API_BASE` and `DINGMEET_OAPI_BASE` = the simulator,
//! `DINGMEET_WEBHOOK_HOSTS=127.0.0.1`);
//! `DINGMEET_*` variables of the environment are not read, so a real deployment's settings
//! cannot leak in. The playground's messages take the real path: signed callback → bot →
//! session webhook (or an interactive card) → simulator records → page. In HTTP mode the bot's
//! listener is bound first so its public URL (`DINGMEET_PUBLIC_URL`, where card presses are
//! called back) can name its port.

pub mod clock;
pub mod playground;
pub mod send;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{Application, StartError};
use crate::config::{CardsMode, ConfigError, Mode, Settings};
use crate::lang::Lang;
use dingtalk_sim::scenario::CodeAnswer;
use dingtalk_sim::state::meeting_events::HttpSubscription;
use dingtalk_sim::{Scenario, ScenarioError, SimClock, Simulator};

/// The playground's port when none is given (another free port is used if it is taken).
pub const DEFAULT_PORT: u16 = 8600;

/// What the sandbox runs.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The playground's port: `None` tries [`DEFAULT_PORT`] and falls back to a free one;
    /// `Some(0)` takes any free port; `Some(p)` insists on `p`.
    pub port: Option<u16>,
    /// The scenario file; `None` uses the built-in `crates/dingtalk-sim/scenario.toml`.
    pub scenario: Option<PathBuf>,
    /// The bot's default reply language (and the page's).
    pub lang: Lang,
    /// How messages reach the bot (`DINGMEET_MODE`).
    pub mode: Mode,
    /// The bot's store (`DINGMEET_DATA_DIR`); `None`: a fresh temporary directory, removed when
    /// the sandbox stops, so every sandbox starts empty.
    pub data_dir: Option<PathBuf>,
    /// How meeting answers go out (`DINGMEET_CARDS`).
    pub cards: CardsMode,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            port: None,
            scenario: None,
            lang: Lang::Zh,
            mode: Mode::Http,
            data_dir: None,
            cards: CardsMode::Interactive,
        }
    }
}

/// A temporary directory of the sandbox's own, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self, SandboxError> {
        let name = format!("dingmeet-sandbox-{}-{:016x}", std::process::id(), fastrand::u64(..));
        let dir = std::env::temp_dir().join(name);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|source| SandboxError::DataDir { path: dir.display().to_string(), source })?;
        Ok(Self(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("the simulator cannot listen on 127.0.0.1: {0}")]
    Simulator(std::io::Error),
    #[error("the bot's settings: {0}")]
    Settings(#[from] ConfigError),
    #[error("the bot cannot start: {0}")]
    Bot(#[from] StartError),
    #[error("the playground cannot listen on 127.0.0.1:{port}: {source} (try --port 0 for any free port)")]
    Playground { port: u16, source: std::io::Error },
    #[error("the simulator cannot push meeting events to the bot: {0}")]
    Events(String),
    #[error("the sandbox's temporary store {path} cannot be made: {source} (or pass --data-dir)")]
    DataDir { path: String, source: std::io::Error },
}

/// A started sandbox: everything is bound; [`Sandbox::run_until`] serves it.
pub struct Sandbox {
    sim: Simulator,
    app: Application,
    listener: TcpListener,
    playground: Arc<playground::Playground>,
    scenario_path: Option<PathBuf>,
    /// The default port was taken, so another one was used.
    port_fallback: bool,
    stop: CancellationToken,
    data_dir: PathBuf,
    /// Set when the store is a temporary directory: removed with the sandbox.
    _scratch: Option<ScratchDir>,
}

impl Sandbox {
    /// Loads the scenario, starts the simulator, builds the bot against it and binds the
    /// playground. Nothing is served until [`Sandbox::run_until`], except the simulator.
    pub async fn start(options: SandboxOptions) -> Result<Self, SandboxError> {
        let scenario = match &options.scenario {
            Some(path) => Scenario::from_path(path)?,
            None => Scenario::builtin()?,
        };
        let sim = Simulator::start_with(scenario, SimClock::real()).await.map_err(SandboxError::Simulator)?;
        // The playground can run the clock fast: meetings stay where they were put at start.
        sim.meetings().pin_times();
        let scratch = match &options.data_dir {
            Some(_) => None,
            None => Some(ScratchDir::new()?),
        };
        let data_dir = options.data_dir.clone().or_else(|| scratch.as_ref().map(|s| s.0.clone())).unwrap_or_default();
        let bot_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let bot_listener =
            TcpListener::bind(bot_addr).await.map_err(|source| StartError::Bind { addr: bot_addr, source })?;
        let bot_addr = bot_listener.local_addr().map_err(|source| StartError::Bind { addr: bot_addr, source })?;
        let settings = bot_settings(&sim, &options, &data_dir, bot_addr)?;
        let time = Arc::new(clock::SimTime(sim.clock().clone()));
        let app = Application::build_on(&settings, time, bot_listener).await?;
        let (listener, port_fallback) = bind_playground(options.port).await?;
        let callback_url = format!("http://{}/dingtalk/callback", app.local_addr());
        let stop = CancellationToken::new();
        subscribe_events(&sim, options.mode, &settings, bot_addr)?;
        let playground = Arc::new(playground::Playground::new(
            Arc::clone(sim.state()),
            callback_url,
            options.lang,
            options.mode,
            stop.clone(),
        ));
        Ok(Self {
            sim,
            app,
            listener,
            playground,
            scenario_path: options.scenario,
            port_fallback,
            stop,
            data_dir,
            _scratch: scratch,
        })
    }

    /// `http://127.0.0.1:port/`: the page to open.
    pub fn playground_url(&self) -> String {
        format!("http://{}/", self.playground_addr())
    }

    pub fn playground_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The bot's callback URL (served in `http` and `both` modes).
    pub fn callback_url(&self) -> &str {
        self.playground.callback_url()
    }

    /// The simulated DingTalk: `http://127.0.0.1:port`.
    pub fn simulator_url(&self) -> &str {
        self.sim.base_url()
    }

    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// What to print when the sandbox is up: where to look and what to type.
    pub fn banner(&self) -> String {
        let scenario = self.sim.scenario();
        let bot = &scenario.app.bot_name;
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line("dingmeet sandbox: the bot and a simulated DingTalk, on this machine only (no credentials needed)".into());
        line(String::new());
        let fallback = if self.port_fallback { format!("   (port {DEFAULT_PORT} was taken)") } else { String::new() };
        line(format!("  Playground  {}   <- open this in a browser{fallback}", self.playground_url()));
        let bot_line = match self.playground.mode() {
            Mode::Http => format!("{}   (http mode)", self.callback_url()),
            Mode::Both => format!("{}   (http and stream modes)", self.callback_url()),
            Mode::Stream => "stream mode: takes messages from the simulator's Stream gateway, not HTTP callbacks \
                             (the playground needs --mode http or both)"
                .to_owned(),
        };
        line(format!("  Bot         {bot_line}"));
        line(format!("  Simulator   {}   (tokens, meetings, session webhooks)", self.simulator_url()));
        let source = match &self.scenario_path {
            Some(path) => path.display().to_string(),
            None => "built in (crates/dingtalk-sim/scenario.toml; copy it and pass --scenario to edit)".to_owned(),
        };
        line(format!("  Scenario    {source}"));
        let store = if self._scratch.is_some() { "   (temporary; --data-dir keeps it)" } else { "" };
        line(format!("  Store       {}{store}", self.data_dir.display()));
        line(String::new());
        line(format!("Seeded meeting codes (type `@{bot} /meeting <code>` in the playground):"));
        for entry in &scenario.codes {
            let about = if entry.about.is_empty() { describe(&entry.answer) } else { entry.about.clone() };
            line(format!("  {:<11} {about}", entry.code));
        }
        line(String::new());
        let sandbox_flag = if self.port_fallback || self.playground_addr().port() != DEFAULT_PORT {
            format!(" --sandbox {}", self.playground_url())
        } else {
            String::new()
        };
        line(format!("From a terminal: dingmeet send{sandbox_flag} \"/meeting 123456789\""));
        line("Ctrl-C stops it.".into());
        out
    }

    /// Serves the playground and the bot until `shutdown` resolves; then stops the playground,
    /// lets the bot finish its replies, and stops the simulator last.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self { sim, app, listener, playground, stop, _scratch, .. } = self;
        let bot_stop = stop.clone();
        let mut bot = tokio::spawn(app.run_until(async move { bot_stop.cancelled().await }));
        let page_stop = stop.clone();
        let router = playground::router(playground);
        let mut page = tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { page_stop.cancelled().await })
                .into_future(),
        );
        let outcome = tokio::select! {
            () = shutdown => Ok(()),
            ended = &mut bot => flatten("the bot", ended),
            ended = &mut page => flatten("the playground", ended),
        };
        stop.cancel();
        let page_result = if page.is_finished() { Ok(()) } else { flatten("the playground", page.await) };
        let bot_result = if bot.is_finished() { Ok(()) } else { flatten("the bot", bot.await) };
        sim.stop().await;
        outcome.and(page_result).and(bot_result)
    }
}

/// The bot's settings, built here rather than read from the environment.
fn bot_settings(
    sim: &Simulator,
    options: &SandboxOptions,
    data_dir: &Path,
    listen: SocketAddr,
) -> Result<Settings, ConfigError> {
    let mut vars = sim.bot_env();
    vars.push(("DINGMEET_DATA_DIR".to_owned(), data_dir.display().to_string()));
    vars.push(("DINGMEET_LISTEN".to_owned(), listen.to_string()));
    vars.push(("DINGMEET_LANG".to_owned(), options.lang.code().to_owned()));
    let mode = match options.mode {
        Mode::Http => "http",
        Mode::Stream => "stream",
        Mode::Both => "both",
    };
    vars.push(("DINGMEET_MODE".to_owned(), mode.to_owned()));
    let cards = match options.cards {
        CardsMode::Interactive => "interactive",
        CardsMode::Markdown => "markdown",
    };
    vars.push(("DINGMEET_CARDS".to_owned(), cards.to_owned()));
    // In HTTP mode card presses are called back over HTTP, to the bot itself on loopback (the
    // simulator posts them there, signed, as the registered route).
    vars.push(("DINGMEET_PUBLIC_URL".to_owned(), format!("http://{listen}")));
    // The playground runs the clock fast and jumps it: a lookup reused for 30 real seconds would
    // show a meeting as it was before the jump.
    vars.push(("DINGMEET_CACHE_TTL_SECS".to_owned(), "0".to_owned()));
    // Meeting events over HTTP, as an admin sets them up in the console (a token and aes_key of
    // this sandbox's own); a person clicking Join sees the count follow within a second.
    vars.push(("DINGMEET_EVENT_TOKEN".to_owned(), random_alphanumeric(16)));
    vars.push(("DINGMEET_EVENT_AES_KEY".to_owned(), random_alphanumeric(AES_KEY_CHARS)));
    vars.push(("DINGMEET_CARD_MEMBER_UPDATE_SECS".to_owned(), "1".to_owned()));
    Settings::load_from(None, vars)
}

/// The console's aes_key is 43 characters.
const AES_KEY_CHARS: usize = 43;

fn random_alphanumeric(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(len).collect()
}

/// Has the simulator push its meeting events (a meeting started, ended, joined, left) the way
/// the bot takes them: down its Stream connection in stream and both modes, as encrypted HTTP
/// pushes to its `/dingtalk/events` in http mode.
fn subscribe_events(sim: &Simulator, mode: Mode, settings: &Settings, bot: SocketAddr) -> Result<(), SandboxError> {
    if mode != Mode::Http {
        sim.events().set_stream(true);
        return Ok(());
    }
    let Some(events) = &settings.server.events else { return Ok(()) };
    let url = format!("http://{bot}{}", crate::server::event_callback::PATH);
    let subscription = HttpSubscription::new(&url, events.token.expose_secret(), events.aes_key.expose_secret());
    sim.events().subscribe_http(&subscription).map_err(|err| SandboxError::Events(err.to_string()))
}

/// Binds the playground on loopback; reports whether it fell back from the default port.
async fn bind_playground(port: Option<u16>) -> Result<(TcpListener, bool), SandboxError> {
    let bind = |port: u16| TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)));
    match port {
        Some(port) => bind(port).await.map(|l| (l, false)).map_err(|source| SandboxError::Playground { port, source }),
        None => match bind(DEFAULT_PORT).await {
            Ok(listener) => Ok((listener, false)),
            Err(_) => bind(0).await.map(|l| (l, true)).map_err(|source| SandboxError::Playground { port: 0, source }),
        },
    }
}

fn flatten(what: &str, ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    match ended {
        Ok(result) => result,
        Err(err) => Err(std::io::Error::other(format!("{what} stopped unexpectedly: {err}"))),
    }
}

/// A line for a code the scenario does not describe.
pub(crate) fn describe(answer: &CodeAnswer) -> String {
    match answer {
        CodeAnswer::Meetings(meetings) if meetings.is_empty() => "no meetings".to_owned(),
        CodeAnswer::Meetings(meetings) => {
            let count: u64 = meetings.iter().map(|m| u64::from(m.count)).sum();
            format!("{count} meeting(s)")
        }
        CodeAnswer::Error(error) => format!("{} {}", error.status, error.code),
        CodeAnswer::Raw(raw) => format!("HTTP {} ({})", raw.status, raw.content_type),
    }
}
