//! Shared state in a Redis that speaks TLS only (`rediss://`, as managed Redis services require):
//! replicas share it as they share a plain one; a certificate the bot does not trust, or a Redis
//! without TLS, leaves the bot degraded (still ready, messages refused until Redis answers), and saying what to check;
//! TLS settings that can never work stop it at start.

use std::path::PathBuf;

use dingmeet::readiness::{self, Readiness};
use dingmeet::state::{Backend, StateError, StateOptions, StateStore};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::process::BotProcess;
use crate::helpers::test_settings;
use crate::redis_server::{RedisServer, TestCa};
use crate::replicas::{simulator, two_ready_replicas_answer_once};

/// Opens a store on `url` trusting `ca_file`; returns it with the Redis readiness check's reason
/// (`None` while ready).
async fn open(url: &str, ca_file: Option<PathBuf>) -> (StateStore, Option<String>) {
    let readiness = Readiness::new();
    let options = StateOptions { redis_ca_file: ca_file, ..StateOptions::default() };
    let store = StateStore::redis(&SecretString::from(url.to_owned()), options, readiness.clone())
        .await
        .expect("settings that can work");
    let check = readiness.snapshot().get(readiness::REDIS).cloned().expect("the redis check is registered");
    (store, check.reason().map(str::to_owned))
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("JSON ({err}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_bots_sharing_a_tls_redis_answer_a_message_delivered_to_both_exactly_once() {
    let redis = RedisServer::start_tls();
    let (url, ca) = (redis.url(), redis.ca_file());
    assert!(url.starts_with("rediss://"), "{url}");
    // Trust through the setting, not SSL_CERT_FILE: these bots share the test process (and its
    // environment) with tests running in parallel.
    let settings = [("DINGMEET_REDIS_URL", url.as_str()), ("DINGMEET_REDIS_CA_FILE", ca.to_str().expect("UTF-8"))];
    two_ready_replicas_answer_once(&settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_trusts_a_tls_redis_through_the_system_roots() {
    let redis = RedisServer::start_tls_with_password("redis-tls-pass-31d0");
    let sim = simulator().await;
    let mut env = sim.bot_env();
    env.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    env.push(("DINGMEET_REDIS_URL".to_owned(), redis.url()));
    // The system roots as rustls-native-certs reads them: SSL_CERT_FILE replaces the OS bundle.
    env.push(("SSL_CERT_FILE".to_owned(), redis.ca_file().display().to_string()));
    let mut bot = BotProcess::start(&env).await;

    let line = bot.wait_for_line(|line| line.contains("shared state in Redis")).await;
    let line = parse(&line);
    assert_eq!((&line["redis"], &line["tls"]), (&json!(format!("127.0.0.1:{}/0", redis.port())), &json!(true)));
    let (status, body) = get(&bot, "/readyz").await;
    assert!(status == 200 && body.contains(r#""redis":{"ok":true}"#), "{status} {body}");

    bot.terminate();
    assert!(bot.wait_for_exit().await.success());
    let output = bot.output().join("\n");
    assert!(!output.contains("redis-tls-pass-31d0"), "the password reached the logs:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_the_bot_does_not_trust_leaves_it_degraded_and_saying_why() {
    let redis = RedisServer::start_tls_with_password("redis-tls-pass-8e4c");
    let stranger = TestCa::new();
    let sim = simulator().await;
    let mut env = sim.bot_env();
    env.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    env.push(("DINGMEET_REDIS_URL".to_owned(), redis.url()));
    // Roots that cannot include the server's CA, whatever this machine's bundle holds.
    env.push(("SSL_CERT_FILE".to_owned(), stranger.cert_file().display().to_string()));
    let mut bot = BotProcess::start(&env).await;

    let delivery = sim.message("/meeting 123456789").post(&format!("{}/dingtalk/callback", bot.address)).await;
    assert_eq!(delivery.expect("the bot answers").status, 503, "not acknowledged without the shared check");

    let (status, body) = get(&bot, "/readyz").await;
    assert_eq!((status, &parse(&body)["status"]), (200, &json!("degraded")), "{body}");
    let reason = parse(&body)["checks"]["redis"]["reason"].as_str().map(str::to_owned).expect("a reason");
    assert!(reason.starts_with(&format!("Redis at 127.0.0.1:{}/0 unavailable", redis.port())), "{reason}");
    assert!(reason.contains("invalid peer certificate: UnknownIssuer"), "{reason}");
    assert!(reason.contains("messages are refused until it answers"), "{reason}");

    let line = bot.wait_for_line(|line| line.contains("Redis unavailable at start")).await;
    let line = parse(&line);
    assert_eq!(line["level"], "WARN", "{line}");
    let why = line["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("UnknownIssuer")
            && why.contains("not trusted: set DINGMEET_REDIS_CA_FILE to the CA that signed it"),
        "{line}"
    );

    bot.terminate();
    assert!(bot.wait_for_exit().await.success());
    let output = bot.output().join("\n");
    assert!(!output.contains("redis-tls-pass-8e4c") && !body.contains("redis-tls-pass-8e4c"), "{output}\n{body}");
}

#[tokio::test]
async fn a_wrong_ca_or_tls_on_one_side_only_means_local_state_and_a_reason_that_says_what_to_check() {
    let tls = RedisServer::start_tls();
    let plain = RedisServer::start();
    let stranger = TestCa::new();

    let (store, reason) = open(&tls.url(), Some(tls.ca_file())).await;
    assert_eq!((store.backend(), reason), (Backend::Redis, None), "the right CA file is trusted");
    assert!(store.dedupe().first_seen("msg-over-tls").await && !store.dedupe().first_seen("msg-over-tls").await);

    let (store, reason) = open(&tls.url(), Some(stranger.cert_file())).await;
    let reason = reason.expect("not ready with a CA that did not sign the server's certificate");
    assert_eq!(store.backend(), Backend::LocalFallback);
    assert!(reason.contains("UnknownIssuer; the Redis server's TLS certificate is not trusted"), "{reason}");

    let (store, reason) = open(&plain.url().replacen("redis://", "rediss://", 1), None).await;
    let reason = reason.expect("not ready against a Redis without TLS");
    assert_eq!(store.backend(), Backend::LocalFallback);
    assert!(reason.contains("is TLS enabled on that port? For a Redis without TLS, use redis://"), "{reason}");

    let (store, reason) = open(&tls.url().replacen("rediss://", "redis://", 1), None).await;
    let reason = reason.expect("not ready when talking plain to a TLS-only Redis");
    assert_eq!(store.backend(), Backend::LocalFallback);
    assert!(reason.contains("if that Redis accepts TLS only, use rediss://"), "{reason}");

    // Local state still answers, as with any unreachable Redis.
    assert!(store.dedupe().first_seen("msg-local").await && !store.dedupe().first_seen("msg-local").await);
}

#[tokio::test]
async fn tls_settings_that_can_never_work_stop_the_bot_at_start_naming_the_setting() {
    let tls = RedisServer::start_tls_with_password("hunter2");
    let plain = RedisServer::start_with_password("hunter2");
    let sim = simulator().await;
    let not_pem = std::env::temp_dir().join(format!("dingmeet-not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&not_pem, "not a certificate\n").expect("write");
    let ca = tls.ca_file().display().to_string();
    let insecure = format!("{}#insecure", tls.url());
    let missing = "/nonexistent/redis-ca.pem".to_owned();
    let not_pem_path = not_pem.display().to_string();
    let cases = [
        (plain.url(), Some(&ca), "DINGMEET_REDIS_CA_FILE", "set, but DINGMEET_REDIS_URL is redis:// (no TLS)"),
        (tls.url(), Some(&missing), "DINGMEET_REDIS_CA_FILE /nonexistent/redis-ca.pem", "cannot be read"),
        (tls.url(), Some(&not_pem_path), "DINGMEET_REDIS_CA_FILE", "holds no PEM certificate"),
        (insecure, None, "DINGMEET_REDIS_URL is not a usable Redis URL", "#insecure is not supported"),
    ];
    let data_dir = crate::helpers::data_dir();
    let data_dir = data_dir.path().display().to_string();
    for (url, ca_file, setting, problem) in cases {
        let mut settings = vec![("DINGMEET_REDIS_URL", url.as_str()), ("DINGMEET_DATA_DIR", data_dir.as_str())];
        settings.extend(ca_file.map(|path| ("DINGMEET_REDIS_CA_FILE", path.as_str())));
        let settings = test_settings(&sim, &settings);
        let err = dingmeet::app::open_state(&settings, &Readiness::new()).await.expect_err("refused at start");
        assert!(matches!(err, StateError::BadRedisCa { .. } | StateError::BadRedisUrl(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with(setting) && text.contains(problem) && !text.contains("hunter2"), "{text}");
    }
    let _ = std::fs::remove_file(not_pem);
}

async fn get(bot: &BotProcess, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}{path}", bot.address)).await.expect("the bot answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}
