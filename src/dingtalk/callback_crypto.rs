//! DingTalk's HTTP event-callback encryption (加解密): the signature over token, timestamp,
//! nonce and ciphertext, and AES-256-CBC around `random ‖ length ‖ message ‖ owner key`.
//! Pure: no IO, no clock, no randomness of its own (callers pass the random bytes and times).
//!
//! The rules, byte for byte, are in `shared/reference/dingtalk-events.md` §b: the key is the
//! console's 43-character `aes_key` plus `=`, base64-decoded (32 bytes), its first 16 bytes the IV;
//! the plaintext is padded PKCS#7-style to a multiple of 32 bytes (DingTalk's own servers and its
//! Java library do; a 16-byte padding is accepted too); the signature is the lower-case hex SHA-1
//! of the four strings sorted and joined with nothing between them.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Decryptor = cbc::Decryptor<aes::Aes256>;
type Encryptor = cbc::Encryptor<aes::Aes256>;

/// The padding block DingTalk's servers use (a multiple of the cipher's 16).
const PAD_BLOCK: usize = 32;
/// The random prefix of every plaintext.
const RANDOM_LEN: usize = 16;
/// The console's `aes_key` length.
pub const AES_KEY_CHARS: usize = 43;

/// Why a console `aes_key` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the event aes_key must be exactly {AES_KEY_CHARS} letters and digits (it has {0} characters)")]
    Length(usize),
    #[error("the event aes_key may hold only letters and digits")]
    Characters,
}

/// Why a pushed body was refused. None of them carries the key, the token or the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the signature does not match the token and the body")]
    BadSignature,
    #[error("the encrypt field is not base64")]
    NotBase64,
    #[error("the ciphertext is not a whole number of AES blocks, or its padding is wrong")]
    BadCiphertext,
    #[error("the decrypted length field points past the end of the message")]
    BadLength,
    #[error("the decrypted message is not UTF-8")]
    NotText,
    #[error("the message was encrypted for another app (owner key {found:?}, expected {expected:?})")]
    ForeignOwner { found: String, expected: String },
}

impl OpenError {
    /// A short stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::NotBase64 | Self::BadCiphertext | Self::BadLength | Self::NotText => "undecryptable",
            Self::ForeignOwner { .. } => "foreign_owner",
        }
    }
}

/// The encrypted answer DingTalk expects: exactly these four string fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EncryptedReply {
    pub msg_signature: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// One app's event cipher: the console's token and aes_key, and the owner key messages are
/// encrypted for (the app's Client ID; a third-party app's suite key).
#[derive(Clone)]
pub struct EventCipher {
    token: SecretString,
    key: SecretKey,
    owner_key: String,
}

/// The AES key a console `aes_key` stands for: 43 letters and digits, plus `=`, base64-decoded.
pub fn check_aes_key(aes_key: &SecretString) -> Result<[u8; 32], KeyError> {
    let text = aes_key.expose_secret();
    if text.chars().count() != AES_KEY_CHARS {
        return Err(KeyError::Length(text.chars().count()));
    }
    if !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyError::Characters);
    }
    let mut padded = String::with_capacity(AES_KEY_CHARS + 1);
    padded.push_str(text);
    padded.push('=');
    // 43 base64 digits and one `=` are 32 bytes; the last digit's low bits are not checked
    // (DingTalk's consoles make keys whose last digit has them set).
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = engine.decode(padded).map_err(|_| KeyError::Characters)?;
    bytes.try_into().map_err(|_| KeyError::Characters)
}

/// The 32-byte AES key, kept out of `Debug`.
#[derive(Clone)]
struct SecretKey([u8; 32]);

impl std::fmt::Debug for EventCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCipher")
            .field("token", &"[redacted]")
            .field("key", &"[redacted]")
            .field("owner_key", &self.owner_key)
            .finish()
    }
}

impl EventCipher {
    /// Checks `aes_key` (43 letters and digits) and derives the AES key from it.
    pub fn new(token: SecretString, aes_key: &SecretString, owner_key: &str) -> Result<Self, KeyError> {
        let key = check_aes_key(aes_key)?;
        Ok(Self { token, key: SecretKey(key), owner_key: owner_key.to_owned() })
    }

    pub fn owner_key(&self) -> &str {
        &self.owner_key
    }

