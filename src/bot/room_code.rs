//! A meeting code as a person typed it, normalised: the one word the command parser, the cards,
//! the live cards and the reminders all share, so none of them imports another for it. Pure.

use unicode_normalization::UnicodeNormalization;

/// The longest meeting code we pass to DingTalk (they are 9 digits in every example).
const MAX_CODE_DIGITS: usize = 32;

/// A meeting code: digits only, spaces, dashes and full-width forms removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomCode(String);

/// Text that is not a meeting code (cut to 40 characters, for the reply that says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCode {
    pub input: String,
}

impl RoomCode {
    /// Normalises and validates one code as a person typed it (`123 456 789`, `１２３-４５６`).
    pub fn parse(input: &str) -> Result<Self, BadCode> {
        let normalized: String = nfkc(input).chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if normalized.is_empty()
            || normalized.len() > MAX_CODE_DIGITS
            || !normalized.chars().all(|c| c.is_ascii_digit())
        {
            return Err(BadCode { input: input.trim().chars().take(40).collect() });
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoomCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// NFKC, which leaves ASCII as it is: most commands are typed in ASCII, and the normaliser
/// costs more than the rest of the parsing.
pub fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() { text.into() } else { text.nfkc().collect::<String>().into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_dashes_and_full_width_digits_are_normalised() {
        assert_eq!(RoomCode::parse("１２３-４５６ 789").map(|c| c.to_string()), Ok("123456789".to_owned()));
        assert_eq!(RoomCode::parse(" x1 "), Err(BadCode { input: "x1".into() }));
        assert!(RoomCode::parse(&"9".repeat(33)).is_err());
        assert!(RoomCode::parse("").is_err());
    }
}
