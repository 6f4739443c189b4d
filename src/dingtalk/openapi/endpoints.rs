//! Every DingTalk OpenAPI endpoint the bot calls, declared once: method, host, path, the
//! permission it needs and what its calls are for. The request types that use them
//! (`impl Endpoint`) live beside the code that builds them.

use super::call_purpose::Purpose;
use super::declaration::{Auth, Declaration, Host, Verb};

const VIDEO_CONFERENCE_READ: Option<&str> = Some("VideoConference.Conference.Read");
const CARD_WRITE: Option<&str> = Some("Card.Instance.Write");
const VIDEO_CONFERENCE_WRITE: Option<&str> = Some("VideoConference.Conference.Write");
const CALENDAR_READ: Option<&str> = Some("Calendar.Event.Read");
const ROBOT_SEND: Option<&str> = Some("qyapi_robot_sendmsg");

const fn api(
    name: &'static str,
    verb: Verb,
    path: &'static str,
    permission: Option<&'static str>,
    purpose: Purpose,
) -> Declaration {
    Declaration { name, verb, host: Host::Api, path, permission, purpose, auth: Auth::OrgToken }
}

const fn credentialed(name: &'static str, path: &'static str) -> Declaration {
    Declaration {
        name,
        verb: Verb::Post,
        host: Host::Api,
        path,
        permission: None,
        purpose: Purpose::Token,
        auth: Auth::Credentials,
    }
}

/// The meetings behind a meeting code, a page at a time.
pub const CONFERENCE_INFOS: Declaration = api(
    "conference_infos",
    Verb::Get,
    "/v1.0/conference/roomCodes/{roomCode}/infos",
    VIDEO_CONFERENCE_READ,
    Purpose::Query,
);
/// One conference's details (for live cards: how many people are in it now).
pub const CONFERENCE_DETAIL: Declaration = api(
    "conference_detail",
    Verb::Get,
    "/v1.0/conference/videoConferences/{conferenceId}",
    VIDEO_CONFERENCE_READ,
    Purpose::Refresh,
);
/// Starts an instant video conference in a person's name (`/meeting new`).
pub const CONFERENCE_CREATE: Declaration =
    api("conference_create", Verb::Post, "/v1.0/conference/videoConferences", VIDEO_CONFERENCE_WRITE, Purpose::Query);
/// Its host ends a video conference (`/meeting end`).
pub const CONFERENCE_CLOSE: Declaration = api(
    "conference_close",
    Verb::Delete,
    "/v1.0/conference/videoConferences/{conferenceId}",
    VIDEO_CONFERENCE_WRITE,
    Purpose::Query,
);
/// A person's primary-calendar events in a window, recurring ones expanded (`/today`).
pub const CALENDAR_EVENTS: Declaration = api(
    "calendar_events",
    Verb::Get,
    "/v1.0/calendar/users/{unionId}/calendars/primary/eventsview",
    CALENDAR_READ,
    Purpose::Query,
);
/// Creates an interactive card and delivers it to a chat.
pub const CARD_CREATE: Declaration =
    api("card_create", Verb::Post, "/v1.0/card/instances/createAndDeliver", CARD_WRITE, Purpose::Reply);
/// Replaces some of a card's parameters.
pub const CARD_UPDATE: Declaration =
    api("card_update", Verb::Put, "/v1.0/card/instances", CARD_WRITE, Purpose::Refresh);
/// Where presses of HTTP-callback cards are sent.
pub const CARD_CALLBACK_REGISTER: Declaration =
    api("card_callback_register", Verb::Post, "/v1.0/card/callbacks/register", CARD_WRITE, Purpose::Reply);
/// The robot's message to a group chat (when the session webhook is gone).
pub const GROUP_SEND: Declaration =
    api("group_send", Verb::Post, "/v1.0/robot/groupMessages/send", ROBOT_SEND, Purpose::Reply);
/// The robot's 1:1 messages to people.
pub const OTO_SEND: Declaration =
    api("oto_send", Verb::Post, "/v1.0/robot/oToMessages/batchSend", ROBOT_SEND, Purpose::Reply);
/// A person's details by staff id (old style): their unionId, which the newer APIs want.
pub const USER_GET: Declaration = Declaration {
    name: "user_get",
    verb: Verb::Post,
    host: Host::Oapi,
    path: "/topapi/v2/user/get",
    permission: Some("qyapi_get_member"),
    purpose: Purpose::Query,
    auth: Auth::OrgToken,
};
/// The event pushes DingTalk gave up on after its retries (old style; each call clears what it
/// returns). Background upkeep: read at start and after the push route was unreachable.
pub const EVENT_FAILED_LIST: Declaration = Declaration {
    name: "event_failed_list",
    verb: Verb::Get,
    host: Host::Oapi,
    path: "/call_back/get_call_back_failed_result",
    permission: None,
    purpose: Purpose::Refresh,
    auth: Auth::OrgToken,
};

/// An internal app's token, from AppKey and AppSecret.
pub const ACCESS_TOKEN: Declaration = credentialed("access_token", "/v1.0/oauth2/accessToken");
/// A third-party app's token for one organisation, with no suite ticket.
pub const CORP_TOKEN: Declaration = credentialed("corp_token", "/v1.0/oauth2/{corpId}/token");
/// A third-party app's token for one organisation, with a suite ticket.
pub const CORP_ACCESS_TOKEN: Declaration = credentialed("corp_access_token", "/v1.0/oauth2/corpAccessToken");
/// The Stream gateway's endpoint and single-use ticket, with the app's credentials.
pub const STREAM_OPEN: Declaration = credentialed("stream_open", "/v1.0/gateway/connections/open");
