//! The real `dingmeet serve` binary, started with a soft open-files limit of 1024, against slow
//! and flooding clients: unfinished headers, bodies that never arrive, idle keep-alives, and
//! more connections than the cap. Every client here is a raw socket on 127.0.0.1, so the test
//! sees exactly when the bot answers or closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dingtalk_sim::sender::Callback;
use dingtalk_sim::{Scenario, Simulator};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::helpers::process::BotProcess;

/// The soft open-files limit many hosts start a process with.
const SOFT_OPEN_FILES: u64 = 1024;

/// How long a signed callback may take to be answered during a flood.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// Slack on a timeout, for scheduling on a busy machine.
const SLACK: Duration = Duration::from_secs(2);

/// Slack on the header timeout of a flood, seen from the clients: the bot's clock starts when
/// it accepts a connection, and thousands connecting at once wait in the accept queue first.
const FLOOD_SLACK: Duration = Duration::from_secs(4);

/// The bot's resident memory, in KiB, must stay below this however many clients hold sockets.
const RSS_BOUND_KB: u64 = 256 * 1024;

async fn simulator() -> Simulator {
    Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("the simulator starts")
}

fn env(sim: &Simulator, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = sim.bot_env();
    vars.push(("RUST_LOG".to_owned(), "info".to_owned()));
    vars.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    // Every callback here is in one conversation: each gets its reply, however many there are.
    vars.push(("DINGMEET_RATE_LIMIT_PER_MINUTE".to_owned(), "0".to_owned()));
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    vars
}

/// A simulator, and the bot talking to it with `extra` settings, started with a soft
/// open-files limit of 1024 (and that hard limit too with `hard_too`); the bot's `host:port`.
async fn start(extra: &[(&str, &str)], hard_too: bool) -> (Simulator, BotProcess, String) {
    raise_own_open_files_limit();
    let sim = simulator().await;
    let hard = hard_too.then_some(SOFT_OPEN_FILES);
    let bot = BotProcess::start_with_open_files(&env(&sim, extra), SOFT_OPEN_FILES, hard).await;
    let addr = bot.address.trim_start_matches("http://").to_owned();
    (sim, bot, addr)
}

/// The test opens thousands of sockets itself, and other tests run beside it.
fn raise_own_open_files_limit() {
    const NEEDED: u64 = 16 * 1024;
    // Root may raise the hard limit too: a runner may start the tests with a low one.
    if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE)
        && hard < NEEDED
    {
        let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft, NEEDED);
    }
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("the open-files limit can be read");
    assert!(limit >= 8192, "this test needs 8192 open files, the hard limit allows {limit}");
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn assert_memory_bounded(bot: &BotProcess, when: &str) -> u64 {
    let rss = rss_kb(bot.pid());
    assert!(rss < RSS_BOUND_KB, "the bot's RSS is {rss} KiB {when}, over {RSS_BOUND_KB} KiB");
    rss
}

/// A signed callback's request head, `Connection` as given; the body follows separately.
fn head(callback: &Callback, connection: &str) -> Vec<u8> {
    let mut head = format!(
        "POST /dingtalk/callback HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n",
        callback.body.len()
    );
    for (name, value) in &callback.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Reads one response (head and `Content-Length` body); None when the connection closes first.
async fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let status = head.split_whitespace().nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some((status, String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).to_string()));
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Waits (at most `within`) for the peer to close; the time it took, or None if it did not.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    let read_to_close = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_to_close).await.ok().map(|()| started.elapsed())
}

/// Posts a signed callback on a new connection; its status and how long the answer took.
async fn signed_callback(addr: &str, callback: &Callback) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let mut request = head(callback, "close");
        request.extend_from_slice(&callback.body);
        stream.write_all(&request).await.ok()?;
        read_response(&mut stream).await.map(|(status, _)| status)
    };
    let status = tokio::time::timeout(ANSWER_WITHIN + SLACK, exchange).await.ok().flatten();
    (status, started.elapsed())
}

