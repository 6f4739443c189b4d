//! The sandbox's time: the bot's background work reads the simulator's clock, which can run
//! fast (a week of reminders in a minute) or jump ahead (the playground's `/api/clock` does both).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dingtalk_sim::SimClock;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

/// The simulator's clock as the bot's clock.
#[derive(Debug, Clone)]
pub struct SimTime(pub SimClock);

impl Clock for SimTime {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }

    fn poll(&self) -> Duration {
        // The clock can jump or run fast: look often.
        Duration::from_millis(50)
    }
}

/// The fastest the playground runs the clock: a week a minute.
pub const MAX_SPEED: u32 = 7 * 24 * 60;
/// The longest one jump ahead.
const MAX_JUMP: Duration = Duration::from_secs(31 * 86_400);
/// How often a fast clock is pushed ahead.
const STEP: Duration = Duration::from_millis(100);

/// How fast the simulated clock runs (1: real time), and the task that runs it.
#[derive(Debug)]
pub struct Speed {
    clock: SimClock,
    speed: AtomicU32,
}

impl Speed {
    /// Starts at real speed; runs until `stop`.
    pub fn start(clock: SimClock, stop: CancellationToken) -> Arc<Self> {
        let speed = Arc::new(Self { clock, speed: AtomicU32::new(1) });
        let runner = Arc::clone(&speed);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(STEP);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let extra = runner.speed.load(Ordering::Relaxed).saturating_sub(1);
                if extra > 0 {
                    runner.clock.advance(STEP * extra);
                }
            }
        });
        speed
    }

    /// Milliseconds since the epoch by the simulated clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// How many times real speed the clock runs.
    pub fn speed(&self) -> u32 {
        self.speed.load(Ordering::Relaxed)
    }

    /// Runs the clock at `speed` times real speed, from 1 to [`MAX_SPEED`].
    pub fn set_speed(&self, speed: u32) -> Result<(), String> {
        if !(1..=MAX_SPEED).contains(&speed) {
            return Err(format!("speed is from 1 (real time) to {MAX_SPEED} (a week a minute)"));
        }
        self.speed.store(speed, Ordering::Relaxed);
        Ok(())
    }

    /// Jumps the clock ahead by `by`, at most a month.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by.min(MAX_JUMP));
    }
}