    /// `lowercase_hex(SHA1(sorted(token, timestamp, nonce, encrypt) joined))`.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.expose_secret(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut hasher = Sha1::new();
        for part in parts {
            hasher.update(part.as_bytes());
        }
        hex(&hasher.finalize())
    }

    /// Whether `signature` is the body's signature, compared in constant time (case-insensitive
    /// hex, as some gateways upper-case it).
    pub fn verify(&self, signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> bool {
        let expected = self.signature(timestamp, nonce, encrypt);
        let given = signature.trim().to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// Checks the signature first, then decrypts and checks the owner key: the pushed message.
    pub fn open(&self, signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> Result<String, OpenError> {
        if !self.verify(signature, timestamp, nonce, encrypt) {
            return Err(OpenError::BadSignature);
        }
        self.decrypt(encrypt)
    }

    /// Decrypts `encrypt` and checks that it was meant for this app.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, OpenError> {
        let (message, owner) = self.decrypt_parts(encrypt)?;
        if owner != self.owner_key {
            return Err(OpenError::ForeignOwner { found: owner, expected: self.owner_key.clone() });
        }
        Ok(message)
    }

    /// The message and the owner key it was encrypted for.
    fn decrypt_parts(&self, encrypt: &str) -> Result<(String, String), OpenError> {
        let mut buffer = STANDARD.decode(encrypt.trim()).map_err(|_| OpenError::NotBase64)?;
        if buffer.is_empty() || buffer.len() % 16 != 0 {
            return Err(OpenError::BadCiphertext);
        }
        let iv: [u8; 16] = self.iv();
        let plain = Decryptor::new(&self.key.0.into(), &iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut buffer)
            .map_err(|_| OpenError::BadCiphertext)?;
        let pad = usize::from(*plain.last().ok_or(OpenError::BadCiphertext)?);
        if pad == 0
            || pad > PAD_BLOCK
            || pad > plain.len()
            || plain[plain.len() - pad..].iter().any(|&b| usize::from(b) != pad)
        {
            return Err(OpenError::BadCiphertext);
        }
        let body = &plain[..plain.len() - pad];
        let length_bytes: [u8; 4] =
            body.get(RANDOM_LEN..RANDOM_LEN + 4).and_then(|b| b.try_into().ok()).ok_or(OpenError::BadLength)?;
        let length = usize::try_from(u32::from_be_bytes(length_bytes)).map_err(|_| OpenError::BadLength)?;
        let start = RANDOM_LEN + 4;
        let end = start.checked_add(length).filter(|&end| end <= body.len()).ok_or(OpenError::BadLength)?;
        let message = std::str::from_utf8(&body[start..end]).map_err(|_| OpenError::NotText)?;
        let owner = std::str::from_utf8(&body[end..]).map_err(|_| OpenError::NotText)?;
        Ok((message.to_owned(), owner.to_owned()))
    }

    /// Encrypts `message` for this app's owner key with the given 16 random bytes.
    pub fn encrypt(&self, message: &str, random: [u8; RANDOM_LEN]) -> String {
        let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let mut plain = Vec::with_capacity(RANDOM_LEN + 4 + message.len() + self.owner_key.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.owner_key.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        // `pad` is 1..=32, so it fits a byte.
        plain.resize(plain.len() + pad, u8::try_from(pad).unwrap_or(32));
        let len = plain.len();
        let iv = self.iv();
        let cipher = Encryptor::new(&self.key.0.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        STANDARD.encode(cipher)
    }

    /// The encrypted, signed answer to a push: `message` (DingTalk wants `success`) encrypted
    /// with `random`, signed over `timestamp` and `nonce`.
    pub fn reply(&self, message: &str, timestamp: &str, nonce: &str, random: [u8; RANDOM_LEN]) -> EncryptedReply {
        let encrypt = self.encrypt(message, random);
        EncryptedReply {
            msg_signature: self.signature(timestamp, nonce, &encrypt),
            time_stamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            encrypt,
        }
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.key.0[..16]);
        iv
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(token: &str, aes_key: &str, owner: &str) -> EventCipher {
        EventCipher::new(token.to_owned().into(), &aes_key.to_owned().into(), owner).expect("a valid aes_key")
    }

    fn random(text: &str) -> [u8; 16] {
        text.as_bytes().try_into().expect("16 bytes")
    }

    /// Vector 1: the console FAQ's valid reply.
    #[test]
    fn the_consoles_reply_vector_verifies_decrypts_and_reencrypts() {
        let c = cipher("123456", "1234567890123456789012345678901234567890123", "dingsnotzck6pm5veliw");
        let encrypt = "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==";
        let signature = "9a95a004dd16f5c307e849b994173f76aa26e5eb";
        assert_eq!(c.signature("1614767836", "A7Co0cJLMzIDtMMI", encrypt), signature);
        assert_eq!(c.open(signature, "1614767836", "A7Co0cJLMzIDtMMI", encrypt).as_deref(), Ok("success"));
        let reply = c.reply("success", "1614767836", "A7Co0cJLMzIDtMMI", random("dICkEDLj0eb6yAbc"));
        assert_eq!(reply.encrypt, encrypt);
        assert_eq!(reply.msg_signature, signature);
        let json = serde_json::to_value(&reply).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"msg_signature": signature, "timeStamp": "1614767836",
                "nonce": "A7Co0cJLMzIDtMMI", "encrypt": encrypt})
        );
    }

    /// Vector 2: DingTalk's Python library's `check_url`.
    #[test]
    fn the_check_url_vector_opens_and_reencrypts() {
        let c = cipher("mryue", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "ding6ccabc44d2c8d38b");
        let encrypt = "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3";
        let signature = "03044561471240d4a14bb09372dfcfd4fd0e40cb";
        assert_eq!(
            c.open(signature, "1608001896814", "WL4PK6yA", encrypt).as_deref(),
            Ok(r#"{"EventType":"check_url"}"#)
        );
        assert_eq!(c.encrypt(r#"{"EventType":"check_url"}"#, random("l7Y3EcX2CU5w8av3")), encrypt);
    }

    /// Vector 3: the decryption page's third-party `check_create_suite_url`.
    #[test]
    fn the_suite_check_vector_opens_for_the_suite_key() {
        let c = cipher("123456", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "suite4xxxxxxxxxxxxxxx");
        let encrypt = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==";
        let opened = c.open("5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0", "1445827045067", "nEXhMP4r", encrypt);
        assert_eq!(
            opened.as_deref(),
            Ok(r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#)
        );
    }

    #[test]
    fn a_wrong_signature_is_refused_before_anything_is_decrypted() {
        let c = cipher("mryue", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "ding6ccabc44d2c8d38b");
        let err = c.open("03044561471240d4a14bb09372dfcfd4fd0e40cc", "1608001896814", "WL4PK6yA", "not base64 at all");
        assert_eq!(err, Err(OpenError::BadSignature));
        let encrypt = c.encrypt("x", [7; 16]);
        let upper = c.signature("1", "n", &encrypt).to_ascii_uppercase();
        assert!(c.verify(&upper, "1", "n", &encrypt), "gateways that upper-case the hex are accepted");
        assert!(!c.verify(&upper, "2", "n", &encrypt), "another timestamp is another signature");
    }

    #[test]
    fn a_message_for_another_app_is_refused_naming_both_keys() {
        let ours = cipher("t", "1234567890123456789012345678901234567890123", "dingOurs");
        let theirs = cipher("t", "1234567890123456789012345678901234567890123", "dingTheirs");
        let encrypt = theirs.encrypt(r#"{"EventType":"x"}"#, [1; 16]);
        let signature = ours.signature("1", "n", &encrypt);
        assert_eq!(
            ours.open(&signature, "1", "n", &encrypt),
            Err(OpenError::ForeignOwner { found: "dingTheirs".into(), expected: "dingOurs".into() })
        );
    }

    #[test]
    fn garbage_is_refused_without_a_panic() {
        let c = cipher("t", "1234567890123456789012345678901234567890123", "o");
        for encrypt in
            ["", "!!!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA==", &STANDARD.encode([0u8; 32]), &STANDARD.encode([0u8; 48])]
        {
            let signature = c.signature("1", "n", encrypt);
            let err = c.open(&signature, "1", "n", encrypt).expect_err(encrypt);
            assert_ne!(err, OpenError::BadSignature, "{encrypt}");
        }
    }

    #[test]
    fn round_trips_any_message_and_any_random() {
        let c = cipher("tok", "abcdefghijABCDEFGHIJ0123456789abcdefghijXYZ", "dingX");
        for len in [0usize, 1, 7, 11, 12, 27, 28, 31, 32, 33, 64, 300] {
            let message: String = "会议".chars().cycle().take(len).collect();
            let encrypt = c.encrypt(&message, [u8::try_from(len % 256).expect("byte"); 16]);
            let signature = c.signature("100", "nonce", &encrypt);
            assert_eq!(c.open(&signature, "100", "nonce", &encrypt), Ok(message));
        }
    }

    #[test]
    fn sixteen_byte_padding_is_accepted_too() {
        let c = cipher("t", "1234567890123456789012345678901234567890123", "o");
        let mut plain = vec![9u8; 16];
        plain.extend_from_slice(&2u32.to_be_bytes());
        plain.extend_from_slice(b"hio");
        let pad = 16 - plain.len() % 16;
        plain.resize(plain.len() + pad, u8::try_from(pad).expect("byte"));
        let len = plain.len();
        let sealed = Encryptor::new(&c.key.0.into(), &c.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .expect("aligned")
            .to_vec();
        assert_eq!(c.decrypt(&STANDARD.encode(sealed)).as_deref(), Ok("hi"));
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused_and_nothing_secret_is_printed() {
        let bad = |k: &str| EventCipher::new("t".to_owned().into(), &k.to_owned().into(), "o").expect_err(k);
        assert_eq!(bad("short"), KeyError::Length(5));
        assert_eq!(bad("123456789012345678901234567890123456789012+"), KeyError::Characters);
        let c = cipher("secret-token", "1234567890123456789012345678901234567890123", "owner");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-token") && !shown.contains("1234567890"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn any_ciphertext_is_answered_without_a_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let c = cipher("t", "1234567890123456789012345678901234567890123", "o");
            let encrypt = STANDARD.encode(&bytes);
            let signature = c.signature("1", "n", &encrypt);
            let _ = c.open(&signature, "1", "n", &encrypt);
        }

        #[test]
        fn any_message_round_trips(message in ".{0,80}", random in proptest::prelude::any::<[u8; 16]>()) {
            let c = cipher("t", "abcdefghijABCDEFGHIJ0123456789abcdefghijXYZ", "dingOwner");
            let encrypt = c.encrypt(&message, random);
            proptest::prop_assert_eq!(c.decrypt(&encrypt), Ok(message));
        }
    }
}