/// A metric's value in the bot's exposition (read over a new connection, through the limits).
async fn metric(addr: &str, series: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n").await.ok()?;
    let (_, body) = tokio::time::timeout(ANSWER_WITHIN, read_response(&mut stream)).await.ok()??;
    body.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `metric` until it reaches `at_least` (at most `within`).
async fn wait_for_metric(addr: &str, series: &str, at_least: f64, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let value = metric(addr, series).await.unwrap_or(-1.0);
        if value >= at_least {
            return value;
        }
        assert!(Instant::now() < deadline, "{series} is {value}, not {at_least} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A flood's connections so far: connected, and closed by the bot.
#[derive(Default)]
struct Flood {
    connected: AtomicUsize,
    closed: AtomicUsize,
}

impl Flood {
    fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// Connected and not closed yet.
    fn held(&self) -> usize {
        self.connected().saturating_sub(self.closed.load(Ordering::Relaxed))
    }
}

/// The runtime the slow and flooding clients run on: its own thread, so that thousands of them
/// do not delay the test's signed callbacks and metric reads, which time the bot, not the test.
fn clients_runtime() -> &'static tokio::runtime::Handle {
    static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-clients")
            .enable_all()
            .build()
            .expect("the clients' runtime starts")
    });
    RUNTIME.handle()
}

/// Opens `count` connections that send `bytes` and then nothing. Each task yields how long
/// after its connect the bot closed it (None: not within `close_within`, or no connect).
fn open_silent(
    addr: &str,
    count: usize,
    bytes: &'static [u8],
    close_within: Duration,
    flood: &Arc<Flood>,
) -> JoinSet<Option<Duration>> {
    let mut clients = JoinSet::new();
    for _ in 0..count {
        let (addr, flood) = (addr.to_owned(), Arc::clone(flood));
        clients.spawn_on(
            async move {
                let mut stream = tokio::time::timeout(close_within, TcpStream::connect(&addr)).await.ok()?.ok()?;
                let opened = Instant::now();
                flood.connected.fetch_add(1, Ordering::Relaxed);
                // A connection the bot shed at once may refuse the write: it is closed all the same.
                let _ = stream.write_all(bytes).await;
                let closed = closed_within(&mut stream, close_within).await.map(|_| opened.elapsed());
                flood.closed.fetch_add(1, Ordering::Relaxed);
                closed
            },
            clients_runtime(),
        );
    }
    clients
}

/// Every client's close time, asserting each closed within `within` of its connect.
async fn all_closed(mut clients: JoinSet<Option<Duration>>, within: Duration, what: &str) -> Vec<Duration> {
    let mut times = Vec::new();
    while let Some(result) = clients.join_next().await {
        let time = result.expect("a client task").unwrap_or_else(|| panic!("{what}: a connection was not closed"));
        assert!(time <= within, "{what}: a connection was closed after {time:?}, not within {within:?}");
        times.push(time);
    }
    times.sort();
    times
}

