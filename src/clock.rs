//! The clock background work reads: the wall clock in a deployment; in tests and the sandbox
//! the simulator's clock, so a week of reminders runs in moments and no test sleeps.

use std::sync::Arc;
use std::time::Duration;

/// What time it is, and how often to look again when the time can jump.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the epoch, as DingTalk counts time.
    fn now_ms(&self) -> i64;

    /// The longest real pause between two looks at work that may have come due. A clock that
    /// only moves with the wall clock can sleep until the next due time (up to this); one a
    /// person or a test moves must be looked at often.
    fn poll(&self) -> Duration;
}

/// A clock to share.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::dingtalk::reply::now_ms()
    }

    fn poll(&self) -> Duration {
        // Long: the scheduler also wakes for every new registration and at each due time.
        Duration::from_secs(60)
    }
}

/// The wall clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now_ms())
    }
}
