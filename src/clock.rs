//! The clock background work reads: the wall clock in a deployment; in tests and the sandbox
//! the simulator's clock, so a week of reminders runs in moments and no test sleeps.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
        now_ms()
    }

    fn poll(&self) -> Duration {
        // Long: the scheduler also wakes for every new registration and at each due time.
        Duration::from_secs(60)
    }
}

/// Milliseconds since the epoch by the wall clock, as DingTalk counts time (signatures, webhook
/// expiry and what must survive a restart read this; background work reads a [`Clock`]).
pub fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}

/// `at` in milliseconds since the epoch (0 before it, saturating far after it).
pub fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
