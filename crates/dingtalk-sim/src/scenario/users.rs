//! The people of an organisation, as DingTalk's contact API knows them: a staff id (`userid`,
//! the robot callbacks' `senderStaffId`), a union id (`unionid`, the same person across apps,
//! how calendars name people) and a name. Top-level `[[users]]` are the app's own
//! organisation's, `[[orgs.users]]` another's.

use serde::Deserialize;

use super::ScenarioError;
use super::time::{Moment, Offset};

/// One person.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserScenario {
    /// `userid`.
    pub staff_id: String,
    /// `unionid`; when left out, the one the simulated callbacks give this staff id.
    #[serde(default)]
    pub union_id: Option<String>,
    /// `name`.
    pub name: String,
    /// Events on their primary calendar (`[[users.events]]`).
    #[serde(default)]
    pub events: Vec<EventScenario>,
}

/// An event on a person's calendar, its times relative to the simulator clock like meetings'.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventScenario {
    pub id: String,
    pub summary: String,
    pub start: Moment,
    /// How long it lasts, in minutes.
    #[serde(default = "half_an_hour")]
    pub minutes: i64,
    #[serde(default)]
    pub all_day: bool,
    /// A recurring event: how far apart its instances are (`"1d"`), and how many there are.
    #[serde(default)]
    pub every: Option<Offset>,
    #[serde(default = "one")]
    pub count: u32,
    /// The DingTalk meeting it carries: its link and, optionally, its code.
    #[serde(default)]
    pub meeting_url: Option<String>,
    #[serde(default)]
    pub meeting_code: Option<String>,
}

fn half_an_hour() -> i64 {
    30
}

fn one() -> u32 {
    1
}

impl UserScenario {
    /// The union id: as written, or the one the callbacks derive from the staff id.
    pub fn union_id(&self) -> String {
        self.union_id.clone().unwrap_or_else(|| crate::ids::union_id_for(&self.staff_id))
    }
}

/// Checks one organisation's people: a staff id and a name each, no staff id twice.
pub(super) fn validate_users(whose: &str, users: &[UserScenario]) -> Result<(), ScenarioError> {
    let invalid = |why: String| Err(ScenarioError::Invalid(format!("{whose}{why}")));
    let mut seen = std::collections::HashSet::new();
    for user in users {
        if user.staff_id.trim().is_empty() || user.name.trim().is_empty() {
            return invalid("a user needs a staff_id and a name".to_owned());
        }
        if user.union_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return invalid(format!("user {}: union_id must not be empty", user.staff_id));
        }
        if !seen.insert(user.staff_id.as_str()) {
            return invalid(format!("user {} is listed twice", user.staff_id));
        }
    }
    Ok(())
}
