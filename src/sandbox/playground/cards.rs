//! What the page does to interactive cards and the meetings behind them: `POST /api/press`
//! presses a card's button the real way (the simulator calls the bot back, over its Stream
//! gateway or to the HTTP route the bot registered), and `GET`/`POST /api/meetings` are the
//! scenario controls that start, end and rename a booked meeting and have people join and
//! leave it, so a person watches its card come alive.
//!
//! A meeting starts (or ends) at its booked time: the control runs the simulated clock to that
//! time and moves the meeting. Starts, ends, joins and leaves reach the bot as DingTalk's
//! meeting events (the simulator pushes them over its Stream gateway or to the bot's
//! `/dingtalk/events`), which the bot shows on its cards at once, without a lookup.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dingtalk_sim::scenario::Moment;
use serde::{Deserialize, Serialize};

use super::{Playground, error};

/// The longest title the rename control takes, in characters.
const MAX_TITLE_CHARS: usize = 100;
/// The most people one join or leave control moves.
const MAX_PEOPLE: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PressRequest {
    out_track_id: String,
    #[serde(default = "refresh")]
    action: String,
}

fn refresh() -> String {
    "refresh".to_owned()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PressAnswer {
    /// `stream` (pushed down the bot's WebSocket) or `http` (posted to its card callback).
    via: &'static str,
    /// The bot's HTTP answer, for `http`.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// The frame's `messageId`, for `stream`.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_message_id: Option<String>,
}

/// `POST /api/press`: the person presses button `action` of card `outTrackId`.
pub(super) async fn press(
    State(pg): State<Arc<Playground>>,
    request: Result<Json<PressRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let Some(card) = pg.sim.cards().card(&request.out_track_id) else {
        return error(StatusCode::NOT_FOUND, "no such card: the bot delivered none with this outTrackId");
    };
    let user = pg.sim.scenario().chat.sender_staff_id.clone();
    if card.callback_type.as_deref() == Some("STREAM") {
        let Some(pushed) = pg.sim.cards().press(&card.out_track_id, &user, &request.action) else {
            return error(StatusCode::CONFLICT, "the card does not call back over the Stream");
        };
        let answer = PressAnswer { via: "stream", status: None, stream_message_id: Some(pushed.message_id) };
        return Json(answer).into_response();
    }
    // Signed with the wall clock the bot checks signatures against, however far the simulated
    // clock was run ahead.
    let now = crate::clock::now_ms();
    match pg.sim.cards().press_http_at(&card.out_track_id, &user, &request.action, Some(now)).await {
        Some(0) => error(StatusCode::BAD_GATEWAY, "the bot did not answer the card callback"),
        Some(status) => {
            Json(PressAnswer { via: "http", status: Some(status), stream_message_id: None }).into_response()
        }
        None => error(StatusCode::CONFLICT, "the card has no callback route: the bot registered none for it"),
    }
}

/// A meeting the scenario controls can move.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Movable {
    code: String,
    conference_id: String,
    title: Option<String>,
    /// 0 not started, 2 in progress, 1 ended.
    status: Option<i64>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    /// How many are in it now, as its member events tell.
    active_num: usize,
}

fn movable(pg: &Playground) -> Vec<Movable> {
    let now = pg.sim.clock().now_ms();
    pg.sim
        .meetings()
        .movable_meetings()
        .into_iter()
        .map(|(code, spec)| Movable {
            code,
            conference_id: spec.conference_id.clone().unwrap_or_default(),
            title: spec.title.clone(),
            status: spec.status,
            start_ms: spec.start.map(|m| m.at(now)),
            end_ms: spec.end.map(|m| m.at(now)),
            active_num: pg.sim.events().active_num(spec.conference_id.as_deref().unwrap_or_default()),
        })
        .collect()
}

/// `GET /api/meetings`: the meetings the controls can move.
pub(super) async fn meetings(State(pg): State<Arc<Playground>>) -> Json<Vec<Movable>> {
    Json(movable(&pg))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Move {
    Start,
    End,
    Rename,
    Join,
    Leave,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct MoveRequest {
    code: String,
    conference_id: String,
    action: Move,
    /// The new title, for `rename`.
    #[serde(default)]
    title: Option<String>,
    /// How many join or leave, for `join` and `leave` (1 when left out).
    #[serde(default)]
    count: Option<usize>,
}

/// `POST /api/meetings`: starts, ends or renames a meeting, or has people join or leave it;
/// answers the meetings as they are.
pub(super) async fn move_meeting(
    State(pg): State<Arc<Playground>>,
    request: Result<Json<MoveRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let found =
        pg.sim.meetings().movable_meetings().into_iter().find(|(code, spec)| {
            *code == request.code && spec.conference_id.as_deref() == Some(&request.conference_id)
        });
    let Some((code, spec)) = found else {
        return error(StatusCode::NOT_FOUND, "no such meeting among those the controls can move");
    };
    let id = request.conference_id.as_str();
    let moved = match request.action {
        Move::Start => pg.at_booked_time(spec.start, || pg.sim.meetings().start_meeting(&code, id)),
        Move::End => pg.at_booked_time(spec.end, || pg.sim.meetings().end_meeting(&code, id)),
        Move::Join | Move::Leave => {
            let count = request.count.unwrap_or(1);
            if !(1..=MAX_PEOPLE).contains(&count) {
                return error(StatusCode::BAD_REQUEST, &format!("count is 1 to {MAX_PEOPLE} people"));
            }
            if spec.status != Some(2) {
                return error(StatusCode::CONFLICT, "people join and leave a meeting in progress: start it first");
            }
            match request.action {
                Move::Join => pg.sim.events().join(&code, id, count),
                _ => pg.sim.events().leave(&code, id, count),
            }
        }
        Move::Rename => {
            let title = request.title.as_deref().map(str::trim).unwrap_or_default();
            if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
                let problem = format!("give the meeting a title of 1 to {MAX_TITLE_CHARS} characters");
                return error(StatusCode::BAD_REQUEST, &problem);
            }
            pg.sim.meetings().rename_meeting(&code, id, title)
        }
    };
    if !moved {
        return error(StatusCode::CONFLICT, "the meeting changed under the control; reload the page");
    }
    Json(movable(&pg)).into_response()
}

impl Playground {
    /// Runs the clock to the `booked` time (if still ahead), then makes the change (whose event
    /// the bot shows at once).
    fn at_booked_time(&self, booked: Option<Moment>, change: impl FnOnce() -> bool) -> bool {
        let clock = self.sim.clock();
        let now = clock.now_ms();
        if let Some(at) = booked.map(|m| m.at(now)).filter(|at| *at > now) {
            clock.advance(Duration::from_millis(u64::try_from(at - now).unwrap_or(0)));
        }
        change()
    }
}
