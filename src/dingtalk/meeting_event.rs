//! DingTalk's meeting events as typed values: `meeting_status_change` (a conference created or
//! closed) and `meeting_member_status_change` (people joining and leaving), and their
//! `_target_push` variants. Pure: parsing only.
//!
//! The same fields arrive three ways: as a Stream `EVENT` frame's `data` (the envelope's
//! `eventId` and `eventCorpId` are the frame's headers), as a decrypted HTTP push (flat: the
//! envelope's `EventType`, `CorpId` and `eventId` beside the data's fields), and as an item of the
//! failed-push list (`callBackData`, a JSON string of the HTTP push). What happened is read from
//! `changeScene`, never from `openConfModel.status`: DingTalk's own sample pairs
//! `conference_created` with status 1, which the infos API uses for "ended".

use serde::Deserialize;
use serde_json::Value;

use super::loose_json;

/// The event types this module reads.
pub const STATUS_CHANGE: &str = "meeting_status_change";
pub const STATUS_CHANGE_TARGETED: &str = "meeting_status_change_target_push";
pub const MEMBER_CHANGE: &str = "meeting_member_status_change";
pub const MEMBER_CHANGE_TARGETED: &str = "meeting_member_status_change_target_push";

/// Whether `event_type` is a meeting event this module reads.
pub fn is_meeting_event(event_type: &str) -> bool {
    matches!(event_type, STATUS_CHANGE | STATUS_CHANGE_TARGETED | MEMBER_CHANGE | MEMBER_CHANGE_TARGETED)
}

/// What happened to a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `conference_created`: the meeting is running.
    Started,
    /// `conference_closed`: the meeting ended.
    Ended,
    /// `user_join`.
    Joined,
    /// `user_leave`.
    Left,
    /// `user_invited`, `user_kicked` or a scene not documented: read, applied to nothing.
    Other(String),
}

impl Change {
    fn of(scene: &str) -> Self {
        match scene {
            "conference_created" => Self::Started,
            "conference_closed" => Self::Ended,
            "user_join" => Self::Joined,
            "user_leave" => Self::Left,
            other => Self::Other(other.to_owned()),
        }
    }

    /// A short stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Ended => "ended",
            Self::Joined => "joined",
            Self::Left => "left",
            Self::Other(_) => "other",
        }
    }
}

/// One meeting event, reduced to what a card shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeetingEvent {
    /// The business id to deduplicate on (`eventId`), when the push carried one.
    pub event_id: Option<String>,
    /// The organisation (`eventCorpId`, `CorpId`).
    pub corp_id: Option<String>,
    pub conference_id: String,
    /// `statusSeqNum`: one sequence for a conference's status and member events.
    pub seq: Option<i64>,
    pub change: Option<Change>,
    pub title: Option<String>,
    /// The meeting code with DingTalk's spaces taken out (`"422 615 97832"` is `42261597832`).
    pub room_code: Option<String>,
    /// People in the meeting now.
    pub active_num: Option<i64>,
    /// People who took part, in all.
    pub attend_num: Option<i64>,
    /// How long it lasted, in minutes (`confDuration`).
    pub duration_minutes: Option<i64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub creator_nick: Option<String>,
    /// Member events: the people who joined or left (their nicks, as sent).
    pub members: Vec<String>,
}

/// The data of either event type, wherever it came from.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    open_conf_model: Option<ConfModel>,
    #[serde(default)]
    open_member_models: Vec<MemberModel>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    status_seq_num: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    change_scene: Option<String>,
    #[serde(default, rename = "eventId", alias = "EventId", deserialize_with = "loose_json::opt_string")]
    event_id: Option<String>,
    #[serde(default, rename = "CorpId", alias = "corpId", deserialize_with = "loose_json::opt_string")]
    corp_id: Option<String>,
    #[serde(default, rename = "EventType", alias = "eventType", deserialize_with = "loose_json::opt_string")]
    event_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfModel {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    conference_id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    title: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    room_code: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    active_num: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    attend_num: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    conf_duration: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    start_time: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    end_time: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    creator_nick: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberModel {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    conference_id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    user_nick: Option<String>,
}

/// Why a push could not be read as a meeting event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the event data is not a JSON object: {0}")]
    NotJson(String),
    #[error("the event names no conference (no openConfModel.conferenceId nor openMemberModels[].conferenceId)")]
    NoConference,
}

