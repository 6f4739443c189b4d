//! The simulator's own tests: its wire format pinned to docs/dingtalk-protocol.md, driven by plain
//! HTTP and WebSocket clients (no bot). One binary, as the bot's `tests/api` is.

mod contact_users;
mod event_controls;
mod events;
mod events_http;
mod orgs;
mod scenario;
mod sign;
mod simulator;
mod stream_gateway;

use std::time::Duration;

/// How long any wait for the simulator may take before a test fails.
const WAIT: Duration = Duration::from_secs(10);

fn http() -> reqwest::Client {
    dingtalk_sim::http_client::client(Duration::from_secs(10))
}
