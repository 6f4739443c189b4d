//! DingTalk's callback signature: `base64(HMAC-SHA256(key = secret, timestamp + "\n" + secret))`.
//!
//! The signature covers only the timestamp, not the body, so it is replayable inside the window;
//! duplicates are caught later by `msgId`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::telemetry::Outcome;

/// Signs `timestamp` (the header's exact text) with `secret`, as DingTalk does.
pub fn sign(timestamp: &str, secret: &str) -> String {
    STANDARD.encode(digest(keyed(secret), timestamp, secret))
}

/// HMAC-SHA256 keyed with `secret`: its inner and outer states after the key's block.
fn keyed(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length")
}

/// The signature's raw bytes, from `mac` keyed with `secret`.
fn digest(mut mac: Hmac<Sha256>, timestamp: &str, secret: &str) -> [u8; 32] {
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The length of a base64 SHA-256 signature.
const SIGN_LEN: usize = 44;

/// Why a callback's signature was refused, phrased for the admin who reads the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("no `timestamp` header: is this request really from DingTalk?")]
    MissingTimestamp,
    #[error("no `sign` header: is the robot's message receiving mode set to HTTP with this URL?")]
    MissingSign,
    #[error("`timestamp` header is not milliseconds since the epoch")]
    BadTimestamp,
    #[error("timestamp {} off (allowed {}): check the server clock, or a replayed request", human_offset(*.skew_ms), human_offset(*.window_ms))]
    Stale { skew_ms: i64, window_ms: i64 },
    #[error(
        "signature mismatch: is DINGMEET_CLIENT_SECRET the app's AppSecret (Client Secret), not the AppKey or a custom robot's SEC… secret?"
    )]
    Mismatch,
}

impl SignError {
    /// What the refusal counts as (its label is also the JSON error body's `error`).
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::MissingTimestamp | Self::MissingSign | Self::BadTimestamp => Outcome::BadHeaders,
            Self::Stale { .. } => Outcome::Stale,
            Self::Mismatch => Outcome::BadSignature,
        }
    }
}

fn human_offset(ms: i64) -> String {
    let secs = ms.unsigned_abs() / 1000;
    let sign = if ms < 0 { "-" } else { "" };
    match secs {
        s if s >= 3600 => format!("{sign}{}h{}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{sign}{}m{}s", s / 60, s % 60),
        s => format!("{sign}{s}s"),
    }
}

/// Checks callback signatures against one or more secrets (several for rotation).
pub struct Verifier {
    /// Each secret with its HMAC already keyed: a secret longer than a SHA-256 block (an app
    /// secret is 64 characters or more) would otherwise be hashed again for every callback, and
    /// keying takes two of the six compressions a check needs.
    secrets: Vec<(SecretString, Hmac<Sha256>)>,
    window_ms: i64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("secrets", &self.secrets.len()).field("window_ms", &self.window_ms).finish()
    }
}

impl Verifier {
    pub fn new(secrets: Vec<SecretString>, window: std::time::Duration) -> Self {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let secrets = secrets
            .into_iter()
            .map(|secret| {
                let mac = keyed(secret.expose_secret());
                (secret, mac)
            })
            .collect();
        Self { secrets, window_ms }
    }

    /// Verifies the raw `timestamp` and `sign` header values at `now_ms`.
    pub fn verify_at(&self, timestamp: Option<&str>, sign_header: Option<&str>, now_ms: i64) -> Result<(), SignError> {
        let timestamp = timestamp.ok_or(SignError::MissingTimestamp)?;
        let sign_header = sign_header.ok_or(SignError::MissingSign)?;
        let sent_ms: i64 = timestamp.trim().parse().map_err(|_| SignError::BadTimestamp)?;
        let skew_ms = now_ms.saturating_sub(sent_ms);
        if skew_ms.unsigned_abs() > self.window_ms.unsigned_abs() {
            return Err(SignError::Stale { skew_ms, window_ms: self.window_ms });
        }
        // Check every secret, without stopping early, so timing says nothing about which matched.
        let matched = self.secrets.iter().fold(subtle::Choice::from(0), |acc, (secret, mac)| {
            let mut expected = [0u8; SIGN_LEN];
            let digest = digest(mac.clone(), timestamp, secret.expose_secret());
            let written = STANDARD.encode_slice(digest, &mut expected).unwrap_or(0);
            acc | expected[..written].ct_eq(sign_header.as_bytes())
        });
        if bool::from(matched) { Ok(()) } else { Err(SignError::Mismatch) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR_MS: i64 = 3_600_000;

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            secrets.iter().map(|s| SecretString::from(s.to_string())).collect(),
            std::time::Duration::from_secs(3600),
        )
    }

