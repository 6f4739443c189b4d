//! What makes a meeting event: a meeting started or ended by the scenario controls
//! (`conference_created` / `conference_closed`), people joining or leaving (`user_join` /
//! `user_leave`, one event per person). Each takes the conference's next `statusSeqNum`, shared
//! by both kinds, is recorded as made, and is then routed through the scenario's switches to the
//! transports in force.

use serde_json::{Map, Value, json};

use super::meeting_events::{Conference, EventsView, MeetingEvents, QueuedPush};
use crate::ids;
use crate::records::events::MeetingEvent;
use crate::scenario::{CodeAnswer, MeetingSpec};
use crate::state::stream_push::StreamEvent;

pub const STATUS_CHANGE: &str = "meeting_status_change";
pub const MEMBER_CHANGE: &str = "meeting_member_status_change";

/// The devices people join from, in turn.
const DEVICES: [&str; 4] = ["Android", "iOS", "Mac", "Windows"];

/// What happened to a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scene {
    Created,
    Closed,
}

/// Some meetings' events carry the room code, written with spaces as the historical page shows
/// (`"422 615 97832"`); most carry none, as the current field list has none.
fn spaced_room_code(code: &str, conference_id: &str) -> Option<String> {
    let carries = conference_id.bytes().map(u32::from).sum::<u32>() % 2 == 0;
    (carries && code.len() >= 9 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{} {} {}", &code[..3], &code[3..6], &code[6..]))
}

/// `openConfModel` for `spec` as it stands. `status` pairs `conference_created` with 1 as
/// DingTalk's own sample does (1 means ended in the infos API), so only `changeScene` tells.
fn conf_model(
    code: &str,
    conference_id: &str,
    spec: &MeetingSpec,
    conference: &Conference,
    now: i64,
    scene: Scene,
) -> Value {
    let start = spec.start.map_or(now, |m| m.at(now));
    let end = spec.end.map(|m| m.at(now));
    let minutes = end.map_or(0, |end| end.saturating_sub(start).max(0) / 60_000);
    let mut model = json!({
        "conferenceId": conference_id,
        "title": spec.title.clone().unwrap_or_default(),
        "status": if scene == Scene::Created { 1 } else { 2 },
        "bizType": spec.biz_type.clone().unwrap_or_else(|| "0".to_owned()),
        "creatorNick": spec.creator_nick.clone().unwrap_or_else(|| "会议创建者".to_owned()),
        "startTime": start,
        "confDuration": minutes,
        "activeNum": conference.present.len(),
        "attendNum": conference.attended,
    });
    let extra = [
        ("creatorId", spec.creator_id.clone()),
        ("scheduleConferenceId", spec.schedule_conference_id.clone()),
        ("roomCode", spaced_room_code(code, conference_id)),
    ];
    if let Some(object) = model.as_object_mut() {
        for (name, value) in extra {
            if let Some(value) = value {
                object.insert(name.to_owned(), Value::String(value));
            }
        }
    }
    model
}

impl MeetingEvents {
    /// Makes the conference's next event.
    fn make(
        &mut self,
        corp: &str,
        conference_id: &str,
        kind: &str,
        scene: &str,
        now: i64,
        mut data: Map<String, Value>,
    ) -> MeetingEvent {
        let conference = self.conferences.entry((corp.to_owned(), conference_id.to_owned())).or_default();
        conference.seq += 1;
        data.insert("statusSeqNum".to_owned(), json!(conference.seq));
        data.insert("changeScene".to_owned(), json!(scene));
        MeetingEvent {
            event_id: ids::hex(32),
            event_type: kind.to_owned(),
            corp_id: corp.to_owned(),
            conference_id: conference_id.to_owned(),
            born_ms: now,
            status_seq_num: conference.seq,
            change_scene: scene.to_owned(),
            data: Value::Object(data),
        }
    }

    /// Through the switches: queues the HTTP pushes, and answers the Stream deliveries.
    fn route(&mut self, events: Vec<MeetingEvent>, now: i64) -> Vec<MeetingEvent> {
        if self.switches.drop {
            return Vec::new();
        }
        let mut ordered = Vec::new();
        for event in events {
            if self.switches.reorder {
                let key = (event.corp_id.clone(), event.conference_id.clone());
                match self.held.remove(&key) {
                    Some(held) => ordered.extend([event, held]),
                    None => {
                        self.held.insert(key, event);
                    }
                }
            } else {
                ordered.push(event);
            }
        }
        let copies = if self.switches.duplicate { 2 } else { 1 };
        let out: Vec<MeetingEvent> = ordered.into_iter().flat_map(|event| std::iter::repeat_n(event, copies)).collect();
        if self.http.is_some() {
            self.queue.extend(out.iter().map(|event| QueuedPush { due_ms: now, attempt: 0, event: event.clone() }));
        }
        if self.stream { out } else { Vec::new() }
    }
}

impl EventsView<'_> {
    /// Pushes the Stream deliveries (outside the lock: the gateway takes it).
    fn push_stream(&self, events: Vec<MeetingEvent>) {
        for event in events {
            let frame = StreamEvent {
                event_type: event.event_type,
                corp_id: event.corp_id,
                data: event.data,
                event_id: Some(event.event_id),
            };
            self.state.stream().push_event_born(frame, event.born_ms);
        }
    }

    /// Makes events for the home organisation's meeting `conference_id` behind `code`, with
    /// `make` given the meeting and its conference; false (and nothing made) if there is none.
    fn emit(
        &self,
        code: &str,
        conference_id: &str,
        make: impl FnOnce(&MeetingSpec, &mut MeetingEvents, i64) -> Vec<MeetingEvent>,
    ) -> bool {
        let home = self.state.home_corp().to_owned();
        let now = self.state.clock().now_ms();
        let stream = self.state.update(|world| {
            let Some(CodeAnswer::Meetings(meetings)) = world.codes.get(&home, code).map(|b| &b.answer) else {
                return None;
            };
            let spec = meetings.iter().find(|m| m.conference_id.as_deref() == Some(conference_id))?.clone();
            let made = make(&spec, &mut world.events, now);
            world.journal.records.events.emitted.extend(made.iter().cloned());
            Some(world.events.route(made, now))
        });
        stream.map(|events| self.push_stream(events)).is_some()
    }

    /// `meeting_status_change` for a meeting the controls started or ended (or that a replay
    /// moved along its own timetable); a close sees everyone still in it out (without member
    /// events) and reports its length in minutes. False if there is no such meeting.
    pub fn conference_changed(&self, code: &str, conference_id: &str, scene: Scene) -> bool {
        let home = self.state.home_corp().to_owned();
        self.emit(code, conference_id, |spec, events, now| {
            let key = (home.clone(), conference_id.to_owned());
            let conference = events.conferences.entry(key).or_default();
            if scene == Scene::Closed {
                conference.present.clear();
            }
            let model = conf_model(code, conference_id, spec, conference, now, scene);
            let name = if scene == Scene::Created { "conference_created" } else { "conference_closed" };
            let data = Map::from_iter([("openConfModel".to_owned(), model)]);
            vec![events.make(&home, conference_id, STATUS_CHANGE, name, now, data)]
        })
    }

    /// `count` people join the meeting: one `user_join` each. False if there is no such meeting.
    pub fn join(&self, code: &str, conference_id: &str, count: usize) -> bool {
        let home = self.state.home_corp().to_owned();
        self.emit(code, conference_id, |_, events, now| {
            (0..count)
                .map(|_| {
                    let conference = events.conferences.entry((home.clone(), conference_id.to_owned())).or_default();
                    conference.attended += 1;
                    let n = conference.attended;
                    let user_id = ids::union_id_for(&format!("{conference_id}/{n}"));
                    let nick = format!("参会者{n}");
                    conference.present.push((user_id.clone(), nick.clone(), now));
                    let member = json!({
                        "conferenceId": conference_id, "userId": user_id, "userNick": nick,
                        "attendStatus": 3, "host": n == 1, "coHost": false, "pstnJoin": false,
                        "deviceType": DEVICES[usize::try_from(n).unwrap_or(0) % DEVICES.len()],
                        "joinTime": now,
                    });
                    let data = Map::from_iter([("openMemberModels".to_owned(), json!([member]))]);
                    events.make(&home, conference_id, MEMBER_CHANGE, "user_join", now, data)
                })
                .collect()
        })
    }

    /// `count` of those in the meeting leave, the latest to join first: one `user_leave` each
    /// (fewer if fewer are in). False if there is no such meeting.
    pub fn leave(&self, code: &str, conference_id: &str, count: usize) -> bool {
        let home = self.state.home_corp().to_owned();
        self.emit(code, conference_id, |_, events, now| {
            let mut made = Vec::new();
            for _ in 0..count {
                let conference = events.conferences.entry((home.clone(), conference_id.to_owned())).or_default();
                let Some((user_id, nick, joined)) = conference.present.pop() else { break };
                let member = json!({
                    "conferenceId": conference_id, "userId": user_id, "userNick": nick,
                    "attendStatus": 6, "host": false, "coHost": false, "pstnJoin": false,
                    "deviceType": DEVICES[0], "joinTime": joined, "leaveTime": now,
                    "duration": now.saturating_sub(joined),
                });
                let data = Map::from_iter([("openMemberModels".to_owned(), json!([member]))]);
                made.push(events.make(&home, conference_id, MEMBER_CHANGE, "user_leave", now, data));
            }
            made
        })
    }

    /// Delivers every event the reorder switch is holding back.
    pub fn release_held(&self) {
        let now = self.state.clock().now_ms();
        let stream = self.state.update(|world| {
            let held: Vec<MeetingEvent> = world.events.held.drain().map(|(_, event)| event).collect();
            let reorder = std::mem::replace(&mut world.events.switches.reorder, false);
            let out = world.events.route(held, now);
            world.events.switches.reorder = reorder;
            out
        });
        self.push_stream(stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_room_codes_come_with_spaces() {
        let carried: Vec<Option<String>> =
            ["a", "b", "c", "d"].iter().map(|id| spaced_room_code("42261597832", id)).collect();
        assert!(carried.contains(&Some("422 615 97832".to_owned())), "{carried:?}");
        assert!(carried.contains(&None), "{carried:?}");
        assert_eq!(spaced_room_code("1234", "b"), None);
    }
}
