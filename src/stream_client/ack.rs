//! The ack policy: which frames are answered, with what, and what follows the ack. Acks come
//! first and work after, so DingTalk never waits on the bot's work (it redelivers a robot
//! message it has no ack for).

use crate::dingtalk::stream_frame::{Ack, Frame, FrameKind};

/// What the session does once a frame is acknowledged.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Work {
    /// Hand this robot message (the frame's `data`) to the bot.
    Message(String),
    /// Hand this press of a card's button (the frame's `data`) to the bot.
    CardPress(String),
    /// The server asked to move: open a new socket and drain this one.
    Handoff,
    Nothing,
}

/// The ack for a frame that is not an event (events are acked once handled) and the work after it.
pub(super) fn acknowledge(frame: &Frame, kind: FrameKind) -> (Option<Ack>, Work) {
    let id = || frame.message_id().unwrap_or_default();
    match kind {
        FrameKind::Ping => (Some(Ack::pong(frame)), Work::Nothing),
        FrameKind::Disconnect => {
            tracing::info!(data = %frame.data_text(), "server sent disconnect");
            (None, Work::Handoff)
        }
        FrameKind::OtherSystem(topic) => {
            tracing::debug!(%topic, "system frame");
            (None, Work::Nothing)
        }
        // Acknowledged by its task once the bot recorded it.
        FrameKind::BotMessage => (None, Work::Message(frame.data_text())),
        FrameKind::Event(_) => (Some(Ack::event(id(), true)), Work::Nothing),
        // Acknowledged at once; the card is updated right after.
        FrameKind::CardCallback => (Some(Ack::callback(id())), Work::CardPress(frame.data_text())),
        FrameKind::OtherCallback(topic) => {
            tracing::info!(%topic, "callback on an unexpected topic acknowledged");
            (Some(Ack::callback(id())), Work::Nothing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame {
        Frame::parse(text).expect("a frame")
    }

    #[test]
    fn robot_messages_are_handed_over_unacked_and_disconnect_is_a_handoff_without_ack() {
        let message = frame(
            r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/im/bot/messages/get","messageId":"m1"},"data":"{}"}"#,
        );
        // Its task acks it once the bot recorded it.
        assert_eq!(acknowledge(&message, message.classify()), (None, Work::Message("{}".to_owned())));
        let disconnect = frame(r#"{"type":"SYSTEM","headers":{"topic":"disconnect"}}"#);
        assert_eq!(acknowledge(&disconnect, disconnect.classify()), (None, Work::Handoff));
        let press = frame(
            r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/card/instances/callback","messageId":"c"},"data":"{}"}"#,
        );
        assert!(matches!(acknowledge(&press, press.classify()), (Some(_), Work::CardPress(data)) if data == "{}"));
        let other = frame(r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/other","messageId":"o"}}"#);
        assert!(matches!(acknowledge(&other, other.classify()), (Some(_), Work::Nothing)));
    }
}
