//! The kept reminders of one conversation and the decisions about them: which instances of a
//! code to remind, when each is due, and what a fresh look-up changes. Pure: the scheduler does
//! the look-ups and the sends.

use serde::{Deserialize, Serialize};

use super::{HORIZON_MS, LEAD_MS, LOOKUP_EVERY_MS, MAX_LATE_MS};
use crate::dingtalk::conference::{ConferenceInfo, Conferences};
use crate::dingtalk::message::ReplyTarget;
use crate::dingtalk::webhook::UncheckedWebhook;
use crate::state::Kept;

/// A conversation's reminders, kept as one record under the conversation's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Where reminders go: the robot OpenAPI with these ids (no session webhook is kept).
    #[serde(deserialize_with = "proactive_target")]
    pub target: ReplyTarget,
    pub reminders: Vec<Reminder>,
    /// Kept on this replica while Redis was unreachable: shared (or, with no reminders left,
    /// removed from Redis) once it answers again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unshared: bool,
}

/// A kept target, read back without a session webhook: the OpenAPI is the only way a
/// reminder goes, so a webhook (unchecked, in the record) is never called.
fn proactive_target<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<ReplyTarget, D::Error> {
    let target = ReplyTarget::<UncheckedWebhook>::deserialize(deserializer)?;
    Ok(without_webhook(&target))
}

/// `target` without its session webhook (long expired by the time a reminder goes).
pub(super) fn without_webhook<W, V>(target: &ReplyTarget<W>) -> ReplyTarget<V> {
    ReplyTarget {
        session_webhook: None,
        conversation_id: target.conversation_id.clone(),
        kind: target.kind,
        robot_code: target.robot_code.clone(),
        sender_staff_id: target.sender_staff_id.clone(),
        corp_id: target.corp_id.clone(),
    }
}

impl Kept for Conversation {
    const KIND: &'static str = "reminders";
}

/// One `/remind <code>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub code: String,
    pub minutes: u32,
    /// Who set it (their nick), shown on every reminder.
    pub set_by: Option<String>,
    /// The language it was set in (`zh`, `en`).
    pub lang: String,
    pub set_at_ms: i64,
    /// When it is forgotten (`DINGMEET_REMIND_DAYS` after it was set).
    pub until_ms: i64,
    /// When the code is looked up again for instances not yet known (booked and recurring
    /// codes); `None` for a code whose meetings are all known.
    pub next_lookup_ms: Option<i64>,
    pub instances: Vec<Instance>,
}

/// One meeting instance to remind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// DingTalk's `conferenceId`, else `at-<start>`.
    pub id: String,
    pub title: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub url: Option<String>,
    /// The last look-up found it in progress.
    #[serde(default)]
    pub started: bool,
    pub stage: Stage,
}

/// Where an instance's reminder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not yet looked at again before its time.
    Waiting,
    /// Looked up again shortly before its time (or the look-up failed): sent when due.
    Checked,
    /// Being sent since this time: if that send never finished, it is not sent again.
    Sending {
        since_ms: i64,
    },
    Done(Outcome),
}

/// How an instance's reminder ended; also the `outcome` label of `dingmeet_reminders_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    /// Sent as "started, join now".
    Started,
    /// The meeting was cancelled (it left the code's list, or ended before its time).
    Cancelled,
    /// The bot was down through the whole meeting.
    Missed,
    /// A send was interrupted (a crash, a replica lost): not sent again, so never twice.
    Uncertain,
    /// DingTalk refused the send.
    Failed,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Started => "started",
            Self::Cancelled => "cancelled",
            Self::Missed => "missed",
            Self::Uncertain => "uncertain",
            Self::Failed => "failed",
        }
    }
}

impl Instance {
    fn from_info(info: &ConferenceInfo, start_ms: i64) -> Self {
        Self {
            id: instance_id(info, start_ms),
            title: info.title.clone(),
            start_ms,
            end_ms: info.end_time,
            url: info.external_link_url.clone(),
            started: false,
            stage: Stage::Waiting,
        }
    }

