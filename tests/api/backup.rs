//! `dingmeet backup FILE` through the real binary, while a real `dingmeet serve` on the same
//! `DINGMEET_DATA_DIR` is under load: the copy holds every message acknowledged before it began,
//! and put back as the store of a fresh directory it opens and keeps what the bot was told.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dingmeet::state::{StateOptions, StateStore};
use dingtalk_sim::Simulator;

use crate::helpers::process::BotProcess;
use crate::helpers::{WAIT, assert_acknowledged, data_dir};
use crate::process::{env, simulator};

/// Runs `dingmeet backup --data-dir DIR FILE`; its stdout.
async fn backup(dir: &Path, file: &Path) -> String {
    let output = run_backup(dir, file).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "backup failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

async fn run_backup(dir: &Path, file: &Path) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dingmeet"));
    command.arg("backup").arg("--data-dir").arg(dir).arg(file).env_remove("DINGMEET_DATA_DIR");
    tokio::task::spawn_blocking(move || command.output()).await.expect("joined").expect("the binary runs")
}

/// Posts messages to `bot` until `stop` is set; how many were acknowledged.
async fn load(sim: Arc<Simulator>, address: String, stop: Arc<AtomicBool>) -> usize {
    let mut acknowledged = 0;
    while !stop.load(Ordering::Relaxed) {
        let delivery = sim.message("hello").post(&format!("{address}/dingtalk/callback")).await.expect("answers");
        assert_acknowledged(&delivery);
        acknowledged += 1;
    }
    acknowledged
}

fn journaled(copy: &Path, msg_id: &str) -> bool {
    let conn = rusqlite::Connection::open_with_flags(copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("opens");
    conn.query_row("SELECT count(*) FROM journal WHERE instr(msg_id, ?1) > 0", [msg_id], |row| row.get::<_, i64>(0))
        .expect("a journal")
        > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_to_a_store_that_opens_with_what_was_acknowledged() {
    let sim = Arc::new(simulator().await);
    let dir = data_dir();
    let vars = env(&sim, &[("DINGMEET_DATA_DIR", &dir.path().display().to_string())]);
    let bot = BotProcess::start(&vars).await;
    let url = format!("{}/dingtalk/callback", bot.address);
    let switched = sim.message("/lang en").post(&url).await.expect("answers");
    assert_acknowledged(&switched);
    let session = switched.callback.session_id.clone();
    sim.wait_until(WAIT, |r| r.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned())
        .await
        .expect("the switch is answered");

    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> =
        (0..4).map(|_| tokio::spawn(load(Arc::clone(&sim), bot.address.clone(), Arc::clone(&stop)))).collect();
    let mut acknowledged = Vec::new();
    for _ in 0..30 {
        let delivery = sim.message("hello").post(&url).await.expect("answers");
        assert_acknowledged(&delivery);
        acknowledged.push(delivery.callback.msg_id);
    }
    let out = tempfile::tempdir().expect("a temporary directory");
    let copy = out.path().join("dingmeet-backup.sqlite3");
    let mut reports = Vec::new();
    for _ in 0..3 {
        reports.push(backup(dir.path(), &copy).await);
    }
    stop.store(true, Ordering::Relaxed);
    let mut under_load = 0;
    for loader in loaders {
        under_load += loader.await.expect("the load ran");
    }
    assert!(under_load > 0, "the backups ran while messages arrived");
    assert!(reports.iter().all(|report| report.contains("backed up")), "{reports:?}");
    for msg_id in &acknowledged {
        assert!(journaled(&copy, msg_id), "{msg_id}, acknowledged before the backup, is in it");
    }

    drop(bot);
    let restored = data_dir();
    std::fs::copy(&copy, restored.path().join("dingmeet.sqlite3")).expect("put back");
    let store = StateStore::open(restored.path(), StateOptions::default()).await.expect("the copy opens as a store");
    let conversation = &switched.callback.conversation_id;
    assert_eq!(store.settings().get(conversation, "lang").await.as_deref(), Some("en"), "what the bot was told");
    drop(store);
    // And the bot starts on it.
    let vars = env(&sim, &[("DINGMEET_DATA_DIR", &restored.path().display().to_string())]);
    drop(BotProcess::start(&vars).await);
}

#[tokio::test]
async fn a_backup_with_no_store_says_which_directory_to_set() {
    let dir = data_dir();
    let output = run_backup(dir.path(), &dir.path().join("copy.sqlite3")).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DINGMEET_DATA_DIR"), "{stderr}");
}
