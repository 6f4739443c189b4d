//! dingmeet: a DingTalk robot that answers "what is behind this meeting code?".
//!
//! The path of a message: `server` (HTTP callback) or `stream_client` (WebSocket) hand an
//! [`dingtalk::message::InboundMessage`] to [`bot`], which dedupes it, parses the command, asks
//! DingTalk through [`dingtalk`], renders a card and replies. Dependencies point one way:
//! `server` → `bot` → `dingtalk`.

pub mod app;
pub mod bot;
pub mod clock;
pub mod config;
pub mod dingtalk;
pub mod doctor;
pub mod lang;
pub mod readiness;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod signals;
pub mod state;
pub mod stream_client;
#[cfg(unix)]
pub mod systemd;
pub mod telemetry;
