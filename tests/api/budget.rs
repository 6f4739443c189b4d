//! The monthly OpenAPI budget across replicas: with one Redis, each replica's calls are added up
//! there, so every replica paces its background work by all of them; without Redis each counts
//! its own.

use std::sync::Arc;
use std::time::Duration;

use dingmeet::bot::budget::Budget;
use dingmeet::dingtalk::openapi::call_purpose::{CallCounter, Purpose};
use dingmeet::readiness::Readiness;
use dingmeet::state::StateStore;
use dingmeet::telemetry::Metrics;
use secrecy::SecretString;

use crate::helpers::WAIT;
use crate::redis_server::RedisServer;

fn budget(state: &StateStore) -> Budget {
    Budget::new(100, dingmeet::clock::system(), state, Arc::new(Metrics::new()))
}

async fn replica(url: &str) -> StateStore {
    StateStore::redis(&SecretString::from(url.to_owned()), Default::default(), Readiness::new())
        .await
        .expect("a usable Redis URL")
}

/// Shares `budget`'s counts until it sees `used` calls of `corp`.
async fn shared_until(budget: &Budget, corp: &str, used: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        budget.persist().await;
        if budget.used(corp) == used {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} calls counted, not {used}", budget.used(corp));
    }
}

#[tokio::test]
async fn replicas_on_one_redis_count_each_others_calls() {
    let redis = RedisServer::start();
    let (a, b) = (budget(&replica(&redis.url()).await), budget(&replica(&redis.url()).await));
    for _ in 0..3 {
        a.record_call("corp", "conference_infos", Purpose::Query);
    }
    b.record_call("corp", "card_update", Purpose::Refresh);
    b.record_call("other", "card_update", Purpose::Refresh);

    shared_until(&a, "corp", 3).await;
    shared_until(&b, "corp", 4).await;
    shared_until(&a, "corp", 4).await;
    assert_eq!((a.left("corp"), b.left("other")), (96, 99), "per organisation, every replica's calls");

    let alone = budget(&StateStore::memory(Duration::from_secs(60)));
    alone.record_call("corp", "conference_infos", Purpose::Query);
    alone.persist().await;
    assert_eq!(alone.used("corp"), 1, "without Redis a replica counts its own");
}
