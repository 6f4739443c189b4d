//! The bot's clock for scheduled work (live cards, the budget's window): the wall clock in
//! service, a test's or benchmark's clock (the simulator's) when one is injected.

use std::sync::Arc;

/// Milliseconds since the epoch, as DingTalk counts time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

impl<F: Fn() -> i64 + Send + Sync> Clock for F {
    fn now_ms(&self) -> i64 {
        self()
    }
}

/// The wall clock.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(crate::dingtalk::reply::now_ms)
}
