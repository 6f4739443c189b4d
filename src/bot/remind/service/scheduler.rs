//! The scheduler that sends the reminders: due records are looked up again shortly before their
//! time, claimed (one replica sends each), marked as being sent in the store before the send and
//! done after it, so a reminder is never sent twice.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Reminders;
use crate::bot::remind::plan::{Conversation, Outcome, Reminder, Stage};
use crate::bot::remind::{CLAIM_TTL_MS, SENT_TTL_MS, card};
use crate::dingtalk::openapi::ApiError;
use crate::dingtalk::openapi::call_purpose::{self, Purpose};
use crate::dingtalk::reply::ReplyError;
use crate::lang::Lang;
use crate::state::{Claim, SharedRegistry};

/// After DingTalk refused a reminder for want of the send permission, how long `/remind` in
/// that organisation is refused at once (the permission may be granted meanwhile).
const NO_PERMISSION_MEMORY_MS: i64 = 60 * 60_000;

/// A claim's life, from its milliseconds.
fn lease(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(1).max(1))
}

impl Reminders {
    /// Whether a background look-up for `corp` may be spent now. The hook for the monthly
    /// call budget: a refreshing look-up may be skipped for it, a reminder whose meeting is
    /// known never is.
    fn may_refresh(&self, corp: Option<&str>) -> bool {
        self.budget.as_ref().is_none_or(|budget| budget.may_spend_background(corp.unwrap_or_default()))
    }

