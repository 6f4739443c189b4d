//! The Stream-mode load benchmark's driver (`bench/stream.sh`): the simulator runs in this
//! process; each target (the bot in stream mode, or the meeting bot written on DingTalk's
//! official Python Stream SDK, `bench/peers/sdk_bot.py`) is its own process, connects to the
//! simulator's gateway, and gets the same robot messages pushed down its WebSocket, rounds
//! alternating which target goes first.
//!
//! ```text
//! stream_load --bot BIN [--sdk PYTHON] [--rounds N] [--duration S] [--window W] [--out FILE] [--smoke]
//! ```
//!
//! Closed loop: at most `--window` messages wait for their reply at any time, and a new one is
//! pushed whenever a reply lands. Each message has its own sender (whom the reply @-mentions),
//! conversation and session webhook, so every reply is matched to its message. Latency is from
//! the push to the reply's arrival at the simulator's webhook. CPU is the process's user + system
//! time from `/proc/PID/stat`; memory is `VmHWM` (peak) and `VmRSS` after the warm-up (idle).
//! The simulator's own CPU is this process's, so its share shows it was not the bottleneck.
//! Prints one JSON line per run (also appended to `--out`) and a summary; exits 1 when a message
//! was not acknowledged, or its reply is missing or came twice.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dingtalk_sim::records::stream::FrameKind;
use dingtalk_sim::{MessageBuilder, Scenario, SimClock, SimState, Simulator};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

/// What a target is given to connect, reply and settle.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// After the last reply, how long a duplicate still has to show up.
const DUPLICATE_GRACE: Duration = Duration::from_millis(300);
const WARM_UP: usize = 200;
const TEXT: &str = "/meeting 123456789";

#[derive(Debug, Clone)]
struct Options {
    bot: PathBuf,
    sdk: Option<PathBuf>,
    rounds: u32,
    duration: Duration,
    window: usize,
    out: Option<PathBuf>,
    smoke: bool,
    bot_env: Vec<(String, String)>,
    work: PathBuf,
}

fn options() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        bot: PathBuf::new(),
        sdk: None,
        rounds: 3,
        duration: Duration::from_secs(10),
        window: 16,
        out: None,
        smoke: false,
        bot_env: Vec::new(),
        work: std::env::temp_dir(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bot" => o.bot = value()?.into(),
            "--sdk" => o.sdk = Some(value()?.into()),
            "--rounds" => o.rounds = value()?.parse()?,
            "--duration" => o.duration = Duration::from_secs_f64(value()?.parse()?),
            "--window" => o.window = value()?.parse()?,
            "--out" => o.out = Some(value()?.into()),
            "--work" => o.work = value()?.into(),
            "--bot-env" => {
                for word in value()?.split_whitespace() {
                    let (name, v) =
                        word.split_once('=').ok_or_else(|| format!("--bot-env: {word} is not NAME=value"))?;
                    o.bot_env.push((name.to_owned(), v.to_owned()));
                }
            }
            "--smoke" => o.smoke = true,
            _ => return Err(format!("unknown argument {arg}; see examples/stream_load.rs").into()),
        }
    }
    if o.bot.as_os_str().is_empty() {
        return Err("--bot BIN is required".into());
    }
    Ok(o)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bot,
    Sdk,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bot => "bot",
            Kind::Sdk => "sdk",
        }
    }
}

