//! How DingTalk signs a robot callback: `sign` = standard base64 of HMAC-SHA256, keyed by the
//! app secret, over `timestamp + "\n" + secret`. Written here on its own, not borrowed from the
//! bot, so the simulator stays an independent check of the bot's verifier; the known answers
//! in `tests/sim/sign.rs` are the ones the bot's signer is checked against.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `sign` header for `timestamp` (the header's text, as sent) and `secret`.
pub fn sign(timestamp: &str, secret: &str) -> String {
    // HMAC takes a key of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}
