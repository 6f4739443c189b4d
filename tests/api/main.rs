//! Integration tests: the real bot on 127.0.0.1, against the DingTalk simulator (and a throwaway
//! `redis-server`), through every rule of issues 2, 3, 4 (stream mode), 5 and 8, and the sandbox
//! (the playground in headless Chromium). One binary, as zero-to-production keeps it.

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
mod load_script;
mod meetings;
mod messages;
mod process;
mod process_tests;
mod redis_server;
mod redis_tls;
mod replicas;
mod replies;
mod sandbox;
mod sim_orgs;
mod simulator;
mod state;
mod stream;
mod stream_gateway;
mod tokens;
