//! Integration tests: the real bot on 127.0.0.1, against the DingTalk simulator (and a throwaway
//! `redis-server`). One binary, as zero-to-production keeps it.

mod callback;
mod errors;
mod helpers;
mod meetings;
mod messages;
mod redis_server;
mod replies;
mod simulator;
mod state;
mod tokens;
