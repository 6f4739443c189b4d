//! Who may ask: optional allow-lists of conversations and of staff ids.

use crate::dingtalk::message::Message;

/// The allow-lists; an empty list allows everyone.
#[derive(Debug, Clone, Default)]
pub struct Access {
    conversations: Vec<String>,
    users: Vec<String>,
}

/// Why a message was refused, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Conversation,
    User,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::Conversation => "conversation_not_allowed",
            Self::User => "user_not_allowed",
        }
    }
}

impl Access {
    pub fn new(conversations: Vec<String>, users: Vec<String>) -> Self {
        Self { conversations, users }
    }

    /// Checks both lists; a sender without a staff id fails a non-empty user list.
    pub fn check(&self, message: &Message) -> Result<(), Refusal> {
        if !self.conversations.is_empty() && !self.conversations.contains(&message.reply_to.conversation_id) {
            return Err(Refusal::Conversation);
        }
        let staff_id = message.reply_to.sender_staff_id.as_ref();
        if !self.users.is_empty() && !staff_id.is_some_and(|id| self.users.contains(id)) {
            return Err(Refusal::User);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(conversation: &str, staff: Option<&str>) -> Message {
        let mut message = Message::local("hi".into());
        message.reply_to.conversation_id = conversation.into();
        message.reply_to.sender_staff_id = staff.map(str::to_owned);
        message
    }

    #[test]
    fn empty_lists_allow_everyone() {
        assert_eq!(Access::default().check(&message("c", None)), Ok(()));
    }

    #[test]
    fn each_list_is_enforced() {
        let access = Access::new(vec!["cidA".into()], vec!["u1".into()]);
        assert_eq!(access.check(&message("cidA", Some("u1"))), Ok(()));
        assert_eq!(access.check(&message("cidB", Some("u1"))), Err(Refusal::Conversation));
        assert_eq!(access.check(&message("cidA", Some("u2"))), Err(Refusal::User));
        assert_eq!(access.check(&message("cidA", None)), Err(Refusal::User));
    }
}
