//! `bench/load.sh --smoke` on the real binary: the load benchmark's signed callbacks are accepted
//! and every reply arrives exactly once, and the script fails loudly when callbacks are refused,
//! so the benchmark can never quietly measure 401s. Needs `wrk` (`.ci/run` installs it).

use std::process::{Command, Output};

fn smoke(bot_env: &str) -> (Output, String) {
    let _machine = crate::helpers::heavy_blocking();
    let output = Command::new("bash")
        .arg("bench/load.sh")
        .arg("--smoke")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BOT_BIN", env!("CARGO_BIN_EXE_dingmeet"))
        .env("BOT_ENV", bot_env)
        .env("DURATION", "2")
        .env("CONNECTIONS", "2")
        .output()
        .expect("bash runs bench/load.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!text.contains("wrk is missing"), "install wrk (apt-get install -y wrk) to run this test:\n{text}");
    (output, text)
}

/// The number after `"name": ` in the script's summary.
fn figure(text: &str, name: &str) -> u64 {
    let key = format!("\"{name}\": ");
    let at = text.find(&key).unwrap_or_else(|| panic!("no {name} in:\n{text}")) + key.len();
    text[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("a number")
}

#[test]
fn the_load_benchmarks_callbacks_are_accepted_and_each_answered_exactly_once() {
    let (output, text) = smoke("");
    assert!(output.status.success(), "{text}");
    assert!(text.contains("checks: every request answered 2xx, no socket error"), "{text}");
    let accepted = figure(&text, "callbacks_accepted");
    assert!(accepted > 0, "the smoke run sent nothing:\n{text}");
    assert_eq!(figure(&text, "replies_delivered"), accepted, "{text}");
    assert_eq!(figure(&text, "distinct_senders_answered"), accepted, "{text}");
}

#[test]
fn the_load_benchmark_fails_when_callbacks_are_refused() {
    // A one-second signature window: the plan's signed timestamp goes stale during the run.
    let (output, text) = smoke("DINGMEET_SIGN_WINDOW_SECS=1");
    assert!(!output.status.success(), "the script passed although the bot answered 401:\n{text}");
    assert!(text.contains("FAILED") && text.contains("failed requests (non-2xx"), "{text}");
}
