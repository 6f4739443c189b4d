//! Reminders with join links (`/remind`): a conversation asks once, and a few minutes before
//! each meeting behind the code the bot posts its title, time and join link there, through the
//! robot OpenAPI, exactly once across restarts and replicas.
//!
//! `request` is what the command asks (parsed with the other commands, in `commands`), `plan`
//! keeps and decides (pure), the store's shared registry keeps each conversation's record, `card`
//! renders (its texts are in `i18n`), `service` answers the command and runs the scheduler.

mod card;
pub mod plan;
mod request;
mod service;

pub use self::request::RemindRequest;
pub use self::service::{RemindSettings, Reminders};
use crate::state::Shared;

/// Minutes before the start when none are given.
pub const DEFAULT_MINUTES: u32 = 5;
/// The most minutes before the start (a day).
pub const MAX_MINUTES: u32 = 1440;
/// The most reminders one conversation keeps.
pub const MAX_PER_CONVERSATION: usize = 20;
/// How far ahead instances are reminded: the next 7 days.
const HORIZON_MS: i64 = 7 * DAY_MS;
/// How long before a reminder is due the code is looked up again.
const LEAD_MS: i64 = 60_000;
/// How often a booked or recurring code is looked up again for new instances.
const LOOKUP_EVERY_MS: i64 = DAY_MS;
/// After a failed daily look-up, how soon it is tried again.
const RETRY_LOOKUP_MS: i64 = 15 * 60_000;
/// A meeting whose end is unknown counts as over this long after its start (a reminder due
/// while the bot was down is not sent after that).
const MAX_LATE_MS: i64 = 2 * 60 * 60_000;
/// How long a replica holds its claim on a reminder it is sending; one that died mid-send
/// lets it go after this.
const CLAIM_TTL_MS: i64 = 2 * 60_000;
/// How long a sent reminder's claim is kept, so no replica sends it again.
const SENT_TTL_MS: i64 = 8 * DAY_MS;
const DAY_MS: i64 = 86_400_000;

/// The reminder for one instance, as it is sent (for the card gallery and the benchmarks).
pub fn reminder_card(
    lang: crate::lang::Lang,
    tz: chrono_tz::Tz,
    reminder: &plan::Reminder,
    instance: &plan::Instance,
) -> crate::dingtalk::reply::OutgoingMessage {
    card::reminder(lang.text(), tz, reminder, instance)
}

/// The answer to `/remind <code>` that set `reminder`.
pub fn confirmation_card(
    lang: crate::lang::Lang,
    tz: chrono_tz::Tz,
    reminder: &plan::Reminder,
    days: u32,
    mention: Option<&str>,
) -> crate::dingtalk::reply::OutgoingMessage {
    card::confirmation(lang.text(), tz, reminder, days, mention)
}

/// The answer to `/remind` alone.
pub fn list_card(
    lang: crate::lang::Lang,
    tz: chrono_tz::Tz,
    kept: Option<&plan::Conversation>,
    mention: Option<&str>,
) -> crate::dingtalk::reply::OutgoingMessage {
    card::list(lang.text(), tz, kept, mention)
}

/// A conversation's reminders are seen by every replica; a change made while Redis is
/// unreachable waits on this replica and is shared once it is back, so no reminder is lost.
impl Shared for plan::Conversation {
    const QUEUED_WHILE_AWAY: bool = true;

    fn due_ms(&self) -> Option<i64> {
        plan::Conversation::due_ms(self)
    }

    fn is_queued(&self) -> bool {
        self.unshared
    }

    fn set_queued(&mut self, queued: bool) {
        self.unshared = queued;
    }

    fn is_spent(&self) -> bool {
        self.reminders.is_empty()
    }
}