    /// Runs the scheduler until `stop`: a pass over what is due, then a pause until the next
    /// due time (or a new reminder, or the clock's poll).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if self.book.is_none() {
            return;
        }
        let mut first = true;
        loop {
            let sent = self.tick().await;
            if first {
                tracing::info!(sent, "reminder scheduler started");
                first = false;
            }
            let pause = self.pause().await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// How long to wait before the next pass: until the soonest due time, within the clock's
    /// poll, and never so short that a reminder another replica holds is asked about in a loop.
    async fn pause(&self) -> Duration {
        let poll = self.clock.poll();
        let floor = poll.min(Duration::from_secs(1));
        let now = self.clock.now_ms();
        let horizon = now.saturating_add(i64::try_from(poll.as_millis()).unwrap_or(i64::MAX));
        let Some(book) = &self.book else { return poll };
        match book.next_due(horizon).await {
            Some(due) => Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0)).clamp(floor, poll),
            None => poll,
        }
    }

    /// One pass: every conversation with something due is looked at. Returns how many
    /// reminders went out.
    pub async fn tick(&self) -> usize {
        let Some(book) = &self.book else { return 0 };
        let _busy = self.busy.lock().await;
        let now = self.clock.now_ms();
        let due = match book.due(now).await {
            Ok(due) => due,
            Err(err) => {
                tracing::error!(%err, "due reminders could not be read");
                return 0;
            }
        };
        let mut sent = 0;
        for (conversation, kept) in due {
            sent += call_purpose::with_purpose(Purpose::Reminder, self.work(book, &conversation, kept, now)).await;
        }
        sent
    }

    async fn work(
        &self,
        book: &SharedRegistry<Conversation>,
        conversation: &str,
        mut kept: Conversation,
        now: i64,
    ) -> usize {
        let before = kept.clone();
        let mut sent = 0;
        kept.reminders.retain(|reminder| {
            let live = now < reminder.until_ms;
            if !live {
                tracing::info!(conversation, code = %reminder.code, "reminder expired (DINGMEET_REMIND_DAYS)");
            }
            live
        });
        for index in 0..kept.reminders.len() {
            self.refresh(conversation, &mut kept.reminders[index], kept.target.corp_id.as_deref(), now).await;
            for instance in 0..kept.reminders[index].instances.len() {
                sent += usize::from(self.maybe_send(book, conversation, &mut kept, index, instance, now).await);
            }
            kept.reminders[index].prune(now);
        }
        kept.reminders.retain(|r| r.next_lookup_ms.is_some() || r.instances.iter().any(|i| !i.is_done()));
        if kept != before
            && let Err(err) = book.put(conversation, &kept).await
        {
            tracing::error!(%err, conversation, "reminders could not be stored after a pass");
        }
        sent
    }

    /// The look-up before a send (and the daily one); a failure keeps what is known.
    async fn refresh(&self, conversation: &str, reminder: &mut Reminder, corp: Option<&str>, now: i64) {
        for instance in &mut reminder.instances {
            if let Stage::Sending { since_ms } = instance.stage
                && now >= since_ms.saturating_add(CLAIM_TTL_MS)
            {
                tracing::warn!(
                    conversation,
                    code = %reminder.code,
                    instance = %instance.id,
                    "a reminder send was interrupted; it is not sent again, so it is never sent twice"
                );
                self.outcome(Outcome::Uncertain);
                instance.stage = Stage::Done(Outcome::Uncertain);
            }
        }
        if !reminder.wants_lookup(now) {
            return;
        }
        if !self.may_refresh(corp) {
            reminder.lookup_failed(now);
            return;
        }
        match self.conferences.infos(corp, &reminder.code).await {
            Ok(fresh) => {
                for (instance, outcome) in reminder.apply(&fresh, now) {
                    tracing::info!(conversation, code = %reminder.code, %instance, outcome = outcome.label(), "reminder not sent");
                    self.outcome(outcome);
                }
            }
            Err(err) => {
                tracing::warn!(
                    conversation,
                    code = %reminder.code,
                    %err,
                    "look-up before a reminder failed; using what was known"
                );
                reminder.lookup_failed(now);
            }
        }
    }

    /// Sends one instance's reminder if it is due. True if it went out from here.
    async fn maybe_send(
        &self,
        book: &SharedRegistry<Conversation>,
        conversation: &str,
        kept: &mut Conversation,
        index: usize,
        at: usize,
        now: i64,
    ) -> bool {
        let reminder = &kept.reminders[index];
        let instance = &reminder.instances[at];
        let ready = match instance.stage {
            Stage::Checked => instance.started || now >= instance.fire_ms(reminder.minutes),
            Stage::Waiting => instance.started,
            Stage::Sending { .. } | Stage::Done(_) => false,
        };
        if !ready {
            return false;
        }
        if !instance.started && instance.over_by(now) {
            tracing::info!(conversation, code = %reminder.code, instance = %instance.id, "reminder not sent: the meeting is over");
            self.outcome(Outcome::Missed);
            kept.reminders[index].instances[at].stage = Stage::Done(Outcome::Missed);
            return false;
        }
        let claim = format!("reminder:{conversation}:{}:{}:{}", reminder.code, instance.id, instance.start_ms);
        match book.claim(&claim, lease(CLAIM_TTL_MS)).await {
            Claim::Busy => return false,
            Claim::Done => {
                kept.reminders[index].instances[at].stage = Stage::Done(Outcome::Sent);
                return false;
            }
            Claim::Mine => {}
        }
        // Kept as being sent before it is sent: after a crash here it is not sent again.
        kept.reminders[index].instances[at].stage = Stage::Sending { since_ms: now };
        if let Err(err) = book.put(conversation, kept).await {
            tracing::error!(%err, conversation, "a reminder could not be marked as being sent; not sending it now");
            kept.reminders[index].instances[at].stage = Stage::Checked;
            return false;
        }
        let reminder = &kept.reminders[index];
        let instance = &reminder.instances[at];
        let lang: Lang = reminder.lang.parse().unwrap_or_default();
        let message = card::reminder(lang.text(), self.settings.timezone, reminder, instance);
        let result = self.replier.send(&kept.target, &message, now).await;
        let outcome = match &result {
            Ok(_) if instance.started => Outcome::Started,
            Ok(_) => Outcome::Sent,
            Err(err) => {
                self.refused(kept.target.corp_id.as_deref(), err);
                tracing::warn!(conversation, code = %reminder.code, instance = %instance.id, %err, "reminder could not be sent");
                Outcome::Failed
            }
        };
        if outcome != Outcome::Failed {
            tracing::info!(
                conversation,
                code = %reminder.code,
                instance = %instance.id,
                outcome = outcome.label(),
                late_ms = now.saturating_sub(instance.fire_ms(reminder.minutes)).max(0),
                "reminder sent"
            );
        }
        book.finish_claim(&claim, lease(SENT_TTL_MS)).await;
        self.outcome(outcome);
        kept.reminders[index].instances[at].stage = Stage::Done(outcome);
        outcome != Outcome::Failed
    }

    fn refused(&self, corp: Option<&str>, err: &ReplyError) {
        if let ReplyError::OpenApi(ApiError::NoPermission { .. } | ApiError::Forbidden { .. }) = err {
            tracing::warn!(
                corp = corp.unwrap_or_default(),
                "DingTalk refused a reminder: grant the app the robot message permission qyapi_robot_sendmsg \
                 (and add the robot to the group); /remind is refused in this organisation for an hour"
            );
            let until = self.clock.now_ms().saturating_add(NO_PERMISSION_MEMORY_MS);
            self.no_send
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(corp.unwrap_or_default().to_owned(), until);
        }
    }

    fn outcome(&self, outcome: Outcome) {
        self.metrics.reminder(outcome.label());
    }
}
