//! Scenario controls that move a meeting behind a code as its organiser would in DingTalk:
//! cancel it, reschedule it, start it early, end it, rename it. The next lookup of the code answers the
//! change, so a test (or a person in the playground) watches what the bot does about it.

use super::event_emit::Scene;
use super::meetings::MeetingsView;
use crate::scenario::{CodeAnswer, MeetingSpec, Moment};

impl MeetingsView<'_> {
    /// Runs `change` on the home organisation's meeting `conference_id` behind `code` (only
    /// meetings whose scenario entry names its `conference_id`); false if there is none.
    fn move_meeting(&self, code: &str, conference_id: &str, change: impl FnOnce(&mut Vec<MeetingSpec>, usize)) -> bool {
        let home = self.state.home_corp().to_owned();
        self.state.update(|world| {
            let CodeAnswer::Meetings(meetings) = &mut world.codes.entry(&home, code).answer else { return false };
            let Some(at) = meetings.iter().position(|m| m.conference_id.as_deref() == Some(conference_id)) else {
                return false;
            };
            change(meetings, at);
            true
        })
    }

    /// Fixes every meeting time written relative to the clock (`"+2h"`) at the instant it
    /// stands for now, so meetings stay put while the clock runs (and run fast) instead of
    /// moving along with it: a reminder for one then comes due.
    pub fn pin_times(&self) {
        let now = self.state.clock().now_ms();
        let pin = |moment: &mut Option<Moment>| {
            if let Some(at) = moment {
                *at = Moment::Absolute(at.at(now));
            }
        };
        self.state.update(|world| {
            for behaviour in world.codes.all_mut() {
                if let CodeAnswer::Meetings(meetings) = &mut behaviour.answer {
                    for meeting in meetings {
                        pin(&mut meeting.start);
                        pin(&mut meeting.end);
                    }
                }
            }
        });
    }

    /// The home organisation's meetings that can be moved (their scenario entry names a
    /// `conference_id`), as (code, meeting) in the scenario's order.
    pub fn movable_meetings(&self) -> Vec<(String, MeetingSpec)> {
        let home = self.state.home_corp().to_owned();
        let world = self.state.lock();
        let mut out = Vec::new();
        for code in &self.state.scenario().codes {
            if let Some(CodeAnswer::Meetings(meetings)) = world.codes.get(&home, &code.code).map(|b| &b.answer) {
                let movable = meetings.iter().filter(|m| m.conference_id.is_some());
                out.extend(movable.map(|m| (code.code.clone(), m.clone())));
            }
        }
        // Then the meetings started through the API, so a person can join and end them too.
        for created in world.conferences.created.iter().filter(|c| c.corp_id == home) {
            let code = created.code_digits();
            if let Some(CodeAnswer::Meetings(meetings)) = world.codes.get(&home, &code).map(|b| &b.answer) {
                let own = meetings.iter().filter(|m| m.conference_id.as_deref() == Some(&created.conference_id));
                out.extend(own.map(|m| (code.clone(), m.clone())));
            }
        }
        out
    }

    /// Renames the meeting (its organiser edited the booking).
    pub fn rename_meeting(&self, code: &str, conference_id: &str, title: &str) -> bool {
        self.move_meeting(code, conference_id, |meetings, at| meetings[at].title = Some(title.to_owned()))
    }

    /// Cancels the meeting: it leaves the code's answer, as a cancelled booking does.
    pub fn cancel_meeting(&self, code: &str, conference_id: &str) -> bool {
        self.move_meeting(code, conference_id, |meetings, at| {
            meetings.remove(at);
        })
    }

    /// Moves the meeting to start at `start_ms` (simulator ms), keeping its length.
    pub fn reschedule_meeting(&self, code: &str, conference_id: &str, start_ms: i64) -> bool {
        let now = self.state.clock().now_ms();
        self.move_meeting(code, conference_id, |meetings, at| {
            let meeting = &mut meetings[at];
            let old_start = meeting.start.map(|s| s.at(now));
            if let (Some(old_start), Some(end)) = (old_start, meeting.end) {
                let length = end.at(now).saturating_sub(old_start);
                meeting.end = Some(Moment::Absolute(start_ms.saturating_add(length)));
            }
            meeting.start = Some(Moment::Absolute(start_ms));
        })
    }

    /// Starts the meeting now (status 2), however early; DingTalk says so in a
    /// `conference_created` event.
    pub fn start_meeting(&self, code: &str, conference_id: &str) -> bool {
        let now = self.state.clock().now_ms();
        let moved = self.move_meeting(code, conference_id, |meetings, at| {
            meetings[at].status = Some(2);
            meetings[at].start = Some(Moment::Absolute(now));
        });
        if moved {
            self.state.events().conference_changed(code, conference_id, Scene::Created);
        }
        moved
    }

    /// Ends the meeting now (status 1); DingTalk says so in a `conference_closed` event.
    pub fn end_meeting(&self, code: &str, conference_id: &str) -> bool {
        let now = self.state.clock().now_ms();
        let moved = self.move_meeting(code, conference_id, |meetings, at| {
            meetings[at].status = Some(1);
            meetings[at].end = Some(Moment::Absolute(now));
        });
        if moved {
            // One started through the API is closed too, as its host ending it in the client is.
            self.state.update(|world| {
                let created = world.conferences.created.iter_mut().find(|c| c.conference_id == conference_id);
                if let Some(created) = created.filter(|c| c.closed_ms.is_none()) {
                    created.closed_ms = Some(now);
                }
            });
            self.state.events().conference_changed(code, conference_id, Scene::Closed);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::{CodeAnswer, Moment};
    use crate::{Scenario, SimClock, SimState};

    fn state() -> SimState {
        SimState::new(Scenario::builtin().expect("builtin"), SimClock::frozen(1_800_000_000_000), "http://127.0.0.1:1")
    }

    fn meetings(state: &SimState) -> Vec<crate::scenario::MeetingSpec> {
        match state.meetings().code_behaviour("123456789").map(|b| b.answer) {
            Some(CodeAnswer::Meetings(meetings)) => meetings,
            other => panic!("meetings, not {other:?}"),
        }
    }

    #[test]
    fn a_meeting_can_be_moved_started_ended_and_cancelled() {
        let state = state();
        let mut list = meetings(&state);
        list[1].conference_id = Some("booked".to_owned());
        list[1].end = Some(Moment::Absolute(1_800_000_000_000 + 3 * 3_600_000));
        state.meetings().set_answer("123456789", CodeAnswer::Meetings(list));
        assert!(state.meetings().reschedule_meeting("123456789", "booked", 1_800_000_000_000 + 5 * 3_600_000));
        let moved = &meetings(&state)[1];
        assert_eq!(moved.start, Some(Moment::Absolute(1_800_000_000_000 + 5 * 3_600_000)));
        assert_eq!(moved.end, Some(Moment::Absolute(1_800_000_000_000 + 6 * 3_600_000)), "the same length");
        assert!(state.meetings().start_meeting("123456789", "booked"));
        assert_eq!(meetings(&state)[1].status, Some(2));
        assert!(state.meetings().end_meeting("123456789", "booked"));
        assert_eq!(meetings(&state)[1].status, Some(1));
        assert!(state.meetings().rename_meeting("123456789", "booked", "改过的标题"));
        assert_eq!(meetings(&state)[1].title.as_deref(), Some("改过的标题"));
        assert!(
            state
                .meetings()
                .movable_meetings()
                .iter()
                .any(|(code, m)| code == "123456789" && m.title == meetings(&state)[1].title)
        );
        assert!(state.meetings().cancel_meeting("123456789", "booked"));
        assert_eq!(meetings(&state).len(), 2);
        assert!(!state.meetings().cancel_meeting("123456789", "booked"), "gone");
        assert!(!state.meetings().start_meeting("000", "x"));
    }

    #[test]
    fn pinned_times_stay_put_while_the_clock_runs() {
        let state = state();
        state.meetings().pin_times();
        let before = meetings(&state);
        state.clock().advance(std::time::Duration::from_secs(3600));
        assert_eq!(meetings(&state), before);
        assert_eq!(before[1].start, Some(Moment::Absolute(1_800_000_000_000 + 2 * 3_600_000)));
    }
}
