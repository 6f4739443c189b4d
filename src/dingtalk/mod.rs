//! The DingTalk platform: signatures, message types, the OpenAPI client and what the bot calls
//! through it (conferences, cards, replies), and the Stream's wire frames. Knows nothing about
//! commands or cards' content.

pub mod callback_crypto;
pub mod card;
pub mod conference;
pub mod event;
pub mod failed_pushes;
pub mod loose_json;
pub mod meeting_api;
pub mod meeting_event;
pub mod message;
pub mod openapi;
pub mod reply;
pub mod sign;
pub mod stream_frame;
pub mod webhook;