/// A Stream frame's meeting event: its `data` text, with the `eventId` and `eventCorpId` headers.
pub fn from_stream(event_id: Option<&str>, corp_id: Option<&str>, data: &str) -> Result<Vec<MeetingEvent>, ParseError> {
    let parsed: Data = serde_json::from_str(data).map_err(|e| ParseError::NotJson(e.to_string()))?;
    build(parsed, event_id.map(str::to_owned), corp_id.map(str::to_owned))
}

/// A decrypted HTTP push's meeting event (flat: the envelope beside the data), with its type.
pub fn from_http(body: &str) -> Result<(Option<String>, Vec<MeetingEvent>), ParseError> {
    let mut parsed: Data = serde_json::from_str(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let event_type = parsed.event_type.take();
    let (event_id, corp) = (parsed.event_id.take(), parsed.corp_id.take());
    Ok((event_type, build(parsed, event_id, corp)?))
}

/// The type of a decrypted HTTP push (`EventType`), whatever it is; `None` when unreadable.
pub fn http_event_type(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body).ok()?.get("EventType").and_then(Value::as_str).map(str::to_owned)
}

/// One conference's event per conference the data names (a member event may name several).
fn build(data: Data, event_id: Option<String>, corp_id: Option<String>) -> Result<Vec<MeetingEvent>, ParseError> {
    let change = data.change_scene.as_deref().map(Change::of);
    let base = MeetingEvent {
        event_id: event_id.filter(|id| !id.trim().is_empty()),
        corp_id: corp_id.filter(|corp| !corp.trim().is_empty()),
        seq: data.status_seq_num,
        change,
        ..MeetingEvent::default()
    };
    if let Some(model) = data.open_conf_model
        && let Some(conference_id) = model.conference_id.filter(|id| !id.trim().is_empty())
    {
        return Ok(vec![MeetingEvent {
            conference_id,
            title: model.title,
            room_code: model.room_code.map(|code| code.chars().filter(|c| !c.is_whitespace()).collect()),
            active_num: model.active_num,
            attend_num: model.attend_num,
            duration_minutes: model.conf_duration,
            start_time: model.start_time,
            end_time: model.end_time,
            creator_nick: model.creator_nick,
            ..base
        }]);
    }
    let mut events: Vec<MeetingEvent> = Vec::new();
    for member in data.open_member_models {
        let Some(conference_id) = member.conference_id.filter(|id| !id.trim().is_empty()) else { continue };
        let nick = member.user_nick.unwrap_or_default();
        match events.iter_mut().find(|event| event.conference_id == conference_id) {
            Some(event) => event.members.push(nick),
            None => events.push(MeetingEvent { conference_id, members: vec![nick], ..base.clone() }),
        }
    }
    if events.is_empty() { Err(ParseError::NoConference) } else { Ok(events) }
}

/// One item of the failed-push list (`GET /call_back/get_call_back_failed_result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPush {
    /// The event type (`call_back_tag`).
    pub tag: Option<String>,
    pub corp_id: Option<String>,
    /// The push as DingTalk would have sent it, decrypted (flat JSON text).
    pub body: String,
}

/// The failed-push list's answer: its items and whether more are waiting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailedPushes {
    pub pushes: Vec<FailedPush>,
    pub has_more: bool,
}