/// One target process, killed when dropped.
struct Target {
    child: Child,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    fn start(kind: Kind, o: &Options, sim: &SimState, log: &Path) -> Result<Self, Error> {
        let log_file = std::fs::File::create(log)?;
        let mut command = match kind {
            Kind::Bot => {
                let mut c = Command::new(&o.bot);
                c.arg("serve");
                c
            }
            Kind::Sdk => {
                let python = o.sdk.as_ref().ok_or("no --sdk")?;
                let mut c = Command::new(python);
                c.arg("bench/peers/sdk_bot.py")
                    .env("DINGTALK_OPENAPI_ENDPOINT", sim.base_url())
                    .env("DINGTALK_CLIENT_ID", sim.client_id())
                    .env("DINGTALK_CLIENT_SECRET", sim.client_secret());
                c
            }
        };
        // Only what the target is given: no DINGMEET_* or RUST_LOG of this shell leaks in.
        for (name, _) in std::env::vars() {
            if name.starts_with("DINGMEET_") || name == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        if kind == Kind::Bot {
            for (name, value) in sim.bot_env() {
                command.env(name, value);
            }
            // The durable default: a fresh store for every run, as bench/load.sh gives each.
            command.env("DINGMEET_DATA_DIR", log.with_extension("data"));
            command
                .env("DINGMEET_MODE", "stream")
                .env("DINGMEET_LISTEN", "127.0.0.1:0")
                .env("DINGMEET_LOG_FORMAT", "json")
                // Webhook replies, as the SDK's bot sends: the measure is the same work on both.
                .env("DINGMEET_CARDS", "markdown");
            command.envs(o.bot_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        let child = command.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file).spawn()?;
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `/proc/PID/status` figure in kB.
fn status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Pushes messages and matches replies to them.
struct Loop {
    sim: Arc<SimState>,
    prefix: String,
    next: usize,
    /// Push time of each message still waiting for its reply, by sender.
    waiting: HashMap<String, Instant>,
    answered: HashMap<String, u32>,
    latencies_us: Vec<u64>,
    /// Webhook posts already read.
    cursor: usize,
    refused: usize,
}

impl Loop {
    fn new(sim: Arc<SimState>, prefix: String) -> Self {
        let cursor = sim.tally(None).webhook_posts;
        Self {
            sim,
            prefix,
            next: 0,
            waiting: HashMap::new(),
            answered: HashMap::new(),
            latencies_us: Vec::new(),
            cursor,
            refused: 0,
        }
    }

    fn push(&mut self) {
        let sender = format!("{}{}", self.prefix, self.next);
        let conversation = format!("cid{}{}=", self.prefix, self.next);
        self.next += 1;
        MessageBuilder::new(Arc::clone(&self.sim), TEXT)
            .conversation_id(&conversation)
            .sender_staff_id(Some(&sender))
            .push();
        self.waiting.insert(sender, Instant::now());
    }

    /// Waits (at most `timeout`) for new webhook posts and matches them.
    async fn collect(&mut self, timeout: Duration) {
        let cursor = self.cursor;
        let found = self
            .sim
            .wait_until(timeout, |records| {
                let new = records.webhook_posts.get(cursor..).unwrap_or_default();
                (!new.is_empty())
                    .then(|| new.iter().map(|post| (post.delivered(), post.at_user_ids())).collect::<Vec<_>>())
            })
            .await
            .unwrap_or_default();
        let now = Instant::now();
        self.cursor += found.len();
        for (delivered, mentioned) in found {
            if !delivered {
                self.refused += 1;
                continue;
            }
            for sender in mentioned.into_iter().filter(|s| s.starts_with(&self.prefix)) {
                if let Some(pushed) = self.waiting.remove(&sender) {
                    self.latencies_us.push(u64::try_from(now.duration_since(pushed).as_micros()).unwrap_or(u64::MAX));
                }
                *self.answered.entry(sender).or_default() += 1;
            }
        }
    }

    /// Keeps `window` messages waiting until `until`, or until `limit` were pushed.
    async fn run(&mut self, window: usize, until: Instant, limit: usize) {
        while Instant::now() < until && self.next < limit {
            while self.waiting.len() < window && self.next < limit {
                self.push();
            }
            self.collect(Duration::from_millis(200)).await;
        }
    }

    /// Waits for every reply (or the timeout), then for duplicates a little longer.
    async fn settle(&mut self) -> Instant {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while !self.waiting.is_empty() && Instant::now() < deadline {
            self.collect(Duration::from_millis(500)).await;
        }
        let last = Instant::now();
        let grace = Instant::now() + DUPLICATE_GRACE;
        while Instant::now() < grace {
            self.collect(grace.saturating_duration_since(Instant::now())).await;
        }
        last
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Frames acknowledged with code 200.
fn acks(sim: &SimState) -> usize {
    sim.stream()
        .records()
        .received
        .iter()
        .filter(|f| f.answers == Some(FrameKind::Callback))
        .filter(|f| f.json.as_ref().and_then(|j| j.get("code")?.as_i64()) == Some(200))
        .count()
}

async fn run(kind: Kind, round: u32, o: &Options) -> Result<Value, Error> {
    let scenario = Scenario::from_path(Path::new("bench/scenario.toml"))?;
    let sim = Simulator::start_with(scenario, SimClock::real()).await?;
    let state = Arc::clone(sim.state());
    // No redelivery: a reply that comes twice is the target's doing, not the simulator's.
    state.stream().set_redelivery(None);
    let log = o.work.join(format!("{}-{round}.log", kind.name()));
    let mut target = Target::start(kind, o, &state, &log)?;
    let connected = state.wait_for_connections(1, CONNECT_TIMEOUT).await;
    if connected.is_err() || !target.alive() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "{} did not connect to the gateway within {CONNECT_TIMEOUT:?}; its log:\n{text}",
            kind.name()
        )
        .into());
    }
    let pid = target.pid();
    let own = std::process::id().to_string();

    let mut warm = Loop::new(Arc::clone(&state), format!("w{round}{}", kind.name()));
    warm.run(4, Instant::now() + CONNECT_TIMEOUT, WARM_UP).await;
    warm.settle().await;
    if !warm.waiting.is_empty() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "{}: {} of {WARM_UP} warm-up replies missing; its log:\n{text}",
            kind.name(),
            warm.waiting.len()
        )
        .into());
    }
    let idle_kb = status_kb(pid, "VmRSS");
    let acks_before = acks(&state);

