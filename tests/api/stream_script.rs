//! `bench/stream.sh --smoke` on the real binary and the official SDK's meeting bot: every message
//! pushed down the simulator's Stream gateway is acknowledged and answered exactly once by both,
//! so the side-by-side benchmark never quietly compares missing replies. The SDK's venv is the one
//! `scripts/test` passes in `SDK_VENV`, else the script makes one from
//! bench/peers/requirements.txt; when pip cannot install it, this test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The driver example, built beside the bot binary (`cargo test` builds examples; a filtered run
/// may not have, so it is built here then).
fn driver(bot: &Path) -> PathBuf {
    let profile_dir = bot.parent().expect("the binary sits in a profile directory");
    let driver = profile_dir.join("examples").join("stream_load");
    if !driver.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "--example", "stream_load"]).current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example stream_load failed");
    }
    driver
}

#[test]
fn the_stream_benchmarks_messages_are_each_answered_exactly_once_by_the_bot_and_the_sdk() {
    let _machine = crate::helpers::heavy_blocking();
    let bot = PathBuf::from(env!("CARGO_BIN_EXE_dingmeet"));
    let output = Command::new("bash")
        .arg("bench/stream.sh")
        .arg("--smoke")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DRIVER_BIN", driver(&bot))
        .env("BOT_BIN", &bot)
        .output()
        .expect("bash runs bench/stream.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{text}");
    assert!(text.contains("checks: every pushed message acknowledged and answered exactly once"), "{text}");
    for kind in ["bot", "sdk"] {
        let row = text.lines().find(|l| l.starts_with(kind) && l.ends_with("ok"));
        assert!(row.is_some(), "no passing {kind} run in:\n{text}");
    }
    assert!(text.contains("\"missing\": 0") && text.contains("\"doubled\": 0"), "{text}");
}
