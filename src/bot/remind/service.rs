//! `/remind` answered, and the scheduler that sends the reminders: due records are looked up
//! again shortly before their time, claimed (one replica sends each), marked as being sent in
//! the store before the send and done after it, so a reminder is never sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono_tz::Tz;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::book::Book;
use super::plan::{self, Conversation, Outcome, Reminder, Stage};
use super::text::{RemindText, text};
use super::{CLAIM_TTL_MS, DAY_MS, MAX_PER_CONVERSATION, RemindRequest, SENT_TTL_MS, card};
use crate::bot::budget::Budget;
use crate::bot::command::RoomCode;
use crate::bot::i18n::{Text, fill};
use crate::bot::render;
use crate::clock::SharedClock;
use crate::dingtalk::api::ApiError;
use crate::dingtalk::calls::{self, Purpose};
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::message::{ConversationKind, Message, ReplyTarget};
use crate::dingtalk::reply::{OutgoingMessage, Replier, ReplyError};
use crate::lang::Lang;
use crate::state::{Claim, StateStore};
use crate::telemetry::Metrics;

/// After DingTalk refused a reminder for want of the send permission, how long `/remind` in
/// that organisation is refused at once (the permission may be granted meanwhile).
const NO_PERMISSION_MEMORY_MS: i64 = 60 * 60_000;

/// The settings reminders read.
#[derive(Debug, Clone, Copy)]
pub struct RemindSettings {
    /// How long a reminder lives (`DINGMEET_REMIND_DAYS`).
    pub days: u32,
    /// Where times are shown (`DINGMEET_TIMEZONE`).
    pub timezone: Tz,
}

/// The reminders of every conversation, and their scheduler.
pub struct Reminders {
    book: Option<Book>,
    conferences: ConferenceClient,
    replier: Replier,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    settings: RemindSettings,
    /// The monthly OpenAPI budget background look-ups are paced by (none: not paced).
    budget: Option<Arc<Budget>>,
    /// One pass or one change at a time in this process.
    busy: tokio::sync::Mutex<()>,
    wake: Notify,
    /// Organisations whose robot may not send, until when.
    no_send: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Reminders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reminders").field("kept", &self.book.is_some()).field("settings", &self.settings).finish()
    }
}

impl Reminders {
    pub fn new(
        state: &StateStore,
        conferences: ConferenceClient,
        replier: Replier,
        metrics: Arc<Metrics>,
        clock: SharedClock,
        settings: RemindSettings,
    ) -> Self {
        Self {
            book: Book::open(state),
            conferences,
            replier,
            metrics,
            clock,
            settings,
            budget: None,
            busy: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            no_send: Mutex::default(),
        }
    }

