//! Reconnect pacing: exponential backoff with jitter, reset by a connection that lived.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::StreamOptions;

/// Counts failures in a row to pace reconnects.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait before the next attempt, counting this failure.
    pub(super) fn next_delay(&mut self, options: &StreamOptions) -> Duration {
        let delay = backoff(options, self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// A connection that outlived the longest wait was healthy: start over. One that dropped
    /// sooner counts as another failure, so a gateway that accepts and hangs up at once is not
    /// hammered.
    pub(super) fn connection_lived(&mut self, lived: Duration, options: &StreamOptions) {
        if lived >= options.backoff_max {
            self.reset();
        }
    }

    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Waits `delay`; false when shutdown came first.
pub(super) async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}

pub(super) fn millis(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}

/// Exponential backoff with full jitter between half and all of the step, capped.
fn backoff(options: &StreamOptions, failures: u32) -> Duration {
    let step = options.backoff_initial.saturating_mul(2u32.saturating_pow(failures.min(16))).min(options.backoff_max);
    let half = step / 2;
    half + Duration::from_millis(fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let options = StreamOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ..StreamOptions::default()
        };
        for failures in 0..40 {
            let delay = backoff(&options, failures);
            assert!(delay <= Duration::from_millis(5001), "{failures}: {delay:?}");
        }
        assert!(backoff(&options, 0) <= Duration::from_millis(101));
        assert!(backoff(&options, 10) >= Duration::from_millis(2500));
    }

    #[test]
    fn connections_that_drop_at_once_keep_backing_off_and_a_healthy_one_starts_over() {
        let options = StreamOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ..StreamOptions::default()
        };
        let mut pacing = Backoff::default();
        for _ in 0..10 {
            pacing.connection_lived(Duration::from_millis(10), &options);
            pacing.next_delay(&options);
        }
        assert!(pacing.next_delay(&options) >= Duration::from_millis(2500), "a flapping gateway is not hammered");
        pacing.connection_lived(Duration::from_secs(5), &options);
        assert!(pacing.next_delay(&options) <= Duration::from_millis(101), "a healthy connection starts over");
    }
}
