//! Integration tests: one binary, real services on 127.0.0.1.

mod redis_server;
mod state;
