//! What the events told of one conference, kept for every replica and across restarts: it is
//! the events' record (written before an event is acknowledged), their duplicate check (the
//! `eventId`s seen) and their order (`statusSeqNum`: an older event never undoes a newer one),
//! and says whether its cards still have to show it. Pure, but for the store's traits.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::bot::live::{ConferenceNews, Phase};
use crate::dingtalk::meeting_event::{Change, MeetingEvent};
use crate::state::{Kept, Shared};

/// The most `eventId`s remembered per conference (DingTalk repeats an event within minutes).
const MAX_SEEN: usize = 1024;

/// One conference's events, reduced to where it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConferenceRecord {
    #[serde(default)]
    pub corp: Option<String>,
    pub conference_id: String,
    /// The newest status event's `statusSeqNum` (0: none yet).
    #[serde(default)]
    pub status_seq: i64,
    #[serde(default)]
    pub phase: Option<Phase>,
    /// `activeNum` of the newest status event.
    #[serde(default)]
    pub base_active: Option<i64>,
    /// Joins (+n) and leaves (−n) newer than the newest status event: (`statusSeqNum`, n).
    #[serde(default)]
    pub moves: Vec<(i64, i64)>,
    #[serde(default)]
    pub attended: Option<i64>,
    #[serde(default)]
    pub duration_minutes: Option<i64>,
    #[serde(default)]
    pub end_time: Option<i64>,
    /// The highest `statusSeqNum` of any event taken (status or member).
    #[serde(default)]
    pub max_seq: i64,
    /// The `eventId`s taken, newest last.
    #[serde(default)]
    pub seen: VecDeque<String>,
    /// Counts the changes, so work begun on one version can tell a newer one came meanwhile.
    #[serde(default)]
    pub version: u64,
    /// Its cards do not show the newest change yet.
    #[serde(default)]
    pub pending: bool,
    /// When its cards are next brought up to date (pending), or when it is forgotten.
    #[serde(default)]
    pub due_ms: i64,
    /// When the last event came (this bot's clock).
    #[serde(default)]
    pub last_event_ms: i64,
    /// Changed while Redis was unreachable and not shared yet.
    #[serde(default)]
    pub unshared: bool,
}

impl Kept for ConferenceRecord {
    const KIND: &'static str = "meeting_events";
}

/// An event taken while Redis is away waits on this replica and is shared once it is back.
impl Shared for ConferenceRecord {
    const QUEUED_WHILE_AWAY: bool = true;

    fn due_ms(&self) -> Option<i64> {
        Some(self.due_ms)
    }

    fn is_queued(&self) -> bool {
        self.unshared
    }

    fn set_queued(&mut self, queued: bool) {
        self.unshared = queued;
    }
}

/// What taking an event into the record came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A new event that changes where the conference stands.
    Applied,
    /// Its `eventId` was taken before.
    Duplicate,
    /// Older than what the record has (or a scene that changes nothing): kept as seen only.
    Stale,
}

impl Taken {
    pub fn label(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
        }
    }
}

impl ConferenceRecord {
    pub fn new(corp: Option<&str>, conference_id: &str) -> Self {
        Self { corp: corp.map(str::to_owned), conference_id: conference_id.to_owned(), ..Self::default() }
    }

    /// Whether `event` skips a sequence number: an event before it has not come (yet).
    pub fn gap_before(&self, event: &MeetingEvent) -> bool {
        event.seq.is_some_and(|seq| self.max_seq > 0 && seq > self.max_seq.saturating_add(1))
    }

    /// Takes `event` in at `now` (this bot's clock).
    pub fn take(&mut self, event: &MeetingEvent, now: i64) -> Taken {
        if let Some(id) = &event.event_id {
            if self.seen.contains(id) {
                return Taken::Duplicate;
            }
            self.seen.push_back(id.clone());
            while self.seen.len() > MAX_SEEN {
                self.seen.pop_front();
            }
        }
        let taken = match &event.change {
            Some(Change::Started) => self.status(event, Phase::Started, now),
            Some(Change::Ended) => self.status(event, Phase::Ended, now),
            Some(Change::Joined) => self.moved(event, 1),
            Some(Change::Left) => self.moved(event, -1),
            Some(Change::Other(_)) | None => Taken::Stale,
        };
        self.version = self.version.wrapping_add(1);
        self.last_event_ms = now;
        self.max_seq = self.max_seq.max(event.seq.unwrap_or(0));
        if taken == Taken::Applied {
            self.pending = true;
        }
        taken
    }

    fn status(&mut self, event: &MeetingEvent, phase: Phase, now: i64) -> Taken {
        let newer = match event.seq {
            Some(seq) => self.status_seq == 0 || seq > self.status_seq,
            // Without a sequence number an event is taken as the newest, but never reopens a
            // meeting that ended.
            None => !(self.phase == Some(Phase::Ended) && phase == Phase::Started),
        };
        if !newer {
            return Taken::Stale;
        }
        let seq = event.seq.unwrap_or(self.status_seq);
        self.status_seq = seq;
        self.phase = Some(phase);
        self.base_active = event.active_num;
        self.moves.retain(|(at, _)| *at > seq);
        if phase == Phase::Ended {
            self.attended = event.attend_num;
            self.duration_minutes = event.duration_minutes;
            self.end_time = event.end_time.or(Some(now));
        }
        Taken::Applied
    }

