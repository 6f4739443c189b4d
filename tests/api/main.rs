//! Integration tests: the real bot on 127.0.0.1, against the DingTalk simulator, through every
//! rule of issue 2. One binary, as zero-to-production keeps it.

mod browser;
mod callback;
mod errors;
mod helpers;
mod meetings;
mod messages;
mod replies;
mod sandbox;
mod simulator;
mod tokens;
