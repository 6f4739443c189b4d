//! The product: what the bot does with a message, from dedupe to the reply. Knows nothing of
//! HTTP servers or sockets; talks to DingTalk only through `dingtalk`.
//!
//! One way down: `handle` (the ways in) → `commands` (the table, the parser and each command's
//! answer) and `meeting_events` (DingTalk's meeting events) → the features (`live`, `remind`,
//! `meeting_card_memo`) → `render` → `meeting_view` → `i18n`, with `room_code` and `crate::lang`
//! the words they all share, and `record_lock` one writer at a time for a shared record.

pub mod access;
pub mod action_cards;
pub mod action_text;
pub mod budget;
pub mod commands;
pub mod handle;
pub mod i18n;
pub mod live;
pub mod meeting_card_memo;
pub mod meeting_events;
pub mod meeting_view;
pub mod organiser;
mod record_lock;
pub mod remind;
pub mod render;
pub mod room_code;
