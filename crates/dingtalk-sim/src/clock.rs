//! The simulator's clock: real time by default; tests can freeze, set and advance it.
//!
//! Everything the simulator dates (tokens, sessions, `createAt`, callback timestamps, meeting
//! times) reads this clock, so a test can age a token or a session without waiting.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Wall-clock time plus an offset (changed by [`SimClock::advance`]).
    Real { offset_ms: i64 },
    /// Stands still at this instant until set or advanced.
    Frozen { at_ms: i64 },
}

/// A shared, controllable clock in milliseconds since the epoch (DingTalk's unit).
/// Clones share one clock.
#[derive(Debug, Clone)]
pub struct SimClock {
    mode: Arc<Mutex<Mode>>,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::real()
    }
}

impl SimClock {
    /// Follows the wall clock.
    pub fn real() -> Self {
        Self { mode: Arc::new(Mutex::new(Mode::Real { offset_ms: 0 })) }
    }

    /// Stands still at `at_ms` until set or advanced.
    pub fn frozen(at_ms: i64) -> Self {
        Self { mode: Arc::new(Mutex::new(Mode::Frozen { at_ms })) }
    }

    fn lock(&self) -> MutexGuard<'_, Mode> {
        // A panic elsewhere while holding this lock cannot leave a half-written `Mode`.
        self.mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        match *self.lock() {
            Mode::Real { offset_ms } => wall_ms().saturating_add(offset_ms),
            Mode::Frozen { at_ms } => at_ms,
        }
    }

    /// Moves the clock forward (it keeps running if it was running).
    pub fn advance(&self, by: Duration) {
        let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Real { offset_ms } => Mode::Real { offset_ms: offset_ms.saturating_add(by_ms) },
            Mode::Frozen { at_ms } => Mode::Frozen { at_ms: at_ms.saturating_add(by_ms) },
        };
    }

    /// Stops the clock at `at_ms`.
    pub fn set_ms(&self, at_ms: i64) {
        *self.lock() = Mode::Frozen { at_ms };
    }

    /// Stops the clock where it is now.
    pub fn freeze(&self) {
        let now = self.now_ms();
        self.set_ms(now);
    }

    /// Lets the clock run again from where it stands.
    pub fn resume(&self) {
        let now = self.now_ms();
        *self.lock() = Mode::Real { offset_ms: now.saturating_sub(wall_ms()) };
    }
}

fn wall_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_stands_still_until_advanced() {
        let clock = SimClock::frozen(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(90 * 60));
        assert_eq!(clock.now_ms(), 1_000 + 5_400_000);
        clock.set_ms(7);
        assert_eq!(clock.now_ms(), 7);
    }

    #[test]
    fn a_real_clock_follows_the_wall_clock_plus_what_it_was_advanced() {
        let clock = SimClock::real();
        let before = wall_ms();
        clock.advance(Duration::from_secs(3600));
        let now = clock.now_ms();
        assert!(now >= before + 3_600_000 && now <= wall_ms() + 3_600_000);
    }

    #[test]
    fn clones_share_one_clock() {
        let clock = SimClock::frozen(0);
        let other = clock.clone();
        other.advance(Duration::from_millis(5));
        assert_eq!(clock.now_ms(), 5);
    }

    #[test]
    fn resuming_keeps_the_time_it_was_frozen_at() {
        let clock = SimClock::frozen(1_000);
        clock.resume();
        let now = clock.now_ms();
        assert!((1_000..1_000 + 60_000).contains(&now), "{now}");
    }
}
