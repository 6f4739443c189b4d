//! The DingTalk platform: signatures, message types, tokens, the conference API and replies.
//! Knows nothing about commands or cards.

pub mod api;
pub mod breaker;
pub mod callback_crypto;
pub mod calls;
pub mod card;
pub mod conference;
pub mod event;
pub mod lenient;
pub mod meeting_event;
pub mod message;
pub mod reply;
pub mod sign;
pub mod stream;
pub mod token;
pub mod webhook;