/// Reads the failed-push list in either spelling: the old `failed_list[{call_back_tag, corpid,
/// <tag>: {…}}]`/`has_more`, or the new `failedList[{callBackTag, corpId, callBackData}]`/`hasMore`
/// (`callBackData` a JSON string). Items whose data cannot be found are skipped.
pub fn failed_pushes(answer: &Value) -> FailedPushes {
    let list = answer.get("failed_list").or_else(|| answer.get("failedList")).and_then(Value::as_array);
    let has_more = answer
        .get("has_more")
        .or_else(|| answer.get("hasMore"))
        .is_some_and(|more| more.as_bool().unwrap_or_else(|| more.as_str() == Some("true")));
    let text =
        |item: &Value, keys: &[&str]| keys.iter().find_map(|k| item.get(*k)).and_then(Value::as_str).map(str::to_owned);
    let pushes = list
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let tag = text(item, &["call_back_tag", "callBackTag"]);
            let corp_id = text(item, &["corpid", "corpId", "corp_id"]);
            let body = text(item, &["callBackData", "call_back_data"]).or_else(|| {
                let data = tag.as_deref().and_then(|tag| item.get(tag)).filter(|v| v.is_object())?;
                let mut flat = data.clone();
                if let (Some(object), Some(tag)) = (flat.as_object_mut(), tag.as_deref()) {
                    object.entry("EventType").or_insert_with(|| Value::from(tag));
                    if let Some(corp) = &corp_id {
                        object.entry("CorpId").or_insert_with(|| Value::from(corp.as_str()));
                    }
                }
                Some(flat.to_string())
            })?;
            Some(FailedPush { tag, corp_id, body })
        })
        .collect();
    FailedPushes { pushes, has_more }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The reference's `meeting_status_change` sample.
    const CREATED: &str = r#"{"openConfModel":{"conferenceId":"6321aaa9b6ed40","title":"开放会议","status":1,"bizType":"3",
      "bizScene":"autoCall","creatorId":"2iPOwiEiE","creatorNick":"开放会议创建者",
      "startTime":1684215608570,"confDuration":1000,"activeNum":10,"attendNum":6,"invitedNum":10,
      "scheduleConferenceId":"f2fbaa7d-xxxx-45d6","calendarEventId":"UUNoaGV5md3UT09"},
      "statusSeqNum":1,"changeScene":"conference_created"}"#;

    #[test]
    fn the_reference_status_sample_is_a_start_whatever_its_status_says() {
        let events = from_stream(Some("ev1"), Some("dingcorp"), CREATED).expect("parses");
        let [event] = events.as_slice() else { panic!("one event: {events:?}") };
        assert_eq!(event.change, Some(Change::Started));
        assert_eq!(event.conference_id, "6321aaa9b6ed40");
        assert_eq!((event.active_num, event.attend_num, event.duration_minutes), (Some(10), Some(6), Some(1000)));
        assert_eq!((event.event_id.as_deref(), event.corp_id.as_deref()), (Some("ev1"), Some("dingcorp")));
        assert_eq!(event.seq, Some(1));
        assert_eq!(event.room_code, None);
    }

    #[test]
    fn a_target_push_room_code_loses_its_spaces_and_numbers_may_be_strings() {
        let data = r#"{"openConfModel":{"conferenceId":"c1","roomCode":"422 615 97832","bizType":0,
            "activeNum":"3","endTime":1684215608999},"statusSeqNum":"7","changeScene":"conference_closed"}"#;
        let event = from_stream(None, None, data).expect("parses").remove(0);
        assert_eq!(event.room_code.as_deref(), Some("42261597832"));
        assert_eq!((event.change, event.seq, event.active_num), (Some(Change::Ended), Some(7), Some(3)));
        assert_eq!(event.end_time, Some(1_684_215_608_999));
    }

    #[test]
    fn member_events_group_their_people_by_conference() {
        let data = r#"{"openMemberModels":[{"conferenceId":"c1","userId":"u1","userNick":"甲","attendStatus":3},
            {"conferenceId":"c1","userNick":"乙"},{"conferenceId":"c2","userNick":"丙"},{"userNick":"no conference"}],
            "statusSeqNum":2,"changeScene":"user_join"}"#;
        let events = from_stream(Some("ev2"), None, data).expect("parses");
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].conference_id.as_str(), events[0].members.len()), ("c1", 2));
        assert_eq!((events[1].conference_id.as_str(), events[1].members.as_slice()), ("c2", &["丙".to_owned()][..]));
        assert!(events.iter().all(|e| e.change == Some(Change::Joined) && e.seq == Some(2)));
    }

    #[test]
    fn scenes_map_to_changes_and_unknown_ones_are_kept() {
        let scene = |s: &str| {
            let data = json!({"openConfModel": {"conferenceId": "c"}, "changeScene": s}).to_string();
            from_stream(None, None, &data).expect("parses").remove(0).change
        };
        assert_eq!(scene("user_leave"), Some(Change::Left));
        assert_eq!(scene("user_kicked"), Some(Change::Other("user_kicked".into())));
        let no_scene = from_stream(None, None, r#"{"openConfModel":{"conferenceId":"c"}}"#).expect("parses");
        assert_eq!(no_scene[0].change, None);
    }

    #[test]
    fn an_http_push_is_flat_with_its_envelope_beside_the_data() {
        let body = r#"{"EventType":"meeting_status_change","EventTime":1663143335567,"CorpId":"dingX","BizId":"16631",
            "eventId":"c7c7","openConfModel":{"conferenceId":"c9","activeNum":2},"statusSeqNum":4,"changeScene":"conference_created"}"#;
        let (event_type, events) = from_http(body).expect("parses");
        assert_eq!(event_type.as_deref(), Some(STATUS_CHANGE));
        assert_eq!(events[0].event_id.as_deref(), Some("c7c7"));
        assert_eq!(events[0].corp_id.as_deref(), Some("dingX"));
        assert_eq!(http_event_type(body).as_deref(), Some(STATUS_CHANGE));
        assert_eq!(http_event_type(r#"{"EventType":"check_url"}"#).as_deref(), Some("check_url"));
        assert_eq!(http_event_type("nope"), None);
    }

    #[test]
    fn unreadable_data_is_an_error_not_a_panic() {
        assert!(matches!(from_stream(None, None, "not json"), Err(ParseError::NotJson(_))));
        assert_eq!(from_stream(None, None, "{}"), Err(ParseError::NoConference));
        assert_eq!(from_stream(None, None, r#"{"openConfModel":{"conferenceId":" "}}"#), Err(ParseError::NoConference));
        assert!(matches!(from_stream(None, None, "[1]"), Err(ParseError::NotJson(_))));
        assert!(from_http("").is_err());
    }

    #[test]
    fn meeting_event_types_are_known_by_name() {
        for t in [STATUS_CHANGE, STATUS_CHANGE_TARGETED, MEMBER_CHANGE, MEMBER_CHANGE_TARGETED] {
            assert!(is_meeting_event(t), "{t}");
        }
        assert!(!is_meeting_event("suite_ticket") && !is_meeting_event("calendar_event_change"));
    }

    #[test]
    fn the_failed_push_list_reads_in_both_spellings() {
        let new = json!({"hasMore": true, "failedList": [
            {"callBackTag": "meeting_status_change", "corpId": "dingA", "eventTime": 1,
             "callBackData": "{\"EventType\":\"meeting_status_change\",\"eventId\":\"e1\",\"openConfModel\":{\"conferenceId\":\"c1\"}}"}]});
        let read = failed_pushes(&new);
        assert!(read.has_more);
        assert_eq!(read.pushes[0].tag.as_deref(), Some(STATUS_CHANGE));
        let (_, events) = from_http(&read.pushes[0].body).expect("a push");
        assert_eq!(events[0].event_id.as_deref(), Some("e1"));

        let old = json!({"errcode": 0, "errmsg": "ok", "has_more": false, "failed_list": [
            {"call_back_tag": "meeting_member_status_change", "corpid": "dingB", "event_time": 2,
             "meeting_member_status_change": {"eventId": "e2", "openMemberModels": [{"conferenceId": "c2"}], "changeScene": "user_leave"}},
            {"call_back_tag": "bpms_task_change", "corpid": "dingB"}]});
        let read = failed_pushes(&old);
        assert!(!read.has_more);
        assert_eq!(read.pushes.len(), 1, "an item without data is skipped");
        let (event_type, events) = from_http(&read.pushes[0].body).expect("a push");
        assert_eq!(event_type.as_deref(), Some(MEMBER_CHANGE));
        assert_eq!((events[0].corp_id.as_deref(), events[0].change.clone()), (Some("dingB"), Some(Change::Left)));
        assert_eq!(failed_pushes(&json!({})), FailedPushes::default());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_answered_without_a_panic(text in ".{0,200}") {
            let _ = from_stream(Some("e"), Some("c"), &text);
            let _ = from_http(&text);
            let _ = http_event_type(&text);
        }
    }
}
