//! The product: what the bot does with a message, from dedupe to the reply. Knows nothing of
//! HTTP servers or sockets; talks to DingTalk only through `dingtalk`.

pub mod access;
pub mod budget;
pub mod card_memo;
mod card_press;
pub mod command;
pub mod events;
pub mod handle;
pub mod i18n;
pub mod live;
pub mod meeting;
pub mod remind;
pub mod render;
