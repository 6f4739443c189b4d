//! DingTalk's callback encryption (加解密, docs/dingtalk-events.md §b), DingTalk's side of it: an
//! HTTP event push is `{"encrypt": base64(AES-256-CBC(random16 ‖ be_u32(len) ‖ msg ‖ ownerKey))}`,
//! signed `sha1_hex(sort(token, timestamp, nonce, encrypt))`, and the receiver answers `success`
//! the same way. Kept here, not borrowed from the bot, so the simulator checks the bot against
//! the algorithm rather than against itself.

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// The key's 43 characters decode with 2 spare bits that need not be zero (Java's decoder
/// ignores them), so the strict engine would refuse most keys.
const KEY_ENGINE: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));
/// DingTalk's servers (the Java library) pad to 32 bytes, not the cipher's 16.
const PAD_BLOCK: usize = 32;

/// Why a push or an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the aes_key is not 43 letters and digits")]
    BadKey,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the encrypt field does not decrypt")]
    Undecryptable,
    #[error("the decrypted text names another owner key")]
    ForeignOwner,
}

/// The encrypted answer (and push signature fields), keys as DingTalk spells them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedReply {
    pub msg_signature: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// One event subscription's crypto: the console's token and aes_key, and the owner key (an
/// internal app's Client ID, a third-party app's suite key). Debug shows neither secret.
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: [u8; 32],
    owner_key: String,
}

impl std::fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCrypto").field("owner_key", &self.owner_key).finish_non_exhaustive()
    }
}

impl CallbackCrypto {
    pub fn new(token: &str, aes_key: &str, owner_key: &str) -> Result<Self, CryptoError> {
        if aes_key.len() != 43 || !aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CryptoError::BadKey);
        }
        let bytes = KEY_ENGINE.decode(format!("{aes_key}=")).map_err(|_| CryptoError::BadKey)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::BadKey)?;
        Ok(Self { token: token.to_owned(), key, owner_key: owner_key.to_owned() })
    }

    /// `lowercase_hex(sha1(concat(sort([token, timestamp, nonce, encrypt]))))`.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let digest = Sha1::digest(parts.concat().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encrypts `msg` behind the given 16 random bytes (tests pin them to reproduce a vector).
    pub fn encrypt_with(&self, random: &[u8; 16], msg: &str) -> String {
        let mut plain = Vec::with_capacity(20 + msg.len() + self.owner_key.len() + PAD_BLOCK);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.owner_key.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(0), pad));
        let len = plain.len();
        let cipher = cbc::Encryptor::<Aes256>::new((&self.key).into(), self.key[..16].into());
        let sealed = cipher.encrypt_padded_mut::<NoPadding>(&mut plain, len).map(<[u8]>::to_vec).unwrap_or_default();
        STANDARD.encode(sealed)
    }

    /// Encrypts `msg` behind fresh random bytes.
    pub fn encrypt(&self, msg: &str) -> String {
        let mut random = [0u8; 16];
        random.fill_with(|| fastrand::alphanumeric() as u8);
        self.encrypt_with(&random, msg)
    }

    /// Decrypts `encrypt`, checking the owner key after the message.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let mut sealed = STANDARD.decode(encrypt.trim()).map_err(|_| CryptoError::Undecryptable)?;
        let cipher = cbc::Decryptor::<Aes256>::new((&self.key).into(), self.key[..16].into());
        let plain = cipher.decrypt_padded_mut::<NoPadding>(&mut sealed).map_err(|_| CryptoError::Undecryptable)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::Undecryptable)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptoError::Undecryptable);
        }
        let body = &plain[..plain.len() - pad];
        let len_bytes: [u8; 4] = body.get(16..20).and_then(|b| b.try_into().ok()).ok_or(CryptoError::Undecryptable)?;
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::Undecryptable)?;
        let end = 20usize.checked_add(len).filter(|end| *end <= body.len()).ok_or(CryptoError::Undecryptable)?;
        if &body[end..] != self.owner_key.as_bytes() {
            return Err(CryptoError::ForeignOwner);
        }
        String::from_utf8(body[20..end].to_vec()).map_err(|_| CryptoError::Undecryptable)
    }

    /// Checks the signature first, then decrypts.
    pub fn open(&self, signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> Result<String, CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes())) {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(encrypt)
    }

    /// `msg` encrypted and signed with `timestamp` and `nonce`, as a receiver answers.
    pub fn seal(&self, msg: &str, timestamp: &str, nonce: &str) -> EncryptedReply {
        let encrypt = self.encrypt(msg);
        EncryptedReply {
            msg_signature: self.signature(timestamp, nonce, &encrypt),
            time_stamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            encrypt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(text: &str) -> [u8; 16] {
        text.as_bytes().try_into().expect("16 bytes")
    }

    #[test]
    fn the_console_faqs_success_reply_checks_and_reencrypts_byte_exact() {
        let crypto =
            CallbackCrypto::new("123456", "1234567890123456789012345678901234567890123", "dingsnotzck6pm5veliw")
                .expect("key");
        let encrypt = "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==";
        let opened = crypto.open("9a95a004dd16f5c307e849b994173f76aa26e5eb", "1614767836", "A7Co0cJLMzIDtMMI", encrypt);
        assert_eq!(opened.as_deref(), Ok("success"));
        assert_eq!(crypto.encrypt_with(&random("dICkEDLj0eb6yAbc"), "success"), encrypt);
    }

    #[test]
    fn the_libraries_check_url_push_checks_and_reencrypts_byte_exact() {
        let crypto =
            CallbackCrypto::new("mryue", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "ding6ccabc44d2c8d38b")
                .expect("key");
        let encrypt = "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3";
        let opened = crypto.open("03044561471240d4a14bb09372dfcfd4fd0e40cb", "1608001896814", "WL4PK6yA", encrypt);
        assert_eq!(opened.as_deref(), Ok(r#"{"EventType":"check_url"}"#));
        assert_eq!(crypto.encrypt_with(&random("l7Y3EcX2CU5w8av3"), r#"{"EventType":"check_url"}"#), encrypt);
    }

    #[test]
    fn the_local_debug_example_opens_with_the_suite_key() {
        let crypto =
            CallbackCrypto::new("123456", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "suite4xxxxxxxxxxxxxxx")
                .expect("key");
        let encrypt = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==";
        let opened = crypto.open("5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0", "1445827045067", "nEXhMP4r", encrypt);
        assert_eq!(
            opened.as_deref(),
            Ok(r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#)
        );
    }

    #[test]
    fn forged_foreign_and_garbled_pushes_are_refused() {
        let crypto = CallbackCrypto::new("t", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "dingapp").expect("key");
        let reply = crypto.seal("success", "1", "n");
        assert_eq!(crypto.open(&reply.msg_signature, "1", "n", &reply.encrypt).as_deref(), Ok("success"));
        assert_eq!(crypto.open("0000", "1", "n", &reply.encrypt), Err(CryptoError::BadSignature));
        let other = CallbackCrypto::new("t", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "dingother").expect("key");
        assert_eq!(other.decrypt(&reply.encrypt), Err(CryptoError::ForeignOwner));
        assert_eq!(crypto.decrypt("not base64!"), Err(CryptoError::Undecryptable));
        assert_eq!(crypto.decrypt("AAAA"), Err(CryptoError::Undecryptable));
        assert_eq!(CallbackCrypto::new("t", "short", "x").map(|_| ()), Err(CryptoError::BadKey));
        assert!(!format!("{crypto:?}").contains("4g5j"), "no key in Debug");
    }
}
