//! The calls that act for a person: a video conference created or closed, a calendar read. Each
//! is recorded whatever the answer, so a test can tell what the bot asked for and that nothing
//! was called when it should not have been.

use serde_json::Value;

/// Which call it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// `POST /v1.0/conference/videoConferences`.
    Create,
    /// `DELETE /v1.0/conference/videoConferences/{conferenceId}`.
    Close,
    /// `GET /v1.0/calendar/users/{unionId}/calendars/{calendarId}/events` or `…/eventsview`.
    Calendar,
}

/// One such call, whatever the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingAction {
    pub seq: u64,
    pub kind: ActionKind,
    pub corp_id: Option<String>,
    /// The body (create), or the query and path values (close, calendar), as JSON.
    pub request: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The envelope's `code` of a refusal.
    pub error_code: Option<String>,
    /// The answer's body, when it succeeded.
    pub answer: Option<Value>,
}
