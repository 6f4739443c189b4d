//! A month in minutes (`bench/month.sh`): a month of a 2,000-person organisation replayed
//! through the simulator's clock against the real bot on 127.0.0.1, reporting the OpenAPI calls
//! per purpose against `DINGMEET_MONTHLY_CALL_BUDGET`, interactive and markdown answers, how
//! stale live cards got and the live share; with events (`http` or `stream`) DingTalk pushes
//! every start, end, join and leave to the bot.
//!
//! ```sh
//! cargo run --release --example month -- [DAYS] [SEED] [off|http|stream]
//! ```
//!
//! Prints one `day {json}` line per simulated day and a final `month {json}` line.

mod replay;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let days: u32 = args.next().map_or(Ok(30), |n| n.parse())?;
    let seed: u64 = args.next().map_or(Ok(13), |n| n.parse())?;
    let events = args.next().unwrap_or_else(|| "off".to_owned());
    let events = replay::events::Transport::parse(&events)
        .ok_or_else(|| anyhow::anyhow!("events {events:?}: off, http or stream"))?;
    // The bot's log on stdout beside the figures, when asked for (`RUST_LOG=info`).
    let _log = std::env::var_os("RUST_LOG").filter(|v| v != "off").map(|_| dingmeet::telemetry::init_logging(false));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut options = replay::Options { days, seed, events, ..replay::Options::default() };
    if let Some(ms) = std::env::var("MONTH_QUIET_MS").ok().and_then(|ms| ms.parse().ok()) {
        options.quiet = std::time::Duration::from_millis(ms);
    }
    let report = runtime.block_on(replay::run(&options, |line| println!("{line}")))?;
    println!("month {}", report.json());
    Ok(())
}
