//! `/remind` answered: a reminder set (its meeting looked up, its instances planned, the
//! conversation's record stored), listed or cancelled. The scheduler that sends them is in
//! [`scheduler`].

mod scheduler;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono_tz::Tz;
use tokio::sync::Notify;

use super::plan::{self, Conversation, Reminder};
use super::{DAY_MS, MAX_PER_CONVERSATION, RemindRequest, card};
use crate::bot::budget::Budget;
use crate::bot::i18n::{Text, fill};
use crate::bot::render;
use crate::bot::room_code::RoomCode;
use crate::clock::SharedClock;
use crate::dingtalk::conference::ConferenceClient;
use crate::dingtalk::message::{ConversationKind, Message, ReplyTarget};
use crate::dingtalk::reply::{OutgoingMessage, Replier};
use crate::lang::Lang;
use crate::state::{SharedRegistry, StateStore};
use crate::telemetry::Metrics;

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
    /// Every conversation's reminders; `None` for a store in memory only: they must outlive the
    /// process.
    book: Option<SharedRegistry<Conversation>>,
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
            book: state.shared_registry().kept_locally(),
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
        let t = lang.text();
        let notice = |line: String| render::notice_card(t, &[line], mention);
        let Some(book) = &self.book else { return notice(t.remind_no_store.to_owned()) };
        let conversation = message.reply_to.conversation_id.as_str();
        let _busy = self.busy.lock().await;
        let kept = match book.get(conversation).await {
            Ok(kept) => kept,
            Err(err) => {
                tracing::error!(%err, "reminders could not be read");
                return notice(t.remind_not_kept.to_owned());
            }
        };
        match request {
            RemindRequest::List => card::list(t, self.settings.timezone, kept.as_ref(), mention),
            RemindRequest::Off(code) => {
                let Some(mut kept) = kept else { return notice(t.remind_list_empty.to_owned()) };
                let before = kept.reminders.len();
                kept.reminders.retain(|reminder| code.as_ref().is_some_and(|code| reminder.code != code.as_str()));
                let removed = before - kept.reminders.len();
                if let Err(err) = book.put(conversation, &kept).await {
                    tracing::error!(%err, "a cancelled reminder could not be stored");
                    return notice(t.remind_not_kept.to_owned());
                }
                tracing::info!(conversation, removed, "reminders cancelled");
                match code {
                    Some(code) if removed == 0 => notice(fill(t.remind_off_missing, &[("code", &code)])),
                    Some(code) => notice(fill(t.remind_off_one, &[("code", &code)])),
                    None if removed == 0 => notice(t.remind_list_empty.to_owned()),
                    None => notice(fill(t.remind_off_all, &[("count", &removed)])),
                }
            }
            RemindRequest::Set { code, minutes } => {
                match self.set(book, message, kept, &code, minutes, lang, t).await {
                    Ok(reminder) => {
                        card::confirmation(t, self.settings.timezone, &reminder, self.settings.days, mention)
                    }
                    Err(line) => notice(line),
                }
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one call site; the pieces of one command")]
    async fn set(
        &self,
        book: &SharedRegistry<Conversation>,
        message: &Message,
        kept: Option<Conversation>,
        code: &RoomCode,
        minutes: u32,
        lang: Lang,
        t: &Text,
    ) -> Result<Reminder, String> {
        let target = &message.reply_to;
        if target.kind == ConversationKind::Single && target.sender_staff_id.is_none() {
            return Err(t.remind_no_staff_id.to_owned());
        }
        if self.send_refused(target.corp_id.as_deref()) {
            return Err(t.remind_no_send_permission.to_owned());
        }
        let mut kept =
            kept.unwrap_or_else(|| Conversation { target: proactive(target), reminders: Vec::new(), unshared: false });
        if kept.find(code.as_str()).is_none() && kept.reminders.len() >= MAX_PER_CONVERSATION {
            return Err(fill(t.remind_full, &[("max", &MAX_PER_CONVERSATION)]));
        }
        let found = self.conferences.infos(target.corp_id.as_deref(), code.as_str()).await.map_err(|err| {
            tracing::warn!(code = %code, %err, kind = err.kind(), "meeting lookup for a reminder failed");
            render::error_message(t, code, &err)
        })?;
        if found.list.is_empty() {
            let text =
                if target.kind == ConversationKind::Single { t.remind_not_found_single } else { t.remind_not_found };
            return Err(fill(text, &[("code", code)]));
        }
        let now = self.clock.now_ms();
        let instances = plan::upcoming(&found, now);
        if instances.is_empty() {
            return Err(fill(t.remind_nothing_upcoming, &[("code", code)]));
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
            return Err(t.remind_not_kept.to_owned());
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
