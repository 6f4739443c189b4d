//! `/remind` through the real binary on one `DINGMEET_DATA_DIR`: a reminder set before a
//! SIGTERM or a SIGKILL is sent by the next process, once, and a process after that does not
//! send it again. Real time: the meeting starts a minute and a few seconds after it is set, so
//! the one-minute reminder comes due seconds later (polled, never slept for).

use std::time::Duration;

use dingtalk_sim::scenario::CodeAnswer;
use dingtalk_sim::{Scenario, Simulator};

use crate::helpers::process::BotProcess;
use crate::helpers::{WAIT, assert_acknowledged, data_dir, text_of};
use crate::remind::meeting;

const CODE: &str = "987650009";
/// How long a test waits for a reminder due seconds from now.
const DUE: Duration = Duration::from_secs(30);

fn env(sim: &Simulator, dir: &std::path::Path) -> Vec<(String, String)> {
    let mut vars = sim.bot_env();
    vars.push(("DINGMEET_DATA_DIR".to_owned(), dir.display().to_string()));
    vars
}

/// A meeting starting `lead_ms` from now, whose one-minute reminder is due `lead_ms - 60 s` from now.
fn meeting_in(sim: &Simulator, lead_ms: i64) -> i64 {
    let start = sim.clock().now_ms() + lead_ms;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("p1", "重启前设置的会", 0, start)]));
    start
}

async fn set_reminder(sim: &Simulator, bot: &BotProcess) {
    let delivery = sim
        .message(format!("/remind {CODE} 1"))
        .post(&format!("{}/dingtalk/callback", bot.address))
        .await
        .expect("the bot answers");
    assert_acknowledged(&delivery);
    let session = delivery.callback.session_id.clone();
    let post = sim
        .wait_until(WAIT, |records| {
            records.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned()
        })
        .await
        .expect("the confirmation");
    assert!(text_of(&post).contains("重启前设置的会"), "{}", text_of(&post));
}

fn sent(sim: &Simulator) -> usize {
    sim.records().accepted_sends().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_set_before_a_sigterm_is_sent_once_after_it_and_not_again_after_a_sigkill() {
    let sim = Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("starts");
    let dir = data_dir();
    meeting_in(&sim, 66_000);
    let mut first = BotProcess::start(&env(&sim, dir.path())).await;
    set_reminder(&sim, &first).await;
    first.terminate();
    assert!(first.wait_for_exit().await.success(), "a clean stop");
    assert_eq!(sent(&sim), 0, "not due before the stop");

    let mut second = BotProcess::start(&env(&sim, dir.path())).await;
    let sends = sim.wait_for_openapi_sends(1, DUE).await.expect("the reminder after the restart");
    assert!(sends[0].text().is_some_and(|t| t.contains("重启前设置的会")));
    second.wait_for_line(|line| line.contains("\"reminder sent\"")).await;
    second.kill().await;

    let mut third = BotProcess::start(&env(&sim, dir.path())).await;
    third.wait_for_line(|line| line.contains("\"reminder scheduler started\"")).await;
    assert_eq!(sent(&sim), 1, "never twice");
    third.terminate();
    third.wait_for_exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_set_just_before_a_sigkill_is_sent_once_by_the_next_process() {
    let sim = Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("starts");
    let dir = data_dir();
    meeting_in(&sim, 64_000);
    let mut first = BotProcess::start(&env(&sim, dir.path())).await;
    set_reminder(&sim, &first).await;
    first.kill().await;

    let mut second = BotProcess::start(&env(&sim, dir.path())).await;
    sim.wait_for_openapi_sends(1, DUE).await.expect("the reminder after the kill");
    let line = second.wait_for_line(|line| line.contains("\"reminder sent\"")).await;
    let line: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!((line["code"].as_str(), line["outcome"].as_str()), (Some(CODE), Some("sent")), "{line}");
    second.terminate();
    second.wait_for_exit().await;
    assert_eq!(sent(&sim), 1);
}
