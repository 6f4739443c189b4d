//! The checks that call DingTalk through the one OpenAPI client: the credentials (a token), and
//! each permission the enabled features need, by a call that changes nothing: a lookup of a
//! meeting code that cannot exist, a robot send with no message in it, a card update of a card
//! that does not exist. DingTalk checks the permission before the request, so with the
//! permission granted each is refused as a bad request, and without it with a 403 naming it.

use serde::Serialize;

use super::checklist::Check;
use crate::dingtalk::openapi::declaration::Declaration;
use crate::dingtalk::openapi::{ApiError, Endpoint, OpenApi, endpoints};

/// A meeting code no meeting has (codes are nine digits, and DingTalk does not hand out zeros).
const IMPOSSIBLE_CODE: &str = "000000000";
/// The `outTrackId` of a card no one created.
const NO_SUCH_CARD: &str = "dingmeet-doctor-no-such-card";

const GRANT: &str = "an administrator grants it in DingTalk's developer console (the app's 权限管理 page), \
                     then run `dingmeet doctor` again";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImpossibleLookup {
    #[serde(skip)]
    room_code: &'static str,
    max_results: u32,
}

impl Endpoint for ImpossibleLookup {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::CONFERENCE_INFOS;

    fn path_params(&self) -> Vec<&str> {
        vec![self.room_code]
    }
}

/// A 1:1 send to no one with no message: refused before anything is sent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmptySend<'a> {
    robot_code: &'a str,
    user_ids: [&'a str; 0],
    msg_key: &'static str,
    msg_param: &'static str,
}

impl Endpoint for EmptySend<'_> {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::OTO_SEND;
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NoCardUpdate {
    out_track_id: &'static str,
    card_data: serde_json::Value,
}

impl Endpoint for NoCardUpdate {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::CARD_UPDATE;
}

/// Whether an access token can be had with the app's credentials.
pub(super) async fn credentials(api: &OpenApi) -> Check {
    const NAME: &str = "credentials";
    match api.tokens().token(None).await {
        Ok(_) => Check::pass(NAME, "DingTalk issued an access token for DINGMEET_CLIENT_ID"),
        Err(ApiError::BadCredentials { code }) => Check::fail(
            NAME,
            format!("DingTalk refused the client id or secret ({code})"),
            "set DINGMEET_CLIENT_ID to the app's Client ID (AppKey) and DINGMEET_CLIENT_SECRET to its Client Secret \
             (AppSecret), both from the developer console's 凭证与基础信息 page",
        ),
        Err(err) => unreachable_dingtalk(NAME, &err),
    }
}

/// `VideoConference.Conference.Read`: what every meeting lookup needs.
pub(super) async fn conference_read(api: &OpenApi) -> Check {
    let request = ImpossibleLookup { room_code: IMPOSSIBLE_CODE, max_results: 1 };
    judge("conference read", &endpoints::CONFERENCE_INFOS, api.call(None, &request).await.map(drop), |_| None)
}

/// `qyapi_robot_sendmsg`: the robot's own sends (replies once the session webhook is gone,
/// reminders); the same call tells whether the robot code is this app's robot.
pub(super) async fn robot_send(api: &OpenApi, robot_code: &str) -> Check {
    let request = EmptySend { robot_code, user_ids: [], msg_key: "", msg_param: "" };
    judge("robot send", &endpoints::OTO_SEND, api.call(None, &request).await.map(drop), |code| {
        Some(if code.to_ascii_lowercase().contains("robotcode") {
            Check::fail(
                "robot send",
                format!("DingTalk says the robot code is not a robot of this app ({code})"),
                "add the robot capability (机器人) to the app in the developer console and publish it: its robot \
                 code is the app's Client ID (DINGMEET_CLIENT_ID)",
            )
        } else {
            Check::pass(
                "robot send",
                "qyapi_robot_sendmsg granted; the robot code (DINGMEET_CLIENT_ID) is this app's robot",
            )
        })
    })
}

/// `Card.Instance.Write`: interactive cards; an unpublished template is named here too.
pub(super) async fn cards(api: &OpenApi) -> Check {
    let request = NoCardUpdate { out_track_id: NO_SUCH_CARD, card_data: serde_json::json!({}) };
    judge("card write", &endpoints::CARD_UPDATE, api.call(None, &request).await.map(drop), |code| {
        code.to_ascii_lowercase().contains("templateunpublished").then(|| {
            Check::fail(
                "card write",
                format!("the card template is not published ({code})"),
                "publish the template in the card platform (卡片平台), or set DINGMEET_CARDS=markdown",
            )
        })
    })
}

/// A probe's answer read: a refusal of the request itself means the permission is there.
/// `special` reads a bad request's code first (a wrong robot code, an unpublished template).
fn judge(
    name: &'static str,
    declaration: &Declaration,
    result: Result<(), ApiError>,
    special: impl Fn(&str) -> Option<Check>,
) -> Check {
    let permission = declaration.permission.unwrap_or("(none)");
    match result {
        Ok(()) | Err(ApiError::InvalidRoomCode { .. }) => Check::pass(name, format!("{permission} granted")),
        Err(ApiError::BadRequest { code }) => {
            special(&code).unwrap_or_else(|| Check::pass(name, format!("{permission} granted")))
        }
        Err(ApiError::NoPermission { code, scopes }) => {
            let scopes = if scopes.is_empty() { permission.to_owned() } else { scopes.join(", ") };
            Check::fail(
                name,
                format!("DingTalk refused the call for lack of {scopes} ({code})"),
                format!("{scopes}: {GRANT}"),
            )
        }
        Err(err) => unreachable_dingtalk(name, &err),
    }
}

/// Any other failure: what DingTalk said, and what to look at.
fn unreachable_dingtalk(name: &'static str, err: &ApiError) -> Check {
    let fix = match err {
        ApiError::Network(_) | ApiError::Timeout => {
            "check that this machine reaches DINGMEET_API_BASE (a proxy, a firewall, DNS), then run it again"
        }
        ApiError::NotAuthorized { .. } => "install the app in the organisation (or publish its current version)",
        _ => "look the code up in DingTalk's error reference, or run it again if DingTalk was failing",
    };
    Check::fail(name, err.to_string(), fix)
}

#[cfg(test)]
mod tests {
    use super::super::checklist::Outcome;
    use super::*;

    #[test]
    fn a_refused_request_means_the_permission_is_granted() {
        let bad = Err(ApiError::BadRequest { code: "MissingmsgKey".into() });
        assert_eq!(judge("robot send", &endpoints::OTO_SEND, bad, |_| None).outcome, Outcome::Pass);
    }

    #[test]
    fn a_403_names_the_scope_and_who_grants_it() {
        let refused =
            Err(ApiError::NoPermission { code: "Forbidden".into(), scopes: vec!["Card.Instance.Write".into()] });
        let check = judge("card write", &endpoints::CARD_UPDATE, refused, |_| None);
        let Outcome::Fail { fix } = &check.outcome else { panic!("{check:?}") };
        assert!(check.detail.contains("Card.Instance.Write"), "{check:?}");
        assert!(fix.contains("administrator") && fix.contains("developer console"), "{fix}");
    }

    #[test]
    fn the_probes_change_nothing() {
        let send = serde_json::to_value(EmptySend { robot_code: "ding1", user_ids: [], msg_key: "", msg_param: "" })
            .expect("serializes");
        assert_eq!(send["userIds"], serde_json::json!([]));
        assert_eq!(send["msgKey"], "");
    }
}