/// Waits until `count` of the flood have connected (at most `within`).
async fn wait_connected(flood: &Flood, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while flood.connected() < count {
        assert!(Instant::now() < deadline, "only {} of {count} connected", flood.connected());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `count` replies were delivered, on the session webhook or (once DingTalk
/// throttles it) through the OpenAPI.
async fn replies(sim: &Simulator, count: usize) {
    let delivered = sim
        .wait_until(crate::helpers::WAIT, |records| {
            (records.delivered_posts().len() + records.accepted_sends().len() >= count).then_some(())
        })
        .await;
    delivered.expect("every signed callback is answered");
}

/// The bot stops cleanly on SIGTERM, and its log holds no panic; returns its log lines.
async fn stop(mut bot: BotProcess) -> Vec<Value> {
    bot.terminate();
    let status = bot.wait_for_exit().await;
    let output = bot.output();
    assert!(status.success(), "exit {status}:\n{}", output.join("\n"));
    assert!(!output.iter().any(|line| line.contains("panicked")), "a panic:\n{}", output.join("\n"));
    output.iter().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

fn open_files_line(lines: &[Value]) -> &Value {
    lines.iter().find(|line| line["message"] == "open-files limit").expect("the open-files limit is logged")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_closed_at_the_header_timeout_and_signed_callbacks_still_get_in() {
    let _machine = crate::helpers::heavy().await;
    const FLOOD: usize = 3000;
    // The default: DingTalk's own requests come whole at once.
    let header_timeout = Duration::from_secs(5);
    let (sim, bot, addr) = start(&[], false).await;
    let flood = Arc::new(Flood::default());
    let clients = open_silent(
        &addr,
        FLOOD,
        b"POST /dingtalk/callback HTTP/1.1\r\nX-a: b\r\n",
        header_timeout + FLOOD_SLACK + Duration::from_secs(10),
        &flood,
    );

    // Signed callbacks on new connections while the flood connects and holds its sockets: at
    // least five while nine in ten of them are held at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let mut answered = 0;
    let mut at_the_height = 0;
    while at_the_height < 5 {
        pace.tick().await;
        let held = flood.held();
        let (status, took) = signed_callback(&addr, &sim.message("/help").build()).await;
        assert_eq!(status, Some(200), "a signed callback during the flood ({held} held), after {took:?}");
        assert!(took <= ANSWER_WITHIN, "a signed callback took {took:?} during the flood ({held} held)");
        answered += 1;
        at_the_height += usize::from(held >= FLOOD * 9 / 10 && flood.held() >= FLOOD * 9 / 10);
        let connected = flood.connected();
        assert!(Instant::now() < deadline, "the flood never held 90 %: {connected} of {FLOOD} connected");
    }
    let peak = assert_memory_bounded(&bot, "with the flood connected");

    let times = all_closed(clients, header_timeout + FLOOD_SLACK, "unfinished headers").await;
    let last = times.last().copied().unwrap_or_default();
    assert!(times[0] >= header_timeout - Duration::from_millis(200), "closed before the timeout: {:?}", times[0]);
    let timed_out = r#"dingmeet_http_connections_timed_out_total{timeout="header"}"#;
    let counted = wait_for_metric(&addr, timed_out, FLOOD as f64, Duration::from_secs(5)).await;
    let open = metric(&addr, "dingmeet_http_connections").await.unwrap_or(-1.0);
    assert!(open <= 2.0, "{open} connections still open after the flood");
    let after = assert_memory_bounded(&bot, "after the flood");
    replies(&sim, answered).await;
    let lines = stop(bot).await;
    let limit = open_files_line(&lines);
    assert_eq!(limit["soft_before"], SOFT_OPEN_FILES, "{limit}");
    eprintln!(
        "{FLOOD} unfinished headers: {answered} callbacks answered, closed after {:?}..{last:?}, {counted} header \
         timeouts counted, RSS {peak} KiB at the peak, {after} KiB after; {limit}",
        times[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_whose_body_never_arrives_get_408_at_the_body_timeout() {
    let _machine = crate::helpers::heavy().await;
    const CLIENTS: usize = 500;
    let body_timeout = Duration::from_secs(2);
    let (sim, bot, addr) = start(&[("DINGMEET_HTTP_BODY_TIMEOUT_SECS", "2")], false).await;
    let callback = sim.message("/help").build();
    let request = head(&callback, "keep-alive");
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let (addr, request) = (addr.clone(), request.clone());
        clients.spawn_on(
            async move {
                let mut stream = TcpStream::connect(&addr).await.ok()?;
                stream.write_all(&request).await.ok()?;
                let sent = Instant::now();
                let answer =
                    tokio::time::timeout(body_timeout + SLACK + SLACK, read_response(&mut stream)).await.ok()?;
                let status = answer.map(|(status, _)| status);
                // After the 408, the connection closes too.
                let closed = closed_within(&mut stream, SLACK).await;
                Some((status, sent.elapsed(), closed.is_some()))
            },
            clients_runtime(),
        );
    }
    let peak = assert_memory_bounded(&bot, "while the bodies are awaited");
    let mut latest = Duration::ZERO;
    while let Some(result) = clients.join_next().await {
        let (status, took, closed) = result.expect("a client task").expect("an answer or a close in time");
        assert!(matches!(status, Some(408) | None), "{status:?} for a body that never arrived");
        assert!(closed, "the connection stayed open after the 408");
        assert!(took >= body_timeout - Duration::from_millis(200), "answered before the body timeout: {took:?}");
        assert!(took <= body_timeout + SLACK, "answered after {took:?}, not within the body timeout");
        latest = latest.max(took);
    }
    let counted = wait_for_metric(
        &addr,
        r#"dingmeet_http_connections_timed_out_total{timeout="body"}"#,
        CLIENTS as f64,
        Duration::from_secs(5),
    )
    .await;
    let (status, took) = signed_callback(&addr, &sim.message("/help").build()).await;
    assert_eq!(status, Some(200), "a signed callback after the slow bodies ({took:?})");
    assert_memory_bounded(&bot, "after the slow bodies");
    stop(bot).await;
    eprintln!("{CLIENTS} bodies that never arrived: 408 by {latest:?}, {counted} body timeouts, RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_at_the_idle_timeout_not_before() {
    let _machine = crate::helpers::heavy().await;
    const CLIENTS: usize = 300;
    let idle_timeout = Duration::from_secs(3);
    // A header timeout shorter than the idle timeout: a keep-alive waiting for its next request
    // is not cut by it.
    let settings = [("DINGMEET_HTTP_IDLE_TIMEOUT_SECS", "3"), ("DINGMEET_HTTP_HEADER_TIMEOUT_SECS", "1")];
    let (_sim, bot, addr) = start(&settings, false).await;
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let addr = addr.clone();
        clients.spawn_on(
            async move {
                let mut stream = TcpStream::connect(&addr).await.ok()?;
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n").await.ok()?;
                let (status, _) = tokio::time::timeout(ANSWER_WITHIN, read_response(&mut stream)).await.ok()??;
                assert_eq!(status, 200);
                closed_within(&mut stream, idle_timeout + SLACK + SLACK).await
            },
            clients_runtime(),
        );
    }
    let peak = assert_memory_bounded(&bot, "with the idle connections open");
    let mut times = Vec::new();
    while let Some(result) = clients.join_next().await {
        let time = result.expect("a client task").expect("answered, then closed in time");
        assert!(time >= idle_timeout - Duration::from_millis(200), "an idle connection was closed after {time:?}");
        assert!(time <= idle_timeout + SLACK, "an idle connection was closed after {time:?}");
        times.push(time);
    }
    times.sort();
    let counted = wait_for_metric(
        &addr,
        r#"dingmeet_http_connections_timed_out_total{timeout="idle"}"#,
        CLIENTS as f64,
        Duration::from_secs(5),
    )
    .await;
    stop(bot).await;
    eprintln!(
        "{CLIENTS} idle keep-alives closed after {:?}..{:?}, {counted} idle timeouts, RSS {peak} KiB",
        times[0],
        times[times.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_quietest_are_shed_and_signed_callbacks_still_get_in() {
    let _machine = crate::helpers::heavy().await;
    const FLOOD: usize = 3000;
    // Both limits at 1024, so the cap is derived (768) and the flood is over it; the header
    // timeout is long, so only shedding makes room.
    let (sim, bot, addr) = start(&[("DINGMEET_HTTP_HEADER_TIMEOUT_SECS", "30")], true).await;
    let flood = Arc::new(Flood::default());
    let clients = open_silent(&addr, FLOOD, b"POST /dingtalk/callback HTTP/1.1\r\n", Duration::from_secs(20), &flood);
    wait_connected(&flood, FLOOD, Duration::from_secs(20)).await;
    let shed_series = "dingmeet_http_connections_shed_total";
    wait_for_metric(&addr, shed_series, (FLOOD - 768) as f64, Duration::from_secs(10)).await;
    for _ in 0..5 {
        let (status, took) = signed_callback(&addr, &sim.message("/help").build()).await;
        assert_eq!(status, Some(200), "a signed callback at the cap, after {took:?}");
        assert!(took <= ANSWER_WITHIN, "a signed callback at the cap took {took:?}");
    }
    let open = metric(&addr, "dingmeet_http_connections").await.unwrap_or(-1.0);
    assert!((0.0..=768.0).contains(&open), "{open} connections open at a cap of 768");
    let shed = metric(&addr, shed_series).await.unwrap_or(-1.0);
    let peak = assert_memory_bounded(&bot, "at the cap");
    drop(clients);
    replies(&sim, 5).await;
    let lines = stop(bot).await;
    let warnings: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"].as_str().is_some_and(|m| m.starts_with("HTTP connections at the cap")))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning a minute at most: {warnings:?}");
    assert_eq!(warnings[0]["cap"], 768, "{}", warnings[0]);
    let limit = open_files_line(&lines);
    assert_eq!((limit["soft"].as_u64(), limit["hard"].as_u64()), (Some(1024), Some(1024)), "{limit}");
    eprintln!("{FLOOD} connections at a cap of 768: {shed} shed, {open} open, RSS {peak} KiB; {}", warnings[0]);
}
