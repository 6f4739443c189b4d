//! `GET /call_back/get_call_back_failed_result` (on `DINGMEET_OAPI_BASE`): the event pushes
//! DingTalk gave up on after its retries, at most 200 a call, each call clearing what it
//! returned; read until it says there are no more.

use serde::Serialize;
use serde_json::Value;

use super::meeting_event::{FailedPush, failed_pushes};
use super::openapi::declaration::Declaration;
use super::openapi::{ApiError, Endpoint, OpenApi, endpoints};

/// The most pages read in one go, whatever `has_more` says (200 pushes each).
const MAX_PAGES: usize = 20;

#[derive(Debug, Serialize)]
struct FailedListRequest {}

impl Endpoint for FailedListRequest {
    type Response = Value;
    const DECLARATION: &'static Declaration = &endpoints::EVENT_FAILED_LIST;
}

/// Every push DingTalk failed to deliver to organisation `corp` and still holds (taking them:
/// DingTalk forgets what it returned).
pub async fn take_all(api: &OpenApi, corp: Option<&str>) -> Result<Vec<FailedPush>, ApiError> {
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = api.call(corp, &FailedListRequest {}).await?;
        let page = failed_pushes(&answer);
        let empty = page.pushes.is_empty();
        all.extend(page.pushes);
        if !page.has_more || empty {
            break;
        }
    }
    Ok(all)
}