    let mut load = Loop::new(Arc::clone(&state), format!("r{round}{}", kind.name()));
    let (target_cpu, sim_cpu) = (cpu_secs(&pid.to_string()), cpu_secs(&own));
    let start = Instant::now();
    load.run(o.window, start + o.duration, usize::MAX).await;
    let last = load.settle().await;
    let elapsed = last.duration_since(start).as_secs_f64();
    let (target_cpu, sim_cpu) = (cpu_secs(&pid.to_string()) - target_cpu, cpu_secs(&own) - sim_cpu);
    let peak_kb = status_kb(pid, "VmHWM");
    let acked = acks(&state) - acks_before;
    let alive = target.alive();
    drop(target);
    sim.stop().await;

    let pushed = load.next;
    let answered = load.answered.len();
    let doubled: u32 = load.answered.values().map(|n| n - 1).sum();
    let mut lat = load.latencies_us;
    lat.sort_unstable();
    let per = |secs: f64| if pushed == 0 { 0.0 } else { secs * 1e6 / pushed as f64 };
    Ok(json!({
        "kind": kind.name(),
        "round": round,
        "pushed": pushed,
        "acked": acked,
        "answered": answered,
        "missing": pushed - answered.min(pushed),
        "doubled": doubled,
        "refused": load.refused,
        "alive": alive,
        "seconds": elapsed,
        "replies_per_s": answered as f64 / elapsed,
        "p50_ms": percentile(&lat, 50.0),
        "p90_ms": percentile(&lat, 90.0),
        "p99_ms": percentile(&lat, 99.0),
        "cpu_us_per_msg": per(target_cpu),
        "sim_cpu_us_per_msg": per(sim_cpu),
        "sim_cores_busy": sim_cpu / elapsed,
        "target_cores_busy": target_cpu / elapsed,
        "idle_rss_kb": idle_kb,
        "peak_rss_kb": peak_kb,
    }))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn failures(run: &Value) -> Vec<String> {
    let n = |key: &str| run[key].as_u64().unwrap_or(0);
    let mut out = Vec::new();
    if n("pushed") == 0 {
        out.push("nothing was pushed".to_owned());
    }
    if n("acked") != n("pushed") {
        out.push(format!("{} of {} frames acknowledged", n("acked"), n("pushed")));
    }
    for key in ["missing", "doubled", "refused"] {
        if n(key) > 0 {
            out.push(format!("{} replies {key}", n(key)));
        }
    }
    if run["alive"] != json!(true) {
        out.push("the target exited".to_owned());
    }
    out
}

fn summary(runs: &[Value], smoke: bool) -> bool {
    let mut ok = true;
    println!("kind round  replies/s   p50/p90/p99 ms        CPU µs/msg  peak MB  sim CPU µs/msg (cores)  checks");
    for run in runs {
        let fails = failures(run);
        ok &= fails.is_empty();
        let f = |k: &str| run[k].as_f64().unwrap_or(0.0);
        println!(
            "{:<4} {:>5} {:>10.0}   {:>5.2} / {:>5.2} / {:>6.2}   {:>9.1} {:>8.1}  {:>8.1} ({:.2})          {}",
            run["kind"].as_str().unwrap_or(""),
            run["round"],
            f("replies_per_s"),
            f("p50_ms"),
            f("p90_ms"),
            f("p99_ms"),
            f("cpu_us_per_msg"),
            f("peak_rss_kb") / 1024.0,
            f("sim_cpu_us_per_msg"),
            f("sim_cores_busy"),
            if fails.is_empty() { "ok".to_owned() } else { format!("FAILED: {}", fails.join("; ")) },
        );
    }
    let of = |kind: &str, key: &str| {
        median(runs.iter().filter(|r| r["kind"] == kind).filter_map(|r| r[key].as_f64()).collect())
    };
    let mut medians = serde_json::Map::new();
    for kind in ["bot", "sdk"] {
        if runs.iter().any(|r| r["kind"] == kind) {
            let keys = [
                "replies_per_s",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "cpu_us_per_msg",
                "peak_rss_kb",
                "idle_rss_kb",
                "sim_cores_busy",
            ];
            let m: serde_json::Map<String, Value> =
                keys.iter().map(|k| ((*k).to_owned(), json!(of(kind, k)))).collect();
            medians.insert(kind.to_owned(), Value::Object(m));
        }
    }
    let totals = |key: &str| runs.iter().filter_map(|r| r[key].as_u64()).sum::<u64>();
    medians.insert(
        "checks".to_owned(),
        json!({"pushed": totals("pushed"), "acked": totals("acked"), "answered": totals("answered"),
               "missing": totals("missing"), "doubled": totals("doubled")}),
    );
    if !smoke && medians.contains_key("sdk") {
        medians.insert(
            "bot_over_sdk".to_owned(),
            json!({
                "throughput": of("bot", "replies_per_s") / of("sdk", "replies_per_s").max(f64::MIN_POSITIVE),
                "peak_memory": of("bot", "peak_rss_kb") / of("sdk", "peak_rss_kb").max(f64::MIN_POSITIVE),
                "cpu_per_message": of("bot", "cpu_us_per_msg") / of("sdk", "cpu_us_per_msg").max(f64::MIN_POSITIVE),
            }),
        );
    }
    println!("medians: {}", serde_json::to_string_pretty(&Value::Object(medians)).unwrap_or_default());
    if ok {
        println!("checks: every pushed message acknowledged and answered exactly once");
    } else {
        println!("FAILED: see the checks column");
    }
    ok
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut o = options()?;
    if o.smoke {
        o.rounds = 1;
    }
    let kinds: Vec<Kind> = if o.sdk.is_some() { vec![Kind::Bot, Kind::Sdk] } else { vec![Kind::Bot] };
    let mut runs = Vec::new();
    let mut out = match &o.out {
        Some(path) => Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        None => None,
    };
    for round in 1..=o.rounds {
        let mut order = kinds.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for kind in order {
            eprintln!("== round {round}: {}, {:?}, window {}", kind.name(), o.duration, o.window);
            let run = run(kind, round, &o).await?;
            if let Some(out) = out.as_mut() {
                writeln!(out, "{run}")?;
            }
            runs.push(run);
        }
    }
    if !summary(&runs, o.smoke) {
        std::process::exit(1);
    }
    Ok(())
}