    /// docs/dingtalk-protocol.md §1.2.
    #[test]
    fn matches_the_known_answer_from_the_protocol_reference() {
        assert_eq!(sign("1577262236757", "this is secret"), "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM=");
    }

    #[test]
    fn matches_the_isv_known_answer() {
        assert_eq!(sign("1700000000000", "isv-client-secret"), "4vNkd7CdxChie85fzz07z7FhS64D77S410EX1FmAQAY=");
    }

    #[test]
    fn a_correct_signature_inside_the_window_is_accepted() {
        let v = verifier(&["this is secret"]);
        let now = 1_577_262_236_757 + 5_000;
        assert_eq!(
            v.verify_at(Some("1577262236757"), Some("hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="), now),
            Ok(())
        );
    }

    #[test]
    fn any_rotated_secret_is_accepted() {
        let v = verifier(&["new secret", "this is secret"]);
        let now = 1_577_262_236_757;
        assert!(v.verify_at(Some("1577262236757"), Some("hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="), now).is_ok());
    }

    #[test]
    fn a_url_encoded_sign_is_a_mismatch() {
        let v = verifier(&["this is secret"]);
        let err = v.verify_at(
            Some("1577262236757"),
            Some("hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"),
            1_577_262_236_757,
        );
        assert_eq!(err, Err(SignError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected_at_the_window_edge() {
        let v = verifier(&["s"]);
        let ts = 1_700_000_000_000_i64;
        let good = sign(&ts.to_string(), "s");
        assert!(v.verify_at(Some(&ts.to_string()), Some(&good), ts + HOUR_MS).is_ok());
        assert!(v.verify_at(Some(&ts.to_string()), Some(&good), ts - HOUR_MS).is_ok());
        assert!(matches!(
            v.verify_at(Some(&ts.to_string()), Some(&good), ts + HOUR_MS + 1),
            Err(SignError::Stale { .. })
        ));
        assert!(matches!(
            v.verify_at(Some(&ts.to_string()), Some(&good), ts - HOUR_MS - 1),
            Err(SignError::Stale { .. })
        ));
    }

    #[test]
    fn the_stale_reason_says_how_far_off_the_clock_is() {
        let err = SignError::Stale { skew_ms: 2 * HOUR_MS + 60_000, window_ms: HOUR_MS };
        assert_eq!(err.to_string(), "timestamp 2h1m off (allowed 1h0m): check the server clock, or a replayed request");
    }

    #[test]
    fn missing_and_malformed_headers_have_their_own_reasons() {
        let v = verifier(&["s"]);
        assert_eq!(v.verify_at(None, Some("x"), 0), Err(SignError::MissingTimestamp));
        assert_eq!(v.verify_at(Some("1"), None, 0), Err(SignError::MissingSign));
        assert_eq!(v.verify_at(Some("yesterday"), Some("x"), 0), Err(SignError::BadTimestamp));
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let text = format!("{:?}", verifier(&["super-secret-value"]));
        assert!(!text.contains("super-secret-value"));
    }

    proptest! {
        #[test]
        fn signing_then_verifying_round_trips(ts in 0i64..4_000_000_000_000, secret in "\\PC{1,64}") {
            let v = verifier(&[&secret]);
            let s = sign(&ts.to_string(), &secret);
            prop_assert!(v.verify_at(Some(&ts.to_string()), Some(&s), ts).is_ok());
        }

        #[test]
        fn verifying_never_panics(ts in "\\PC{0,40}", s in "\\PC{0,80}", now in any::<i64>()) {
            let _ = verifier(&["k"]).verify_at(Some(&ts), Some(&s), now);
        }
    }
}
