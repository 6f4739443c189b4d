//! DingTalk's OpenAPI: the one client every call goes through ([`client`]), the endpoints it
//! calls ([`endpoints`]), how failures read ([`error`]), the tokens ([`token`]), the circuit
//! breaker and the call counting by purpose.

pub mod breaker;
pub mod call_purpose;
pub mod client;
pub mod declaration;
pub mod endpoints;
pub mod error;
mod guard;
pub mod http;
pub mod token;

#[cfg(test)]
mod tests;

pub use client::{Bases, OpenApi};
pub use declaration::Endpoint;
pub use error::ApiError;
pub use http::{http_client, install_crypto_provider};
