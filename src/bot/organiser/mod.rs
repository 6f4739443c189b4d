//! Acting in DingTalk for the person asking: a video conference started and ended in their name
//! and their calendar read, with the staff id → unionId mapping (`people`) and the book of the
//! meetings started from the chat (`started`) these need. The commands decide what to answer.

mod people;
mod started;

pub use self::people::{KnownPerson, People};
pub use self::started::{StartedBook, StartedMeeting};
use crate::clock::SharedClock;
use crate::dingtalk::meeting_api::MeetingApi;
use crate::dingtalk::message::{ConversationKind, ReplyTarget};
use crate::dingtalk::openapi::call_purpose::{self, Purpose};
use crate::dingtalk::reply::{OutgoingMessage, Replier, ReplyError};
use crate::state::StateStore;

/// The parts the person-facing commands act through.
pub struct Organiser {
    api: MeetingApi,
    people: People,
    book: StartedBook,
    replier: Replier,
    clock: SharedClock,
}

impl Organiser {
    pub fn new(api: MeetingApi, state: &StateStore, replier: Replier, clock: SharedClock) -> Self {
        Self { people: People::new(api.clone(), state), api, book: StartedBook::new(state), replier, clock }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Staff ids → unionIds.
    pub fn people(&self) -> &People {
        &self.people
    }

    /// The meetings started from the chat.
    pub fn book(&self) -> &StartedBook {
        &self.book
    }

    /// The calls themselves: each is declared for the `query` purpose, a question someone typed.
    pub fn api(&self) -> &MeetingApi {
        &self.api
    }

    /// Sends `message` to `staff_id` in a 1:1 chat with the robot (the robot's own send),
    /// counted as part of the question it answers.
    pub async fn send_privately(
        &self,
        from: &ReplyTarget,
        staff_id: &str,
        message: &OutgoingMessage,
    ) -> Result<(), ReplyError> {
        let target = ReplyTarget {
            session_webhook: None,
            conversation_id: String::new(),
            kind: ConversationKind::Single,
            robot_code: from.robot_code.clone(),
            sender_staff_id: Some(staff_id.to_owned()),
            corp_id: from.corp_id.clone(),
        };
        let sent = self.replier.send(&target, message, self.clock.now_ms());
        call_purpose::with_purpose(Purpose::Query, sent).await.map(drop)
    }
}
