//! What `/remind` was asked: set (a code and how many minutes before), list, or cancel. Pure.

use super::{DEFAULT_MINUTES, MAX_MINUTES};
use crate::bot::command::{ParseError, RoomCode};

/// The words that cancel: `/remind off 123456789`, `提醒 取消`.
const OFF_WORDS: &[&str] = &["off", "cancel", "stop", "取消", "关闭", "关"];
/// A code shorter than this is taken whole, never split into a code and minutes: `123 456 789`
/// is one code, `123456789 10` a code and ten minutes.
const MIN_CODE_DIGITS_BEFORE_MINUTES: usize = 9;

/// A `/remind` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemindRequest {
    /// `/remind`: this conversation's reminders.
    List,
    /// `/remind <code> [minutes]`.
    Set { code: RoomCode, minutes: u32 },
    /// `/remind off [code]`: one code's reminder, or (`None`) all of this conversation's.
    Off(Option<RoomCode>),
}

impl RemindRequest {
    /// Parses the words after the command.
    pub fn parse(args: &[String]) -> Result<Self, ParseError> {
        let Some(first) = args.first() else { return Ok(Self::List) };
        if OFF_WORDS.contains(&first.to_lowercase().as_str()) {
            let rest = args[1..].join(" ");
            return if rest.trim().is_empty() {
                Ok(Self::Off(None))
            } else {
                RoomCode::parse(&rest).map(|c| Self::Off(Some(c)))
            };
        }
        if let Some((last, before)) = args.split_last()
            && !before.is_empty()
            && let Some(minutes) = minutes_word(last)
        {
            let code = RoomCode::parse(&before.join(" "))?;
            if code.as_str().len() >= MIN_CODE_DIGITS_BEFORE_MINUTES
                || before.len() == 1 && !last.bytes().all(|b| b.is_ascii_digit())
            {
                return match minutes.parse::<u32>() {
                    Ok(minutes @ 1..=MAX_MINUTES) => Ok(Self::Set { code, minutes }),
                    _ => Err(ParseError::BadMinutes { input: last.chars().take(20).collect() }),
                };
            }
        }
        Ok(Self::Set { code: RoomCode::parse(&args.join(" "))?, minutes: DEFAULT_MINUTES })
    }
}

/// The digits of a minutes word (`10`, `10m`, `10min`, `10分钟`), if it is one.
fn minutes_word(word: &str) -> Option<&str> {
    let lowered = word.trim();
    let digits =
        ["分钟", "分", "mins", "min", "m"].iter().find_map(|unit| lowered.strip_suffix(unit)).unwrap_or(lowered);
    (!digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::command::{Command, parse};

    fn set(code: &str, minutes: u32) -> Result<Command, ParseError> {
        Ok(Command::Remind(RemindRequest::Set { code: RoomCode::parse(code).expect("a code"), minutes }))
    }

    #[test]
    fn a_code_alone_reminds_five_minutes_before() {
        assert_eq!(parse("/remind 123456789"), set("123456789", 5));
        assert_eq!(parse("提醒 123 456 789"), set("123456789", 5));
        assert_eq!(parse("提醒123456789"), set("123456789", 5));
        assert_eq!(parse("@会议助手 /r 123-456-789"), set("123456789", 5));
    }

    #[test]
    fn minutes_follow_the_code() {
        assert_eq!(parse("/remind 123456789 10"), set("123456789", 10));
        assert_eq!(parse("/remind 123 456 789 15"), set("123456789", 15));
        assert_eq!(parse("提醒 123456789 30分钟"), set("123456789", 30));
        assert_eq!(parse("/remind 123456789 1440"), set("123456789", 1440));
        assert_eq!(parse("/remind 1234 10m"), set("1234", 10));
    }

    #[test]
    fn minutes_outside_a_day_are_refused() {
        assert_eq!(parse("/remind 123456789 0"), Err(ParseError::BadMinutes { input: "0".into() }));
        assert_eq!(parse("/remind 123456789 1441"), Err(ParseError::BadMinutes { input: "1441".into() }));
        assert!(matches!(parse("/remind abc"), Err(ParseError::BadCode { .. })));
    }

    #[test]
    fn alone_it_lists_and_with_off_it_cancels() {
        assert_eq!(parse("/remind"), Ok(Command::Remind(RemindRequest::List)));
        assert_eq!(parse("提醒"), Ok(Command::Remind(RemindRequest::List)));
        assert_eq!(parse("/remind off"), Ok(Command::Remind(RemindRequest::Off(None))));
        assert_eq!(parse("提醒 取消"), Ok(Command::Remind(RemindRequest::Off(None))));
        assert_eq!(
            parse("/remind OFF 123 456 789"),
            Ok(Command::Remind(RemindRequest::Off(Some(RoomCode::parse("123456789").expect("a code")))))
        );
        assert!(matches!(parse("/remind off x"), Err(ParseError::BadCode { .. })));
    }

    #[test]
    fn a_typo_of_remind_gets_a_did_you_mean() {
        assert_eq!(
            parse("/remnd 123456789"),
            Err(ParseError::UnknownCommand { word: "/remnd".into(), suggestion: Some("/remind") })
        );
    }
}