    /// When the reminder goes out.
    pub fn fire_ms(&self, minutes: u32) -> i64 {
        self.start_ms.saturating_sub(i64::from(minutes) * 60_000)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// Whether the meeting is over by `now` as far as the kept data says (its end, else a
    /// generous guess after its start).
    pub fn over_by(&self, now_ms: i64) -> bool {
        match self.end_ms {
            Some(end) if end > self.start_ms => now_ms >= end,
            _ => now_ms >= self.start_ms.saturating_add(MAX_LATE_MS),
        }
    }
}

fn instance_id(info: &ConferenceInfo, start_ms: i64) -> String {
    info.conference_id.clone().filter(|id| !id.trim().is_empty()).unwrap_or_else(|| format!("at-{start_ms}"))
}

/// The instances behind a code worth reminding: not started, starting after `now` and within
/// the horizon (7 days), soonest first.
pub fn upcoming(conferences: &Conferences, now_ms: i64) -> Vec<Instance> {
    let mut found: Vec<Instance> = conferences
        .list
        .iter()
        .filter(|info| info.status == Some(0))
        .filter_map(|info| {
            let start = info.start_time?;
            (start > now_ms && start <= now_ms.saturating_add(HORIZON_MS)).then(|| Instance::from_info(info, start))
        })
        .collect();
    found.sort_by_key(|instance| instance.start_ms);
    found.dedup_by(|a, b| a.id == b.id);
    found
}

/// Whether a code gets new instances over time (a booked or recurring meeting), so it is worth
/// looking up again every day.
pub fn recurs(conferences: &Conferences) -> bool {
    conferences.list.len() > 1
        || conferences.list.iter().any(|info| {
            info.schedule_conference_id.as_deref().is_some_and(|id| !id.is_empty())
                || info.biz_type.as_deref().is_some_and(|kind| kind.trim() == "3")
        })
}

impl Reminder {
    /// When this reminder next needs attention (a look-up, a send, or being forgotten).
    pub fn due_ms(&self) -> i64 {
        let instances = self.instances.iter().filter_map(|instance| match instance.stage {
            Stage::Waiting if !instance.started => Some(instance.fire_ms(self.minutes).saturating_sub(LEAD_MS)),
            Stage::Waiting => Some(i64::MIN),
            Stage::Checked => Some(instance.fire_ms(self.minutes)),
            Stage::Sending { since_ms } => Some(since_ms.saturating_add(super::CLAIM_TTL_MS)),
            Stage::Done(_) => None,
        });
        instances.chain(self.next_lookup_ms).fold(self.until_ms, i64::min)
    }

    /// The next instance still to remind, if any.
    pub fn next(&self) -> Option<&Instance> {
        self.instances.iter().filter(|i| !i.is_done()).min_by_key(|i| i.start_ms)
    }

    /// Whether a look-up is wanted at `now`: the daily one, or the fresh one before a send.
    pub fn wants_lookup(&self, now_ms: i64) -> bool {
        self.next_lookup_ms.is_some_and(|at| now_ms >= at)
            || self
                .instances
                .iter()
                .any(|i| i.stage == Stage::Waiting && now_ms >= i.fire_ms(self.minutes).saturating_sub(LEAD_MS))
    }

    /// Applies a fresh look-up: cancelled instances are done, moved ones take their new time,
    /// started ones are marked; on the daily look-up, new upcoming instances join.
    pub fn apply(&mut self, fresh: &Conferences, now_ms: i64) -> Vec<(String, Outcome)> {
        let mut ended = Vec::new();
        for instance in self.instances.iter_mut().filter(|i| matches!(i.stage, Stage::Waiting | Stage::Checked)) {
            let found = fresh.list.iter().find(|info| instance_id(info, info.start_time.unwrap_or(0)) == instance.id);
            let Some(info) = found else {
                instance.stage = Stage::Done(Outcome::Cancelled);
                ended.push((instance.id.clone(), Outcome::Cancelled));
                continue;
            };
            instance.title = info.title.clone().or(instance.title.take());
            instance.url = info.external_link_url.clone().or(instance.url.take());
            instance.end_ms = info.end_time.or(instance.end_ms);
            match info.status {
                Some(1) => {
                    // Ended without the bot seeing it run: cancelled before its time, or over.
                    let outcome = if now_ms < instance.start_ms { Outcome::Cancelled } else { Outcome::Missed };
                    instance.stage = Stage::Done(outcome);
                    ended.push((instance.id.clone(), outcome));
                }
                Some(2) => instance.started = true,
                _ => {
                    if let Some(start) = info.start_time
                        && start != instance.start_ms
                    {
                        instance.start_ms = start;
                        instance.stage = Stage::Waiting;
                    }
                }
            }
            if instance.stage == Stage::Waiting && now_ms >= instance.fire_ms(self.minutes).saturating_sub(LEAD_MS) {
                instance.stage = Stage::Checked;
            }
        }
        if self.next_lookup_ms.is_some_and(|at| now_ms >= at) {
            for instance in upcoming(fresh, now_ms) {
                if !self.instances.iter().any(|known| known.id == instance.id) {
                    self.instances.push(instance);
                }
            }
            self.next_lookup_ms = Some(now_ms.saturating_add(LOOKUP_EVERY_MS));
        }
        ended
    }

    /// After a failed look-up: what is kept is what is used; the daily look-up is tried again
    /// in a while.
    pub fn lookup_failed(&mut self, now_ms: i64) {
        for instance in &mut self.instances {
            if instance.stage == Stage::Waiting && now_ms >= instance.fire_ms(self.minutes).saturating_sub(LEAD_MS) {
                instance.stage = Stage::Checked;
            }
        }
        if self.next_lookup_ms.is_some_and(|at| now_ms >= at) {
            self.next_lookup_ms = Some(now_ms.saturating_add(super::RETRY_LOOKUP_MS));
        }
    }

    /// Forgets instances that are done and long past, so the record does not grow.
    pub fn prune(&mut self, now_ms: i64) {
        self.instances.retain(|i| !(i.is_done() && i.start_ms.saturating_add(HORIZON_MS) < now_ms));
    }
}

impl Conversation {
    /// When the conversation's reminders next need attention; `None` when it has none.
    pub fn due_ms(&self) -> Option<i64> {
        self.reminders.iter().map(Reminder::due_ms).min()
    }

    pub fn find(&self, code: &str) -> Option<&Reminder> {
        self.reminders.iter().find(|r| r.code == code)
    }
}

#[cfg(test)]
mod tests;
