//! The old-style contact API: `POST /topapi/v2/user/get?access_token=` with
//! `{"userid","language"}` answers the person's `{"userid","unionid","name"}` in `result`
//! (conference reference §6: how the bot turns a sender's staff id into the union id calendars
//! use). A token sees only its own organisation's people; without `qyapi_get_member` the answer
//! is `60011`, for a staff id it does not know `33012`. Every lookup is recorded.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use super::answer::json_object;
use super::old_style::{self, OldStyleError, TokenCorp, errcode};
use crate::records::UserLookup;
use crate::state::SimState;
use crate::state::users::User;

/// The permission `user/get` needs.
pub const MEMBER_READ_PERMISSION: &str = "qyapi_get_member";

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/topapi/v2/user/get", post(user_get))
}

/// `result`, lower-case keys as DingTalk spells them.
#[derive(Debug, Serialize)]
struct UserResult<'a> {
    userid: &'a str,
    unionid: &'a str,
    name: &'a str,
}

async fn user_get(
    State(state): State<Arc<SimState>>,
    token: Result<TokenCorp, OldStyleError>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let corp = token.as_ref().ok().map(|TokenCorp(corp)| corp.clone());
    let staff_id = json_object(&headers, &body)
        .and_then(|fields| fields.get("userid").and_then(Value::as_str).map(str::trim).map(str::to_owned))
        .filter(|id| !id.is_empty());
    let outcome = find_user(&state, token, staff_id.as_deref());
    let answered = match &outcome {
        Ok(_) => errcode::OK,
        Err(error) => error.errcode,
    };
    state.users().record_lookup(UserLookup { seq: 0, staff_id, corp_id: corp, errcode: answered });
    match outcome {
        Ok(user) => {
            old_style::success(&UserResult { userid: &user.staff_id, unionid: &user.union_id, name: &user.name })
        }
        Err(error) => error.into_response(),
    }
}

/// The checks in DingTalk's order: the token, the permission, the body, the person.
fn find_user(
    state: &SimState,
    token: Result<TokenCorp, OldStyleError>,
    staff_id: Option<&str>,
) -> Result<User, OldStyleError> {
    let TokenCorp(corp) = token?;
    if !state.orgs().member_read(&corp) {
        return Err(OldStyleError::no_permission(MEMBER_READ_PERMISSION));
    }
    let staff_id = staff_id.ok_or_else(OldStyleError::invalid_parameter)?;
    state.users().get(&corp, staff_id).ok_or_else(|| OldStyleError::new(errcode::INVALID_USER_ID, "无效的userId"))
}
