//! The conference API's meeting entries (`conferenceList` items, and the fields of `confInfo`):
//! every instance behind a code, dated against the simulator clock, with the fields the
//! scenario leaves out absent.

use serde::Serialize;

use crate::ids;
use crate::scenario::MeetingSpec;

/// One entry of `conferenceList`, fields in the SDK's order; absent fields are left out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WireConference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_link_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_nick: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_conference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_type: Option<String>,
}

/// Every instance behind `code`, dated against `now_ms`.
pub fn instances(code: &str, meetings: &[MeetingSpec], now_ms: i64) -> Vec<WireConference> {
    let mut out = Vec::new();
    for (index, spec) in meetings.iter().enumerate() {
        for n in 0..spec.count {
            out.push(instance(code, index, n, spec, now_ms));
        }
    }
    out
}

fn instance(code: &str, index: usize, n: u32, spec: &MeetingSpec, now_ms: i64) -> WireConference {
    let keep = |field: &str| !spec.omit.iter().any(|f| f == field);
    let shift = spec.step.0.saturating_mul(i64::from(n));
    let start = spec.start.map(|m| m.at(now_ms).saturating_add(shift));
    let end = spec.end.map(|m| m.at(now_ms).saturating_add(shift));
    let title = spec.title.as_ref().map(|t| t.replace("{n}", &(n + 1).to_string()));
    let conference_id =
        spec.conference_id.clone().unwrap_or_else(|| ids::stable_hex(&format!("{code}/{index}/{n}"), 24));
    let duration = match (start, end) {
        (Some(start), Some(end)) if end >= start => end.checked_sub(start),
        _ => None,
    };
    WireConference {
        conference_id: Some(conference_id).filter(|_| keep("conferenceId")),
        title: title.filter(|_| keep("title")),
        room_code: Some(code.to_owned()).filter(|_| keep("roomCode")),
        external_link_url: spec.external_link_url.clone().filter(|_| keep("externalLinkUrl")),
        status: spec.status.filter(|_| keep("status")),
        start_time: start.filter(|_| keep("startTime")),
        end_time: end.filter(|_| keep("endTime")),
        conf_duration: duration.filter(|_| keep("confDuration")),
        creator_id: spec.creator_id.clone().filter(|_| keep("creatorId")),
        creator_nick: spec.creator_nick.clone().filter(|_| keep("creatorNick")),
        schedule_conference_id: spec.schedule_conference_id.clone().filter(|_| keep("scheduleConferenceId")),
        biz_type: spec.biz_type.clone().filter(|_| keep("bizType")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{CodeAnswer, Scenario};

    /// The builtin scenario's instances for `code`, at a fixed moment.
    fn builtin_instances(code: &str) -> Vec<WireConference> {
        let scenario = Scenario::builtin().expect("valid");
        let CodeAnswer::Meetings(meetings) = &scenario.code(code).expect("seeded").answer else { panic!("meetings") };
        instances(code, meetings, 1_700_000_000_000)
    }

    #[test]
    fn a_running_meeting_has_no_end_time_or_duration() {
        let all = builtin_instances("123456789");
        let running = all.iter().find(|m| m.status == Some(2)).expect("a running meeting");
        assert!(running.end_time.is_none() && running.conf_duration.is_none());
        let ended = all.iter().find(|m| m.status == Some(1)).expect("an ended meeting");
        assert_eq!(ended.conf_duration, Some(ended.end_time.expect("end") - ended.start_time.expect("start")));
        assert!(all.iter().all(|m| m.room_code.as_deref() == Some("123456789")));
    }

    #[test]
    fn a_series_counts_its_instances_and_steps_back_in_time() {
        let all = builtin_instances("999000130");
        assert_eq!(all.len(), 130);
        assert_eq!(all[0].title.as_deref(), Some("每日站会 第1期"));
        assert_eq!(all[129].title.as_deref(), Some("每日站会 第130期"));
        assert_eq!(all[0].start_time.expect("start") - all[1].start_time.expect("start"), 86_400_000);
        let ids: std::collections::HashSet<_> = all.iter().map(|m| m.conference_id.clone()).collect();
        assert_eq!(ids.len(), 130);
    }

    #[test]
    fn omitted_fields_are_absent_from_the_json() {
        let all = builtin_instances("111222333");
        let json = serde_json::to_value(&all[1]).expect("json");
        assert!(json.get("conferenceId").is_none() && json.get("title").is_none(), "{json}");
        assert_eq!(json["status"], 0);
    }
}
