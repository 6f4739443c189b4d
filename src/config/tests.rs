//! Loading settings: defaults, the environment over the file, typed values, and what never prints.

use super::*;
use secrecy::ExposeSecret;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn defaults_match_the_documented_contract() {
    let s = Settings::load_from(None, env(&[])).expect("loads");
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(s.dingtalk.api_base, "https://api.dingtalk.com");
    assert_eq!(s.dingtalk.oapi_base, "https://oapi.dingtalk.com");
    assert_eq!(s.dingtalk.webhook_hosts, ["oapi.dingtalk.com", "api.dingtalk.com"]);
    assert_eq!(s.answers.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!((s.answers.lang, s.server.sign_window, s.dingtalk.timeout), (Lang::Zh, secs(3600), ms(5000)));
    assert!(s.state.redis_url.is_none() && s.state.redis_ca_file.is_none());
    assert_eq!(s.state.redis_key_prefix, "dingmeet:");
    assert_eq!(
        (s.state.rate_limit_per_minute, s.state.rate_limit_wait, s.server.shutdown_grace),
        (18, secs(30), secs(10))
    );
    assert_eq!(s.dingtalk.circuit_breaker, Policy::default());
    assert_eq!((s.dingtalk.circuit_breaker.failures, s.dingtalk.circuit_breaker.cool_down), (5, ms(30_000)));
    assert_eq!((s.dingtalk.cache_ttl, s.state.dedupe_ttl), (secs(30), secs(600)));
    assert_eq!((s.server.mode, s.server.log_format, s.app.app_type), (Mode::Http, LogFormat::Text, AppType::Internal));
    assert_eq!(s.app.corp_token_route, CorpTokenRoute::Unified);
    assert_eq!(
        s.stream,
        StreamSettings {
            backoff_initial: secs(1),
            backoff_max: secs(60),
            ping_interval: secs(30),
            pong_timeout: secs(10)
        }
    );
}

#[test]
fn circuit_breaker_settings_are_read_from_the_environment() {
    let vars = env(&[("DINGMEET_CIRCUIT_FAILURES", "0"), ("DINGMEET_CIRCUIT_COOLDOWN_MS", "250")]);
    let s = Settings::load_from(None, vars).expect("loads");
    let policy = s.dingtalk.circuit_breaker;
    assert_eq!((policy.failures, policy.cool_down), (0, Duration::from_millis(250)));
}

#[test]
fn redis_rate_limit_and_shutdown_settings_are_read_from_the_environment() {
    let s = Settings::load_from(
        None,
        env(&[
            ("DINGMEET_REDIS_URL", "redis://:pw@127.0.0.1:6390/2"),
            ("DINGMEET_REDIS_KEY_PREFIX", "bot2:"),
            ("DINGMEET_REDIS_CA_FILE", "/etc/dingmeet/redis-ca.pem"),
            ("DINGMEET_RATE_LIMIT_PER_MINUTE", "10"),
            ("DINGMEET_RATE_LIMIT_WAIT_SECS", "5"),
            ("DINGMEET_SHUTDOWN_GRACE_SECS", "3"),
        ]),
    )
    .expect("loads");
    assert_eq!(s.state.redis_url.as_ref().map(|u| u.expose_secret()), Some("redis://:pw@127.0.0.1:6390/2"));
    assert_eq!(s.state.redis_key_prefix, "bot2:");
    assert_eq!(s.state.redis_ca_file.as_deref(), Some(Path::new("/etc/dingmeet/redis-ca.pem")));
    assert_eq!((s.state.rate_limit_per_minute, s.state.rate_limit_wait), (10, secs(5)));
    assert_eq!(s.server.shutdown_grace, secs(3));
    let blank =
        Settings::load_from(None, env(&[("DINGMEET_REDIS_URL", " "), ("DINGMEET_REDIS_CA_FILE", " ")])).expect("loads");
    assert!(blank.state.redis_url.is_none(), "a blank URL means no Redis");
    assert!(blank.state.redis_ca_file.is_none(), "a blank CA file means the system roots");
}

#[test]
fn environment_variables_are_read_as_text_whatever_they_look_like() {
    let s = Settings::load_from(
        None,
        env(&[
            ("DINGMEET_CLIENT_ID", "12345"),
            ("DINGMEET_CLIENT_SECRET", "1e5"),
            ("DINGMEET_WEBHOOK_HOSTS", "a.example, 127.0.0.1"),
            ("DINGMEET_LANG", "en"),
            ("DINGMEET_TIMEZONE", "Europe/Berlin"),
            ("DINGMEET_SIGN_WINDOW_SECS", "300"),
            ("DINGMEET_LISTEN", "127.0.0.1:0"),
            ("OTHER", "ignored"),
        ]),
    )
    .expect("loads");
    let (id, secret) = s.credentials().expect("credentials");
    assert_eq!((id.as_str(), secret.expose_secret()), ("12345", "1e5"));
    assert_eq!(s.dingtalk.webhook_hosts, ["a.example", "127.0.0.1"]);
    assert_eq!(
        (s.answers.lang, s.answers.timezone, s.server.sign_window),
        (Lang::En, chrono_tz::Europe::Berlin, secs(300))
    );
}

#[test]
fn the_environment_wins_over_the_file() {
    let dir = std::env::temp_dir().join(format!("dingmeet-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("c.toml");
    std::fs::write(&path, "lang = \"en\"\nsign_window_secs = 60\nwebhook_hosts = [\"x.example\"]\n").expect("write");
    let s = Settings::load_from(Some(&path), env(&[("DINGMEET_LANG", "zh")])).expect("loads");
    assert_eq!((s.answers.lang, s.server.sign_window), (Lang::Zh, secs(60)));
    assert_eq!(s.dingtalk.webhook_hosts, ["x.example"]);
}

#[test]
fn bad_values_name_the_setting() {
    let err = Settings::load_from(None, env(&[("DINGMEET_TIMEZONE", "Mars/Base")])).expect_err("fails");
    assert!(err.to_string().contains("Mars/Base"), "{err}");
    let err = Settings::load_from(None, env(&[("DINGMEET_LISTN", "x")])).expect_err("fails");
    assert!(err.to_string().contains("listn"), "{err}");
}

#[test]
fn the_corp_token_route_is_checked_at_load_and_floors_apply() {
    let err = Settings::load_from(None, env(&[("DINGMEET_CORP_TOKEN_ROUTE", "fast")])).expect_err("fails");
    assert!(err.to_string().contains("corp_token_route \"fast\": use unified or classic"), "{err}");
    let s = Settings::load_from(
        None,
        env(&[
            ("DINGMEET_CORP_TOKEN_ROUTE", " Classic "),
            ("DINGMEET_UPSTREAM_TIMEOUT_MS", "0"),
            ("DINGMEET_DEDUPE_TTL_SECS", "0"),
            ("DINGMEET_STREAM_PING_INTERVAL_MS", "1"),
            ("DINGMEET_STREAM_BACKOFF_INITIAL_MS", "0"),
        ]),
    )
    .expect("loads");
    assert_eq!(s.app.corp_token_route, CorpTokenRoute::Classic);
    assert_eq!((s.dingtalk.timeout, s.state.dedupe_ttl), (ms(1), secs(1)));
    assert_eq!((s.stream.ping_interval, s.stream.backoff_initial), (ms(10), ms(1)));
}

#[test]
fn kubernetes_service_link_variables_are_not_settings() {
    let s = Settings::load_from(
        None,
        env(&[
            ("DINGMEET_SERVICE_HOST", "10.0.0.1"),
            ("DINGMEET_SERVICE_PORT", "80"),
            ("DINGMEET_SERVICE_PORT_HTTP", "80"),
            ("DINGMEET_PORT", "tcp://10.0.0.1:80"),
            ("DINGMEET_PORT_80_TCP_ADDR", "10.0.0.1"),
        ]),
    );
    assert!(s.is_ok(), "{:?}", s.err());
}

#[test]
fn missing_credentials_name_the_variable() {
    let s = Settings::load_from(None, env(&[("DINGMEET_CLIENT_ID", "ding1")])).expect("loads");
    assert!(s.credentials().expect_err("missing").to_string().starts_with("DINGMEET_CLIENT_SECRET is not set"));
    let s = Settings::load_from(None, env(&[])).expect("loads");
    assert!(s.credentials().expect_err("missing").to_string().starts_with("DINGMEET_CLIENT_ID is not set"));
}

#[test]
fn debug_output_hides_secrets() {
    let s = Settings::load_from(
        None,
        env(&[
            ("DINGMEET_CLIENT_SECRET", "very-secret"),
            ("DINGMEET_CALLBACK_SECRETS", "old-secret"),
            ("DINGMEET_REDIS_URL", "redis://:redis-pass@cache:6379"),
            ("DINGMEET_SUITE_TICKET", "ticket-secret"),
            ("DINGMEET_EVENT_TOKEN", "event-token-secret"),
            ("DINGMEET_EVENT_AES_KEY", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"),
        ]),
    )
    .expect("loads");
    let text = format!("{s:?}");
    for secret in ["very-secret", "old-secret", "redis-pass", "ticket-secret", "event-token-secret", "Yue0EfdN59"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("callback_secrets") && text.contains("REDACTED"), "the fields are there: {text}");
}

#[test]
fn the_data_dir_is_the_setting_else_systemds_state_directory_else_beside_the_process() {
    use std::path::PathBuf;
    assert_eq!(raw::data_dir(None, None), PathBuf::from("dingmeet-data"));
    assert_eq!(raw::data_dir(Some(PathBuf::from(" ")), None), PathBuf::from("dingmeet-data"));
    let systemd = Some("/var/lib/dingmeet:/var/lib/other".into());
    assert_eq!(raw::data_dir(None, systemd.clone()), PathBuf::from("/var/lib/dingmeet"));
    assert_eq!(raw::data_dir(Some(PathBuf::from("/srv/dm")), systemd), PathBuf::from("/srv/dm"));
    let s = Settings::load_from(None, env(&[("DINGMEET_JOURNAL", "false"), ("DINGMEET_JOURNAL_CLAIM_SECS", "5")]))
        .expect("loads");
    assert!(!s.state.journal && s.state.journal_claim == Duration::from_secs(5));
    assert!(Settings::load_from(None, env(&[])).expect("loads").state.journal);
}

#[test]
fn card_settings_default_to_live_cards_and_read_their_contract_names() {
    let s = Settings::load_from(None, env(&[])).expect("loads");
    let defaults = CardSettings {
        mode: CardsMode::Interactive,
        template_id: DEFAULT_CARD_TEMPLATE.to_owned(),
        refresh: secs(600),
        member_update: secs(60),
        live: secs(24 * 3600),
        public_url: None,
    };
    assert_eq!((s.cards, s.dingtalk.monthly_call_budget), (defaults, 10_000));
    let s = Settings::load_from(
        None,
        env(&[
            ("DINGMEET_CARDS", "Markdown"),
            ("DINGMEET_CARD_TEMPLATE_ID", "mine.schema"),
            ("DINGMEET_CARD_REFRESH_SECS", "0"),
            ("DINGMEET_CARD_MEMBER_UPDATE_SECS", "5"),
            ("DINGMEET_CARD_LIVE_HOURS", "2"),
            ("DINGMEET_MONTHLY_CALL_BUDGET", "500"),
            ("DINGMEET_PUBLIC_URL", " "),
        ]),
    )
    .expect("loads");
    assert_eq!((s.cards.mode, s.cards.template_id.as_str()), (CardsMode::Markdown, "mine.schema"));
    assert_eq!(
        (s.cards.refresh, s.cards.live, s.cards.public_url),
        (secs(1), secs(7200), None),
        "floored, blank unset"
    );
    assert_eq!(s.dingtalk.monthly_call_budget, 500);
    assert_eq!(s.cards.member_update, secs(5));
    let err = Settings::load_from(None, env(&[("DINGMEET_CARDS", "fancy")])).expect_err("refused");
    assert!(err.to_string().contains("use interactive or markdown"), "{err}");
}

#[test]
fn the_old_style_openapi_base_is_its_own_setting() {
    let s = Settings::load_from(None, env(&[("DINGMEET_OAPI_BASE", "http://127.0.0.1:7001")])).expect("loads");
    assert_eq!(
        (s.dingtalk.oapi_base.as_str(), s.dingtalk.api_base.as_str()),
        ("http://127.0.0.1:7001", "https://api.dingtalk.com")
    );
}

#[test]
fn event_pushes_need_both_the_token_and_a_well_formed_aes_key() {
    let key = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
    let s = Settings::load_from(None, env(&[("DINGMEET_EVENT_TOKEN", "t"), ("DINGMEET_EVENT_AES_KEY", key)]))
        .expect("loads");
    assert!(s.server.events.is_some());
    assert!(Settings::load_from(None, env(&[])).expect("loads").server.events.is_none());
    let err = |vars: &[(&str, &str)]| Settings::load_from(None, env(vars)).expect_err("refused").to_string();
    assert!(err(&[("DINGMEET_EVENT_TOKEN", "t")]).contains("DINGMEET_EVENT_AES_KEY is not"));
    assert!(err(&[("DINGMEET_EVENT_AES_KEY", key)]).contains("DINGMEET_EVENT_TOKEN is not"));
    let short = err(&[("DINGMEET_EVENT_TOKEN", "t"), ("DINGMEET_EVENT_AES_KEY", "abc")]);
    assert!(short.contains("exactly 43") && !short.contains("abc"), "{short}");
}

/// A temporary directory holding `files` (name, content).
fn files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("a secret file");
    }
    dir
}

#[test]
fn every_secret_can_be_read_from_a_file_without_its_trailing_newline() {
    let aes_key = "a".repeat(43);
    let dir = files(&[
        ("client_secret", "from-a-file\n"),
        ("callback_secrets", "old-1, old-2\r\n"),
        ("event_token", "token-7"),
        ("event_aes_key", &format!("{aes_key}\n")),
        ("suite_ticket", "ticket-9\n"),
        ("redis_url", "redis://:pw@127.0.0.1:6390/2\n"),
    ]);
    let path = |name: &str| dir.path().join(name).display().to_string();
    let vars: Vec<(String, String)> = secret_files::SECRET_SETTINGS
        .iter()
        .map(|name| (format!("DINGMEET_{}_FILE", name.to_ascii_uppercase()), path(name)))
        .collect();
    let s = Settings::load_from(None, vars).expect("loads");
    assert_eq!(s.app.client_secret.as_ref().map(|s| s.expose_secret()), Some("from-a-file"));
    let rotated: Vec<&str> = s.server.callback_secrets.iter().map(|s| s.expose_secret()).collect();
    assert_eq!(rotated, ["old-1", "old-2"]);
    let events = s.server.events.as_ref().expect("event pushes");
    assert_eq!((events.token.expose_secret(), events.aes_key.expose_secret()), ("token-7", aes_key.as_str()));
    assert_eq!(s.app.suite_ticket.as_ref().map(|s| s.expose_secret()), Some("ticket-9"));
    assert_eq!(s.state.redis_url.as_ref().map(|u| u.expose_secret()), Some("redis://:pw@127.0.0.1:6390/2"));

    // The same from the TOML file, as `<name>_file`.
    let toml = dir.path().join("dingmeet.toml");
    std::fs::write(&toml, format!("client_secret_file = {:?}\n", path("client_secret"))).expect("a config file");
    let s = Settings::load_from(Some(&toml), env(&[])).expect("loads");
    assert_eq!(s.app.client_secret.as_ref().map(|s| s.expose_secret()), Some("from-a-file"));
}

#[test]
fn a_secret_set_both_ways_is_an_error_naming_both() {
    let dir = files(&[("secret", "from-a-file")]);
    let file = dir.path().join("secret").display().to_string();
    let vars = env(&[("DINGMEET_CLIENT_SECRET", "inline"), ("DINGMEET_CLIENT_SECRET_FILE", &file)]);
    let err = Settings::load_from(None, vars).expect_err("both set").to_string();
    assert!(err.contains("DINGMEET_CLIENT_SECRET and DINGMEET_CLIENT_SECRET_FILE are both set"), "{err}");
    assert!(!err.contains("inline") && !err.contains("from-a-file"), "{err}");
    // A blank value (an environment file's placeholder) is unset: the file is the secret.
    let vars = env(&[("DINGMEET_CLIENT_SECRET", ""), ("DINGMEET_CLIENT_SECRET_FILE", &file)]);
    let s = Settings::load_from(None, vars).expect("loads");
    assert_eq!(s.app.client_secret.as_ref().map(|s| s.expose_secret()), Some("from-a-file"));
}

#[test]
fn an_unreadable_secret_file_is_an_error_naming_the_file_and_never_its_content() {
    let dir = files(&[]);
    let missing = dir.path().join("missing").display().to_string();
    let err = Settings::load_from(None, env(&[("DINGMEET_REDIS_URL_FILE", &missing)])).expect_err("unreadable");
    let text = err.to_string();
    assert!(text.starts_with(&format!("cannot read DINGMEET_REDIS_URL_FILE {missing}: ")), "{text}");
    // A directory reads as an error too; its message has nothing of any file's content.
    let vars = env(&[("DINGMEET_EVENT_TOKEN_FILE", &dir.path().display().to_string())]);
    let err = Settings::load_from(None, vars).expect_err("a directory").to_string();
    assert!(err.contains("DINGMEET_EVENT_TOKEN_FILE"), "{err}");
}

#[test]
fn the_log_format_is_known_before_the_settings_load() {
    let json = Settings::log_format_before_loading(None, env(&[("DINGMEET_LOG_FORMAT", "JSON")]));
    assert_eq!(json, LogFormat::Json);
    assert_eq!(Settings::log_format_before_loading(None, env(&[])), LogFormat::Text);
    let dir = files(&[("dingmeet.toml", "log_format = \"json\"\nno_such_setting = 1\n")]);
    let file = dir.path().join("dingmeet.toml");
    assert_eq!(Settings::log_format_before_loading(Some(&file), env(&[])), LogFormat::Json);
    let text = Settings::log_format_before_loading(Some(&file), env(&[("DINGMEET_LOG_FORMAT", "text")]));
    assert_eq!(text, LogFormat::Text, "the environment wins");
}

#[test]
fn every_secret_setting_can_come_from_a_file() {
    let secrets: Vec<&str> = include_str!("raw.rs")
        .lines()
        .filter_map(|line| {
            let (name, kind) = line.trim().split_once(": ")?;
            (kind.ends_with("SecretString>,") && !name.contains(' ')).then_some(name)
        })
        .collect();
    let mut listed = secret_files::SECRET_SETTINGS.to_vec();
    let mut found = secrets.clone();
    listed.sort_unstable();
    found.sort_unstable();
    assert_eq!(listed, found, "the SecretString settings of raw.rs");
}