    fn moved(&mut self, event: &MeetingEvent, sign: i64) -> Taken {
        let seq = event.seq.unwrap_or(i64::MAX);
        if self.phase == Some(Phase::Ended) || (self.status_seq > 0 && seq <= self.status_seq) {
            // The newer status event's count already has them (or the meeting is over).
            return Taken::Stale;
        }
        let people = i64::try_from(event.members.len().max(1)).unwrap_or(1);
        self.moves.push((seq, sign.saturating_mul(people)));
        Taken::Applied
    }

    /// How many are in it now, as far as the events tell.
    pub fn active(&self) -> Option<i64> {
        let moved: i64 = self.moves.iter().map(|(_, n)| *n).sum();
        match self.base_active {
            Some(base) => Some(base.saturating_add(moved).max(0)),
            None if self.moves.is_empty() => None,
            None => Some(moved.max(0)),
        }
    }

    /// What a card of it shows.
    pub fn news(&self) -> ConferenceNews {
        ConferenceNews {
            phase: self.phase,
            active: self.active(),
            attended: self.attended,
            duration_minutes: self.duration_minutes,
            end_time: self.end_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, seq: i64, change: Change) -> MeetingEvent {
        MeetingEvent {
            event_id: Some(id.to_owned()),
            conference_id: "c1".to_owned(),
            seq: Some(seq),
            change: Some(change),
            members: vec!["someone".to_owned()],
            ..MeetingEvent::default()
        }
    }

    fn created(id: &str, seq: i64, active: i64) -> MeetingEvent {
        MeetingEvent { active_num: Some(active), members: Vec::new(), ..event(id, seq, Change::Started) }
    }

    #[test]
    fn a_start_then_people_joining_and_leaving_make_the_count() {
        let mut record = ConferenceRecord::new(Some("corp"), "c1");
        assert_eq!(record.take(&created("e1", 1, 2), 10), Taken::Applied);
        assert_eq!(record.take(&event("e2", 2, Change::Joined), 11), Taken::Applied);
        assert_eq!(record.take(&event("e3", 3, Change::Joined), 12), Taken::Applied);
        assert_eq!(record.take(&event("e4", 4, Change::Left), 13), Taken::Applied);
        assert_eq!(record.news().phase, Some(Phase::Started));
        assert_eq!(record.active(), Some(3));
        assert!(record.pending);
    }

    #[test]
    fn a_skipped_sequence_number_is_noticed() {
        let mut record = ConferenceRecord::new(None, "c1");
        assert!(!record.gap_before(&created("e1", 1, 0)), "the first event says nothing of a gap");
        record.take(&created("e1", 1, 0), 10);
        assert!(!record.gap_before(&event("e2", 2, Change::Joined)));
        assert!(record.gap_before(&event("e4", 4, Change::Joined)), "3 is missing");
        record.take(&event("e4", 4, Change::Joined), 11);
        assert!(!record.gap_before(&event("e3", 3, Change::Joined)), "a late one fills it");
    }

    #[test]
    fn a_repeated_event_is_taken_once() {
        let mut record = ConferenceRecord::new(None, "c1");
        record.take(&created("e1", 1, 0), 10);
        assert_eq!(record.take(&event("e2", 2, Change::Joined), 11), Taken::Applied);
        assert_eq!(record.take(&event("e2", 2, Change::Joined), 12), Taken::Duplicate);
        assert_eq!(record.active(), Some(1));
    }

    #[test]
    fn an_older_event_never_undoes_a_newer_one() {
        let mut record = ConferenceRecord::new(None, "c1");
        let closed = MeetingEvent {
            attend_num: Some(4),
            duration_minutes: Some(30),
            members: Vec::new(),
            ..event("e9", 9, Change::Ended)
        };
        assert_eq!(record.take(&closed, 100), Taken::Applied);
        assert_eq!(record.take(&created("e1", 1, 2), 101), Taken::Stale, "the start came late");
        assert_eq!(record.take(&event("e5", 5, Change::Joined), 102), Taken::Stale);
        let news = record.news();
        assert_eq!(
            (news.phase, news.attended, news.duration_minutes, news.end_time),
            (Some(Phase::Ended), Some(4), Some(30), Some(100))
        );
    }

    #[test]
    fn people_who_joined_before_a_late_start_event_are_counted_once() {
        let mut record = ConferenceRecord::new(None, "c1");
        // Reordered: joins 2 and 4 arrive before the start (seq 3), whose count includes join 2.
        record.take(&event("e2", 2, Change::Joined), 1);
        record.take(&event("e4", 4, Change::Joined), 2);
        assert_eq!(record.active(), Some(2));
        record.take(&created("e3", 3, 1), 3);
        assert_eq!(record.active(), Some(2), "one from the start's count, one who joined after it");
        record.take(&event("e5", 5, Change::Left), 4);
        record.take(&event("e6", 6, Change::Left), 5);
        record.take(&event("e7", 7, Change::Left), 6);
        assert_eq!(record.active(), Some(0), "never below none");
    }

    #[test]
    fn a_record_reads_back_as_it_was_kept() {
        let mut record = ConferenceRecord::new(Some("corp"), "c1");
        record.take(&created("e1", 1, 2), 10);
        let json = serde_json::to_string(&record).expect("serializes");
        assert_eq!(serde_json::from_str::<ConferenceRecord>(&json).expect("reads"), record);
        assert_eq!(serde_json::from_str::<ConferenceRecord>(r#"{"conference_id":"c"}"#).expect("reads").active(), None);
    }
}