    /// Paces the background look-ups by the monthly OpenAPI budget, and counts the scheduler's
    /// calls (look-ups, sends) as the reminders' in it.
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The answer to a `/remind` command.
    pub async fn answer(
        &self,
        message: &Message,
        request: RemindRequest,
        lang: Lang,
        mention: Option<&str>,
    ) -> OutgoingMessage {
        let (t, r) = (lang.text(), text(lang));
        let notice = |line: String| render::notice_card(t, &[line], mention);
        let Some(book) = &self.book else { return notice(r.no_store.to_owned()) };
        let conversation = message.reply_to.conversation_id.as_str();
        let _busy = self.busy.lock().await;
        let kept = match book.get(conversation).await {
            Ok(kept) => kept,
            Err(err) => {
                tracing::error!(%err, "reminders could not be read");
                return notice(r.not_kept.to_owned());
            }
        };
        match request {
            RemindRequest::List => card::list(t, r, self.settings.timezone, kept.as_ref(), mention),
            RemindRequest::Off(code) => {
                let Some(mut kept) = kept else { return notice(r.list_empty.to_owned()) };
                let before = kept.reminders.len();
                kept.reminders.retain(|reminder| code.as_ref().is_some_and(|code| reminder.code != code.as_str()));
                let removed = before - kept.reminders.len();
                if let Err(err) = book.put(conversation, &kept).await {
                    tracing::error!(%err, "a cancelled reminder could not be stored");
                    return notice(r.not_kept.to_owned());
                }
                tracing::info!(conversation, removed, "reminders cancelled");
                match code {
                    Some(code) if removed == 0 => notice(fill(r.off_missing, &[("code", &code)])),
                    Some(code) => notice(fill(r.off_one, &[("code", &code)])),
                    None if removed == 0 => notice(r.list_empty.to_owned()),
                    None => notice(fill(r.off_all, &[("count", &removed)])),
                }
            }
            RemindRequest::Set { code, minutes } => {
                match self.set(book, message, kept, &code, minutes, lang, t, r).await {
                    Ok(reminder) => {
                        card::confirmation(t, r, self.settings.timezone, &reminder, self.settings.days, mention)
                    }
                    Err(line) => notice(line),
                }
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one call site; the pieces of one command")]
    async fn set(
        &self,
        book: &Book,
        message: &Message,
        kept: Option<Conversation>,
        code: &RoomCode,
        minutes: u32,
        lang: Lang,
        t: &Text,
        r: &RemindText,
    ) -> Result<Reminder, String> {
        let target = &message.reply_to;
        if target.kind == ConversationKind::Single && target.sender_staff_id.is_none() {
            return Err(r.no_staff_id.to_owned());
        }
        if self.send_refused(target.corp_id.as_deref()) {
            return Err(r.no_send_permission.to_owned());
        }
        let mut kept =
            kept.unwrap_or_else(|| Conversation { target: proactive(target), reminders: Vec::new(), unshared: false });
        if kept.find(code.as_str()).is_none() && kept.reminders.len() >= MAX_PER_CONVERSATION {
            return Err(fill(r.full, &[("max", &MAX_PER_CONVERSATION)]));
        }
        let found = self.conferences.infos(target.corp_id.as_deref(), code.as_str()).await.map_err(|err| {
            tracing::warn!(code = %code, %err, kind = err.kind(), "meeting lookup for a reminder failed");
            render::error_message(t, code, &err)
        })?;
        if found.list.is_empty() {
            let text = if target.kind == ConversationKind::Single { r.not_found_single } else { r.not_found };
            return Err(fill(text, &[("code", code)]));
        }
        let now = self.clock.now_ms();
        let instances = plan::upcoming(&found, now);
        if instances.is_empty() {
            return Err(fill(r.nothing_upcoming, &[("code", code)]));
        }
        let reminder = Reminder {
            code: code.as_str().to_owned(),
            minutes,
            set_by: message.sender_nick.clone(),
            lang: lang.code().to_owned(),
            set_at_ms: now,
            until_ms: now.saturating_add(i64::from(self.settings.days.max(1)) * DAY_MS),
            next_lookup_ms: plan::recurs(&found).then(|| now.saturating_add(super::LOOKUP_EVERY_MS)),
            instances,
        };
        // The newest ids (a session's robot code, the asker) are the ones to send with.
        kept.target = proactive(target);
        kept.reminders.retain(|known| known.code != reminder.code);
        kept.reminders.push(reminder.clone());
        if let Err(err) = book.put(&target.conversation_id, &kept).await {
            tracing::error!(%err, "a reminder could not be stored");
            return Err(r.not_kept.to_owned());
        }
        tracing::info!(
            conversation = %target.conversation_id,
            code = %code,
            minutes,
            instances = reminder.instances.len(),
            daily = reminder.next_lookup_ms.is_some(),
            "reminder set"
        );
        self.wake.notify_one();
        Ok(reminder)
    }

    fn send_refused(&self, corp: Option<&str>) -> bool {
        let now = self.clock.now_ms();
        let mut refused = self.no_send.lock().unwrap_or_else(PoisonError::into_inner);
        refused.retain(|_, until| *until > now);
        refused.contains_key(corp.unwrap_or_default())
    }

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
            sent += calls::with_purpose(Purpose::Reminder, self.work(book, &conversation, kept, now)).await;
        }
        sent
    }

    async fn work(&self, book: &Book, conversation: &str, mut kept: Conversation, now: i64) -> usize {
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
        book: &Book,
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
        match book.claim(&claim, CLAIM_TTL_MS).await {
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
        let message = card::reminder(lang.text(), text(lang), self.settings.timezone, reminder, instance);
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
        book.finish_claim(&claim, SENT_TTL_MS).await;
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

/// Where a conversation's reminders go: its ids, without the session webhook (long expired by
/// then), so every send goes through the robot OpenAPI.
fn proactive<W>(target: &ReplyTarget<W>) -> ReplyTarget {
    super::plan::without_webhook(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dingtalk::webhook::{UncheckedWebhook, WebhookHosts};

    #[test]
    fn a_kept_target_never_holds_the_session_webhook() {
        let mut message = Message::local("x".into());
        let webhook = UncheckedWebhook {
            url: "https://oapi.dingtalk.com/robot/sendBySession?session=s".into(),
            expires_ms: Some(1),
        };
        message.reply_to.session_webhook =
            Some(WebhookHosts::new(["oapi.dingtalk.com"]).check(webhook).expect("an allowed host"));
        let kept = proactive(&message.reply_to);
        assert_eq!(kept.session_webhook, None);
        assert_eq!(kept.conversation_id, "local");
        // Read back, a kept webhook is dropped too.
        let conversation = Conversation { target: message.reply_to, reminders: Vec::new(), unshared: false };
        let json = serde_json::to_string(&conversation).expect("written");
        let read: Conversation = serde_json::from_str(&json).expect("read back");
        assert_eq!(read.target.session_webhook, None);
    }
}
