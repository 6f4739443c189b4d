//! What the bot does in DingTalk for the person asking, beyond looking meetings up: who a staff
//! id is (`user/get`, for the unionId the newer APIs want), an instant video conference started
//! and closed in their name, and their calendar's events in a window. Typed requests and answers
//! for one client, [`MeetingApi`]; the bot decides what to do with them.

mod calendar;
mod people;
mod video;

pub use self::calendar::{CalendarEvent, EventTime, OnlineMeeting};
pub use self::people::Person;
pub use self::video::{Closed, NewConference};

use super::openapi::{ApiError, OpenApi};

/// The most pages of calendar events read for one window, whatever `nextToken` says.
const MAX_EVENT_PAGES: usize = 10;

/// Calls the person-facing meeting APIs through the one OpenAPI client.
#[derive(Clone, Debug)]
pub struct MeetingApi {
    api: OpenApi,
}

impl MeetingApi {
    pub fn new(api: OpenApi) -> Self {
        Self { api }
    }

    /// The person behind `staff_id` in organisation `corp` (their unionId and name).
    pub async fn person(&self, corp: Option<&str>, staff_id: &str) -> Result<Person, ApiError> {
        let answer = self.api.call(corp, &people::UserGet { userid: staff_id, language: "zh_CN" }).await?;
        answer.result.and_then(Person::from_result).ok_or_else(|| ApiError::Decode("user/get: no unionid".to_owned()))
    }

    /// Starts an instant video conference organised by `organiser` (a unionId), inviting
    /// `invitees` (unionIds), titled `title`.
    pub async fn create(
        &self,
        corp: Option<&str>,
        organiser: &str,
        title: &str,
        invitees: &[String],
    ) -> Result<NewConference, ApiError> {
        let request =
            video::Create { user_id: organiser, conf_title: title, invite_user_ids: invitees, invite_caller: None };
        self.api.call(corp, &request).await
    }

    /// Ends `conference_id` as its host `organiser` (a unionId).
    pub async fn close(&self, corp: Option<&str>, conference_id: &str, organiser: &str) -> Result<Closed, ApiError> {
        self.api.call(corp, &video::Close { conference_id, union_id: organiser }).await
    }

    /// The events of `union_id`'s primary calendar between `time_min` and `time_max` (RFC 3339),
    /// recurring ones expanded, every page.
    pub async fn events(
        &self,
        corp: Option<&str>,
        union_id: &str,
        time_min: &str,
        time_max: &str,
    ) -> Result<Vec<CalendarEvent>, ApiError> {
        let mut events = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_EVENT_PAGES {
            let request = calendar::ListView {
                union_id,
                time_min,
                time_max,
                max_results: calendar::PAGE_SIZE,
                next_token: next_token.as_deref(),
            };
            let page = self.api.call(corp, &request).await?;
            events.extend(page.events.unwrap_or_default());
            match page.next_token.filter(|token| !token.is_empty()) {
                Some(token) if Some(&token) != next_token.as_ref() => next_token = Some(token),
                _ => break,
            }
        }
        Ok(events)
    }
}
