//! Ids shaped like DingTalk's: request ids, random hex (tokens, session ids), base64 (`msgId`,
//! `processQueryKey`, conversation ids), and stable ones derived from a seed so they do not change
//! between runs (conference ids, scenario conversations).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A request id like `01A08FE7-CDD1-7818-964E-AF384B54BB19`.
pub(crate) fn request_id() -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..),
        fastrand::u16(..),
        fastrand::u64(..) & 0xFFFF_FFFF_FFFF
    )
}

/// `len` random lower-case hex digits (access tokens, session ids).
pub(crate) fn hex(len: usize) -> String {
    (0..len).map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)])).collect()
}

/// `len` random decimal digits, the first not 0 (a meeting code).
pub(crate) fn digits(len: usize) -> String {
    (0..len).map(|i| char::from(b'0' + if i == 0 { fastrand::u8(1..10) } else { fastrand::u8(0..10) })).collect()
}

/// Standard base64 of `bytes` random bytes (`msgId`, `processQueryKey`, `cid…`).
pub(crate) fn random_base64(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| fastrand::u8(..)).collect();
    STANDARD.encode(raw)
}

/// Standard base64 of a stable hash of `seed`, for ids that must not change between runs.
pub(crate) fn stable_base64(seed: &str, bytes: usize) -> String {
    let mut out = Vec::with_capacity(bytes);
    let mut state = fnv1a(seed.as_bytes());
    while out.len() < bytes {
        state = fnv1a(&state.to_le_bytes());
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(bytes);
    STANDARD.encode(out)
}

/// Lower-case hex of a stable hash of `seed`, `len` digits (conference ids).
pub(crate) fn stable_hex(seed: &str, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut state = fnv1a(seed.as_bytes());
    while out.len() < len {
        state = fnv1a(&state.to_le_bytes());
        out.push_str(&format!("{state:016x}"));
    }
    out.truncate(len);
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// A person's `unionId`, stable for the same staff id: letters and digits ending `iEiE`, as
/// captured (`rkq8m6nIlrmaPC3HLyECZAiEiE`).
pub(crate) fn union_id_for(seed: &str) -> String {
    let letters: String =
        stable_base64(&format!("union/{seed}"), 24).chars().filter(char::is_ascii_alphanumeric).take(22).collect();
    format!("{letters}iEiE")
}

/// A UUID-shaped random id (Stream tickets, connection ids).
pub(crate) fn uuid() -> String {
    uuid_from(&hex(32))
}

/// `hex` (32 digits) grouped as a UUID.
pub(crate) fn uuid_from(hex: &str) -> String {
    let part = |from: usize, to: usize| hex.get(from..to).unwrap_or_default();
    format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_dingtalks_shapes() {
        let id = request_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(hex(32).len(), 32);
        assert!(random_base64(16).ends_with("=="));
        assert_eq!(stable_hex("x", 24), stable_hex("x", 24));
        assert_ne!(stable_hex("x", 24), stable_hex("y", 24));
        assert_eq!(stable_base64("x", 16), stable_base64("x", 16));
    }

    #[test]
    fn uuids_have_five_groups() {
        assert_eq!(uuid().split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }
}
