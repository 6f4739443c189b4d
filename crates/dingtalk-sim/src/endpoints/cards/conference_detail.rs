//! `GET /v1.0/conference/videoConferences/{conferenceId}`: a seeded meeting's `confInfo`, with
//! how many people are in it now (`activeNum`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{accepted, refused};
use crate::endpoints::answer;
use crate::endpoints::conference_entries::instances;
use crate::endpoints::new_style::{Refusal, authorize};
use crate::records::cards::CardCallKind;
use crate::scenario::CodeAnswer;
use crate::state::SimState;

/// `confInfo` of conference `conference_id` among the organisation's seeded meetings.
pub(super) async fn detail(
    State(state): State<Arc<SimState>>,
    Path(conference_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let kind = CardCallKind::ConferenceDetail;
    let corp = match authorize(&state, &headers) {
        Ok(corp) => corp,
        Err(refusal) => return refused(&state, kind, None, &[], refusal),
    };
    let now = state.clock().now_ms();
    let found = state.meetings().find_conference(&corp, |code, answer| match answer {
        CodeAnswer::Meetings(meetings) => {
            instances(code, meetings, now).into_iter().find(|m| m.conference_id.as_deref() == Some(&conference_id))
        }
        _ => None,
    });
    let Some(found) = found else {
        let refusal = Refusal::new(StatusCode::BAD_REQUEST, "conferenceNotExist", "conference does not exist");
        return refused(&state, kind, Some(corp), &[], refusal);
    };
    let active = match found.status {
        Some(2) => state.cards().active_num(&conference_id),
        _ => 0,
    };
    let mut info = json!({
        "conferenceId": conference_id,
        "title": found.title,
        "status": found.status,
        "activeNum": active,
        "attendNum": active,
        "invitedNum": active,
        "creatorId": found.creator_id,
        "creatorNick": found.creator_nick,
        "startTime": found.start_time,
        "endTime": found.end_time,
        "confDuration": found.conf_duration,
        "externalLinkUrl": found.external_link_url,
        "roomCode": found.room_code,
        "scheduleConferenceId": found.schedule_conference_id,
        "bizType": found.biz_type,
        "extensionAppSettings": [],
    });
    // Absent fields are left out, as DingTalk leaves them out.
    if let Value::Object(fields) = &mut info {
        fields.retain(|_, value| !value.is_null());
    }
    let answer = json!({ "confInfo": info });
    state.cards().record_call(accepted(&state, kind, &corp, &Bytes::new()), None);
    answer::json(StatusCode::OK, &answer)
}
