//! `dingmeet doctor` through the real binary against the simulator: every check passes on the
//! builtin scenario; each missing permission, an unpublished card template
//! and bad credentials fail it (exit 1) with the scope or the setting named and the fix; a
//! settings error is exit 2; no secret is ever printed.

use std::path::Path;

use dingtalk_sim::{CardRefusal, Simulator};

use crate::helpers::data_dir;
use crate::process::simulator;
use crate::redis_server::RedisServer;

/// What one run printed and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `dingmeet doctor --plain` with `sim`'s settings, a fresh data directory, and `extra`.
async fn doctor(sim: &Simulator, dir: &Path, extra: &[(&str, &str)]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dingmeet"));
    command.arg("doctor").arg("--plain");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("DINGMEET_")) {
        command.env_remove(name);
    }
    command.envs(sim.bot_env()).env("DINGMEET_DATA_DIR", dir);
    command.envs(extra.iter().copied());
    let output = tokio::task::spawn_blocking(move || command.output()).await.expect("joined").expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The secrets of `sim` that must never be printed.
fn assert_no_secret(sim: &Simulator, run: &Run) {
    let text = run.text();
    assert!(!text.contains(sim.client_secret()), "the client secret was printed:\n{text}");
    for token in sim.tokens().issued_texts() {
        assert!(!text.contains(&token), "an access token was printed:\n{text}");
    }
}

/// The line of check `name`.
fn line<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|line| line.split_once(' ').is_some_and(|(_, rest)| rest.trim_start().starts_with(name)))
        .unwrap_or_else(|| panic!("no {name:?} line in:\n{}", run.text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_builtin_scenario_every_check_passes_in_http_and_stream_mode() {
    let sim = simulator().await;
    let dir = data_dir();
    let run = doctor(&sim, dir.path(), &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.text());
    for name in ["credentials", "conference read", "robot send", "card write", "card template", "store"] {
        assert!(line(&run, name).starts_with("[ok]"), "{name}:\n{}", run.text());
    }
    assert!(line(&run, "public url").contains("DINGMEET_PUBLIC_URL not set"), "{}", run.text());
    assert!(run.stdout.ends_with("everything dingmeet needs with these settings is in place\n"), "{}", run.stdout);
    assert!(sim.records().webhook_posts.is_empty() && sim.records().openapi_sends.iter().all(|s| s.status != 200));
    assert_no_secret(&sim, &run);

    let stream = doctor(&sim, dir.path(), &[("DINGMEET_MODE", "stream")]).await;
    assert_eq!(stream.code, Some(0), "{}", stream.text());
    assert!(line(&stream, "stream").starts_with("[ok]"), "{}", stream.text());
    assert!(!stream.stdout.contains("ticket="), "{}", stream.stdout);
    assert_no_secret(&sim, &stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_permission_fails_with_its_scope_and_who_grants_it() {
    type Refuse = fn(&Simulator);
    let cases: [(&str, &str, Refuse); 3] = [
        ("conference read", "VideoConference.Conference.Read", |sim| {
            sim.orgs().set_conference_read(sim.home_corp(), false);
        }),
        ("robot send", "qyapi_robot_sendmsg", |sim| sim.orgs().set_robot_send(sim.home_corp(), false)),
        ("card write", "Card.Instance.Write", |sim| {
            sim.cards().refuse(sim.home_corp(), Some(CardRefusal::NoPermission));
        }),
    ];
    for (name, scope, refuse) in cases {
        let sim = simulator().await;
        refuse(&sim);
        let dir = data_dir();
        let run = doctor(&sim, dir.path(), &[]).await;
        assert_eq!(run.code, Some(1), "{name}: {}", run.text());
        let failed = line(&run, name);
        assert!(failed.starts_with("[FAIL]") && failed.contains(scope), "{name}: {}", run.text());
        assert!(run.stdout.contains(&format!("fix: {scope}: an administrator grants it")), "{}", run.stdout);
        assert_no_secret(&sim, &run);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpublished_template_is_named_and_markdown_answers_need_no_card_check() {
    let sim = simulator().await;
    sim.cards().refuse(sim.home_corp(), Some(CardRefusal::TemplateUnpublished));
    let dir = data_dir();
    let run = doctor(&sim, dir.path(), &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(line(&run, "card write").contains("not published"), "{}", run.text());

    let markdown = doctor(&sim, dir.path(), &[("DINGMEET_CARDS", "markdown")]).await;
    assert_eq!(markdown.code, Some(0), "cards off, no card check: {}", markdown.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_fail_with_the_fix_and_no_secret() {
    let sim = simulator().await;
    let dir = data_dir();
    let wrong = "wrong-secret-5f0a";
    let run = doctor(&sim, dir.path(), &[("DINGMEET_CLIENT_SECRET", wrong)]).await;
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(line(&run, "credentials").starts_with("[FAIL]"), "{}", run.text());
    assert!(run.stdout.contains("fix: set DINGMEET_CLIENT_ID"), "{}", run.stdout);
    assert!(!run.text().contains(wrong), "{}", run.text());
    assert_no_secret(&sim, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_error_is_exit_2_and_a_store_in_use_is_not_a_failure() {
    let sim = simulator().await;
    let dir = data_dir();
    let bad = doctor(&sim, dir.path(), &[("DINGMEET_MODE", "carrier-pigeon")]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.text());
    assert!(bad.stderr.contains("the settings do not load"), "{}", bad.text());

    let held = dingmeet::state::SqliteStore::open(
        dir.path(),
        dingmeet::state::Retention {
            dedupe: std::time::Duration::from_secs(60),
            sends: std::time::Duration::from_secs(60),
        },
    )
    .expect("the store opens");
    let run = doctor(&sim, dir.path(), &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(line(&run, "store").contains("in use by a running dingmeet"), "{}", run.text());
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_the_public_url_are_asked_when_set_and_the_redis_password_is_not_printed() {
    let sim = simulator().await;
    let dir = data_dir();
    let password = "doctor-redis-pass-91c4";
    let redis = RedisServer::start_with_password(password);
    let url = redis.url();
    let run = doctor(&sim, dir.path(), &[("DINGMEET_REDIS_URL", &url)]).await;
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(line(&run, "redis").starts_with("[ok]"), "{}", run.text());
    assert!(!run.text().contains(password), "{}", run.text());

    let nowhere = format!("redis://:{password}@127.0.0.1:{}", RedisServer::unused_port());
    let closed = format!("http://127.0.0.1:{}", RedisServer::unused_port());
    let run = doctor(&sim, dir.path(), &[("DINGMEET_REDIS_URL", &nowhere), ("DINGMEET_PUBLIC_URL", &closed)]).await;
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(line(&run, "redis").starts_with("[FAIL]"), "{}", run.text());
    assert!(line(&run, "public url").starts_with("[FAIL]"), "{}", run.text());
    assert!(run.stdout.contains("fix: start `dingmeet serve`"), "{}", run.stdout);
    assert!(!run.text().contains(password), "{}", run.text());
}
