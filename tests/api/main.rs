//! Integration tests, one binary as zero-to-production keeps it, in tiers:
//! - `router`: the refusals decided before the bot runs, through `server::router()` with
//!   `oneshot`, no socket;
//! - most modules: the real bot on 127.0.0.1 (started by `helpers`), against the DingTalk
//!   simulator (and a throwaway `redis-server`): HTTP callbacks, replies, the Stream, shared
//!   state, third-party apps;
//! - `process`: the `dingmeet` binary as a child process; `browser`: the sandbox's playground in
//!   headless Chromium.
//!
//! The simulator's own tests are in its crate (`crates/dingtalk-sim/tests`); `sim_parity` checks
//! it against the bot's own wire code.

mod backup;
mod breaker;
mod browser;
mod budget;
mod callback;
mod conversation;
mod doctor;
mod durable;
mod economy;
mod endpoints;
mod errors;
mod event_push;
mod helpers;
mod intake;
mod isv;
mod isv_stream;
mod kill_under_load;
mod live_cards;
mod load_script;
mod meeting_actions;
mod meeting_events;
mod meetings;
mod messages;
mod month_script;
mod process;
mod readiness;
mod real_bodies;
mod redis_emptied;
mod redis_flapping;
mod redis_server;
mod redis_tls;
mod remind;
mod remind_process;
mod replicas;
mod replies;
mod router;
mod sandbox;
mod sim_parity;
mod state;
mod stream;
mod stream_script;
mod tokens;
