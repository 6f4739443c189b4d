//! Missed pushes: with HTTP pushes configured, what DingTalk could not deliver (after its
//! retries, 10 s and 30 s) is read from its failed-push list at start and a while after the
//! push route was found to have been unreachable (a push that came late, one the bot could not
//! record, a conference's events skipping a number), and taken in as if it had just been pushed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{MeetingEvents, Transport, ms};
use crate::dingtalk::failed_pushes;
use crate::dingtalk::meeting_event::{from_http, is_meeting_event};

/// DingTalk lists a push 3–5 minutes after its last retry.
const LISTED_AFTER: Duration = Duration::from_secs(5 * 60);
/// A push this much older than now was a retry: the route had missed it at first.
const RETRIED_AFTER: Duration = Duration::from_secs(10);

impl MeetingEvents {
    /// Plans a read of the failed-push list once DingTalk will have listed what was missed
    /// around `now` (an earlier plan stands).
    pub(super) fn plan_catch_up(&self, now: i64) {
        if !self.http {
            return;
        }
        let at = now.saturating_add(ms(LISTED_AFTER));
        let _ = self
            .catch_up_at
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |planned| (planned == 0 || planned > at).then_some(at));
    }

    /// An HTTP push made at `pushed_ms` (its `EventTime`) arrived: one that old was a retry, so
    /// the route was unreachable a while and other pushes may have been given up on.
    pub fn pushed_at(&self, pushed_ms: Option<i64>) {
        let now = self.clock.now_ms();
        if pushed_ms.is_some_and(|at| now.saturating_sub(at) >= ms(RETRIED_AFTER)) {
            self.plan_catch_up(now);
        }
    }

    pub(super) fn catch_up_due(&self) -> bool {
        let planned = self.catch_up_at.load(Ordering::Acquire);
        planned != 0 && planned <= self.clock.now_ms()
    }

    /// Reads the failed-push list and takes in the meeting events on it.
    pub async fn catch_up(&self) {
        self.catch_up_at.store(0, Ordering::Release);
        let pushes = match failed_pushes::take_all(&self.api, None).await {
            Ok(pushes) => pushes,
            Err(err) => {
                self.metrics.meeting_events().catch_up("failed");
                tracing::warn!(%err, "the failed-push list could not be read; events DingTalk could not push stay missed");
                return;
            }
        };
        self.metrics.meeting_events().catch_up("ok");
        let mut taken = 0;
        for push in pushes {
            let parsed = from_http(&push.body);
            let event_type = match &parsed {
                Ok((Some(event_type), _)) => event_type.clone(),
                _ => push.tag.clone().unwrap_or_default(),
            };
            if !is_meeting_event(&event_type) {
                continue;
            }
            taken += 1;
            let events = parsed.map(|(_, events)| events);
            if !self.receive(Transport::FailedList, &event_type, events).await {
                tracing::warn!(event_type, "a missed meeting event could not be recorded and is lost");
            }
        }
        tracing::info!(events = taken, "the failed-push list was read");
    }
}
