//! Integration tests: the real bot on 127.0.0.1, against the DingTalk simulator (and a throwaway
//! `redis-server`), in HTTP and Stream mode, and the sandbox (the playground in headless
//! Chromium). One binary, as zero-to-production keeps it. The simulator's own tests are in its
//! crate (`crates/dingtalk-sim/tests`).

mod bots;
mod breaker;
mod browser;
mod callback;
mod conversation;
mod durable;
mod economy;
mod endpoints;
mod errors;
mod helpers;
mod isv;
mod isv_stream;
mod live_cards;
mod load_script;
mod meetings;
mod messages;
mod process;
mod process_tests;
mod real_bodies;
mod redis_server;
mod redis_tls;
mod replicas;
mod replies;
mod sandbox;
mod sim_parity;
mod state;
mod stream;
mod tokens;
