//! Video conferences created through the API (`POST /v1.0/conference/videoConferences`): each
//! joins the meetings behind its code, so lookups, events and the scenario controls see it like
//! any other, and runs on the simulator's clock until its host closes it. DingTalk's limits are
//! here too: the organisation's room limit (`waterLimitError`) and titles it rejects
//! (`paramsTitleError`); and [`ConferencesView`], how tests read and drive them.

use super::SimState;
use super::event_emit::Scene;
use crate::ids;
use crate::records::actions::MeetingAction;
use crate::scenario::{CodeAnswer, MeetingSpec, Moment};

/// DingTalk keeps this many characters of a title.
pub const MAX_TITLE_CHARS: usize = 50;
/// A title longer than this is refused (`paramsTitleError`).
pub const MAX_ACCEPTED_TITLE_CHARS: usize = 256;

/// One conference created through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedConference {
    pub corp_id: String,
    pub conference_id: String,
    /// As DingTalk writes it: digits in groups of three, spaces kept.
    pub room_code: String,
    pub title: String,
    /// The organiser's unionId (`userId`).
    pub organiser: String,
    /// The invited unionIds (`inviteUserIds`).
    pub invitees: Vec<String>,
    pub invite_caller: bool,
    pub link: String,
    pub created_ms: i64,
    pub closed_ms: Option<i64>,
}

impl CreatedConference {
    /// The code's digits, as the lookup is keyed.
    pub fn code_digits(&self) -> String {
        self.room_code.chars().filter(char::is_ascii_digit).collect()
    }
}

/// What the create and close calls have made, and the limits they answer by.
#[derive(Debug, Default)]
pub(crate) struct VideoConferences {
    pub(crate) created: Vec<CreatedConference>,
    /// The most conferences open at once per organisation; `None`: no limit.
    pub(crate) room_limit: Option<usize>,
    /// Words that make DingTalk refuse a title.
    pub(crate) rejected_title_words: Vec<String>,
}

/// Why a create was refused, as DingTalk's table names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CreateRefusal {
    UnknownUser,
    Title(String),
    RoomLimit,
}

/// Why a close was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseRefusal {
    NotFound,
    NotHost,
    Ended,
}

/// The video conferences, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct ConferencesView<'a> {
    state: &'a SimState,
}

impl<'a> ConferencesView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Every conference created so far, in order.
    pub fn created(&self) -> Vec<CreatedConference> {
        self.state.lock().conferences.created.clone()
    }

    /// At most `limit` conferences open at once in each organisation (`None`: no limit); past it
    /// creating one answers `404 waterLimitError`.
    pub fn set_room_limit(&self, limit: Option<usize>) {
        self.state.lock().conferences.room_limit = limit;
    }

    /// Titles containing `word` are refused (`400 paramsTitleError`), as DingTalk's content
    /// checks refuse some.
    pub fn reject_titles_with(&self, word: &str) {
        self.state.lock().conferences.rejected_title_words.push(word.to_owned());
    }

    /// Every create, close and calendar call so far, in order.
    pub fn actions(&self) -> Vec<MeetingAction> {
        self.state.lock().journal.records.actions.clone()
    }

    pub(crate) fn record(&self, mut action: MeetingAction) {
        self.state.update(|world| {
            action.seq = world.journal.next_seq();
            world.journal.records.actions.push(action);
        });
    }

    /// Creates a conference in `corp` organised by `organiser` (a unionId), checked as DingTalk
    /// does: every person in the organisation, the title, the room limit.
    pub(crate) fn create(
        &self,
        corp: &str,
        organiser: &str,
        title: &str,
        invitees: Vec<String>,
        invite_caller: bool,
    ) -> Result<CreatedConference, CreateRefusal> {
        let now = self.state.clock().now_ms();
        let known = |union_id: &str| self.state.users().of(corp).iter().any(|user| user.union_id == union_id);
        if !known(organiser) || !invitees.iter().all(|id| known(id)) {
            return Err(CreateRefusal::UnknownUser);
        }
        let chars = title.chars().count();
        if title.trim().is_empty() || chars > MAX_ACCEPTED_TITLE_CHARS {
            return Err(CreateRefusal::Title(format!("confTitle has {chars} characters")));
        }
        let created = self.state.update(|world| {
            let conferences = &world.conferences;
            if let Some(word) = conferences.rejected_title_words.iter().find(|word| title.contains(word.as_str())) {
                return Err(CreateRefusal::Title(format!("confTitle contains {word}")));
            }
            let open = conferences.created.iter().filter(|c| c.corp_id == corp && c.closed_ms.is_none()).count();
            if conferences.room_limit.is_some_and(|limit| open >= limit) {
                return Err(CreateRefusal::RoomLimit);
            }
            let digits = ids::digits(9);
            let room_code = format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..]);
            let conference = CreatedConference {
                corp_id: corp.to_owned(),
                conference_id: ids::hex(24),
                room_code,
                title: title.chars().take(MAX_TITLE_CHARS).collect(),
                organiser: organiser.to_owned(),
                invitees,
                invite_caller,
                link: format!(
                    "https://meeting.dingtalk.com/j/{}",
                    ids::random_base64(12).replace(['+', '/', '='], "x")
                ),
                created_ms: now,
                closed_ms: None,
            };
            let organiser_name = world.users.find_union(corp, organiser).map(|user| user.name).unwrap_or_default();
            let spec = MeetingSpec {
                conference_id: Some(conference.conference_id.clone()),
                title: Some(conference.title.clone()),
                status: Some(2),
                start: Some(Moment::Absolute(now)),
                end: None,
                external_link_url: Some(conference.link.clone()),
                creator_id: Some(organiser.to_owned()),
                creator_nick: Some(organiser_name),
                schedule_conference_id: None,
                biz_type: Some("0".to_owned()),
                omit: Vec::new(),
                count: 1,
                step: crate::scenario::Offset(0),
            };
            let entry = world.codes.entry(corp, &conference.code_digits());
            match &mut entry.answer {
                CodeAnswer::Meetings(meetings) => meetings.push(spec),
                other => *other = CodeAnswer::Meetings(vec![spec]),
            }
            world.conferences.created.push(conference.clone());
            Ok(conference)
        })?;
        if corp == self.state.home_corp() {
            self.state.events().conference_changed(&created.code_digits(), &created.conference_id, Scene::Created);
        }
        Ok(created)
    }

    /// Its host `union_id` closes `conference_id`: it ends now, as a lookup and an event say.
    pub(crate) fn close(&self, corp: &str, conference_id: &str, union_id: &str) -> Result<(), CloseRefusal> {
        let now = self.state.clock().now_ms();
        let code = self.state.update(|world| {
            let conference = world
                .conferences
                .created
                .iter_mut()
                .find(|c| c.corp_id == corp && c.conference_id == conference_id)
                .ok_or(CloseRefusal::NotFound)?;
            if conference.organiser != union_id {
                return Err(CloseRefusal::NotHost);
            }
            if conference.closed_ms.is_some() {
                return Err(CloseRefusal::Ended);
            }
            conference.closed_ms = Some(now);
            let code = conference.code_digits();
            if let CodeAnswer::Meetings(meetings) = &mut world.codes.entry(corp, &code).answer
                && let Some(meeting) = meetings.iter_mut().find(|m| m.conference_id.as_deref() == Some(conference_id))
            {
                meeting.status = Some(1);
                meeting.end = Some(Moment::Absolute(now));
            }
            Ok(code)
        })?;
        if corp == self.state.home_corp() {
            self.state.events().conference_changed(&code, conference_id, Scene::Closed);
        }
        Ok(())
    }
}
