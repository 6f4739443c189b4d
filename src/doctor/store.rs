//! The store checks: the data directory writable and its database opening (a running bot's
//! lock on it is said, not counted as a failure), and Redis reachable when it is set.

use std::time::{Duration, Instant};

use super::checklist::Check;
use crate::config::Settings;
use crate::readiness::{CheckState, REDIS, Readiness};
use crate::state::{Retention, SqliteStore, StateStore, StoreError};

/// How long Redis has to answer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between looks at Redis's state while it connects.
const REDIS_POLL: Duration = Duration::from_millis(50);

/// Opens the store of record as `serve` would (creating the directory and database when
/// missing), and closes it again.
pub(super) async fn data_dir(settings: &Settings) -> Check {
    const NAME: &str = "store";
    let dir = settings.state.data_dir.clone();
    let shown = dir.display().to_string();
    let options = crate::app::state_options(settings);
    let retention = Retention { dedupe: options.dedupe_ttl, sends: options.rate_limit.window };
    let opened = tokio::task::spawn_blocking(move || SqliteStore::open(&dir, retention).map(drop)).await;
    match opened {
        Ok(Ok(())) => Check::pass(NAME, format!("DINGMEET_DATA_DIR {shown} is writable and its database opens")),
        Ok(Err(StoreError::InUse { .. })) => Check::note(
            NAME,
            format!("the store in {shown} is in use by a running dingmeet: fine, it opened for that one"),
        ),
        Ok(Err(err)) => {
            let fix = match err {
                StoreError::Directory { .. } => "point DINGMEET_DATA_DIR at a directory this user can write",
                _ => "see the message: restore a backup, or point DINGMEET_DATA_DIR elsewhere",
            };
            Check::fail(NAME, err.to_string(), fix)
        }
        Err(err) => Check::fail(NAME, format!("the check stopped: {err}"), "run it again"),
    }
}

/// Connects to `DINGMEET_REDIS_URL` as `serve` would and waits for it to answer.
pub(super) async fn redis(settings: &Settings) -> Check {
    const NAME: &str = "redis";
    let Some(url) = &settings.state.redis_url else {
        return Check::note(NAME, "DINGMEET_REDIS_URL not set: one replica, its state on this machine");
    };
    let readiness = Readiness::new();
    let options = crate::app::state_options(settings);
    let connected = StateStore::memory_with(options).with_redis(url, readiness.clone()).await;
    let _store = match connected {
        Ok(store) => store,
        Err(err) => {
            return Check::fail(NAME, err.to_string(), "fix DINGMEET_REDIS_URL (redis://host:6379 or rediss://…)");
        }
    };
    let deadline = Instant::now() + REDIS_TIMEOUT;
    loop {
        let state = readiness.snapshot().get(REDIS).cloned();
        match state {
            Some(CheckState::Pass) => return Check::pass(NAME, "DINGMEET_REDIS_URL answers"),
            Some(other) if Instant::now() >= deadline => {
                let reason = other.reason().unwrap_or("no answer").to_owned();
                return Check::fail(
                    NAME,
                    format!("Redis does not answer: {reason}"),
                    "start Redis or fix DINGMEET_REDIS_URL (host, port, password, TLS and DINGMEET_REDIS_CA_FILE)",
                );
            }
            None if Instant::now() >= deadline => {
                return Check::fail(
                    NAME,
                    format!("Redis did not answer within {} s", REDIS_TIMEOUT.as_secs()),
                    "start Redis or fix DINGMEET_REDIS_URL (host, port, password, TLS and DINGMEET_REDIS_CA_FILE)",
                );
            }
            _ => tokio::time::sleep(REDIS_POLL).await,
        }
    }
}
