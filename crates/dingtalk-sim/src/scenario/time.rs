//! Times in a scenario: relative to the simulator clock (`"-15m"`, `"+2h"`, `"-1d2h"`, `"now"`),
//! so cards always look current, or absolute milliseconds.

use serde::Deserialize;

/// A point in time: relative to the simulator clock (rounded down to the minute), or absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawMoment")]
pub enum Moment {
    Relative(i64),
    Absolute(i64),
}

impl Moment {
    /// The instant in ms, given the simulator's now.
    pub fn at(self, now_ms: i64) -> i64 {
        match self {
            Self::Relative(offset) => now_ms.div_euclid(60_000).saturating_mul(60_000).saturating_add(offset),
            Self::Absolute(ms) => ms,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMoment {
    Millis(i64),
    Text(String),
}

impl TryFrom<RawMoment> for Moment {
    type Error = String;

    fn try_from(raw: RawMoment) -> Result<Self, Self::Error> {
        match raw {
            RawMoment::Millis(ms) => Ok(Self::Absolute(ms)),
            RawMoment::Text(text) if text.trim() == "now" => Ok(Self::Relative(0)),
            RawMoment::Text(text) => parse_offset(&text).map(Self::Relative),
        }
    }
}

/// A signed span of time such as `-1d`, `+2h30m`, `90s`, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Offset(pub i64);

impl TryFrom<String> for Offset {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        parse_offset(&text).map(Self)
    }
}

/// Parses `[+|-]` followed by one or more `<number><d|h|m|s>`, into ms.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a time offset like \"-15m\", \"+2h\" or \"-1d2h\"");
    let trimmed = text.trim();
    let (negative, rest) = match (trimmed.strip_prefix('-'), trimmed.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, trimmed),
    };
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit_ms: i64 = match c {
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' => 60_000,
            's' => 1_000,
            _ => return Err(bad()),
        };
        let value: i64 = number.parse().map_err(|_| bad())?;
        total = value.checked_mul(unit_ms).and_then(|ms| total.checked_add(ms)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(if negative { -total } else { total })
}
