//! The command parser: a person's text → [`Command`], by the table in [`super::COMMANDS`]. Pure,
//! no IO, never panics; its cases are in `tests.rs` beside it.

use super::{Argument, COMMANDS, Command, CommandKind, CommandSpec, MAX_CODES, ParseError};
use crate::bot::remind::{DEFAULT_MINUTES, MAX_MINUTES, RemindRequest};
use crate::bot::room_code::{RoomCode, nfkc};
use crate::lang::Lang;

/// The words that cancel: `/remind off 123456789`, `提醒 取消`.
const OFF_WORDS: &[&str] = &["off", "cancel", "stop", "取消", "关闭", "关"];
/// `/meeting new`, `/meeting start`, `会议 发起`.
const NEW_WORDS: &[&str] = &["new", "start", "新建", "发起"];
/// `/meeting end`, `/meeting stop`, `会议 结束`.
const END_WORDS: &[&str] = &["end", "stop", "close", "结束"];
/// DingTalk keeps at most this many characters of a meeting title.
pub(super) const MAX_TITLE_CHARS: usize = 50;
/// A code shorter than this is taken whole, never split into a code and minutes: `123 456 789`
/// is one code, `123456789 10` a code and ten minutes.
const MIN_CODE_DIGITS_BEFORE_MINUTES: usize = 9;

/// Parses a message's text into a command.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let words = words_without_mentions(text);
    let Some(first) = words.first() else { return Ok(Command::Help) };

    if looks_like_codes(&words) {
        return codes(&words);
    }
    let lowered = first.to_lowercase();
    if let Some(spec) = lookup(&lowered) {
        return (spec.parse)(&words[1..]);
    }
    // A Chinese alias glued to its code: `会议123456789`.
    if let Some((spec, rest)) = split_glued_alias(&lowered) {
        let mut args = vec![rest.to_owned()];
        args.extend(words[1..].iter().cloned());
        return (spec.parse)(&args);
    }
    Err(ParseError::UnknownCommand { suggestion: suggest(&lowered), word: first.chars().take(40).collect() })
}

/// `/meeting <code…>`, `/meeting new …`, `/meeting end …`.
pub(super) fn meeting(args: &[String]) -> Result<Command, ParseError> {
    let Some(first) = args.first() else {
        return Err(ParseError::MissingArgument { command: CommandKind::Meeting });
    };
    let lowered = first.to_lowercase();
    if NEW_WORDS.contains(&lowered.as_str()) {
        return new_meeting(&args[1..]);
    }
    if END_WORDS.contains(&lowered.as_str()) {
        return end_meeting(&args[1..]);
    }
    codes(args)
}

/// `/meeting new [title]`: the words left once @-mentions are dropped are the title (the
/// invitees come from the message's `atUsers`, never its text), cut to DingTalk's 50 characters.
pub(super) fn new_meeting(args: &[String]) -> Result<Command, ParseError> {
    let title: String = args.join(" ").trim().chars().take(MAX_TITLE_CHARS).collect();
    let title = title.trim();
    Ok(Command::NewMeeting { title: (!title.is_empty()).then(|| title.to_owned()) })
}

/// `/meeting end [code]`.
pub(super) fn end_meeting(args: &[String]) -> Result<Command, ParseError> {
    if args.is_empty() {
        return Ok(Command::EndMeeting(None));
    }
    Ok(Command::EndMeeting(Some(RoomCode::parse(&args.join(" "))?)))
}

/// `/today`, whatever follows.
pub(super) fn today(_: &[String]) -> Result<Command, ParseError> {
    Ok(Command::Today)
}

/// `/share <code>`: one card per share, so the first code is the one shared.
pub(super) fn share(args: &[String]) -> Result<Command, ParseError> {
    let missing = ParseError::MissingArgument { command: CommandKind::Share };
    if args.is_empty() {
        return Err(missing);
    }
    match codes(args)? {
        Command::Meeting { codes, .. } => codes.into_iter().next().map(Command::Share).ok_or(missing),
        other => Ok(other),
    }
}

/// `/lang [language]`.
pub(super) fn lang(args: &[String]) -> Result<Command, ParseError> {
    match args.first() {
        None => Ok(Command::Lang(None)),
        Some(word) => word
            .parse::<Lang>()
            .map(|lang| Command::Lang(Some(lang)))
            .map_err(|_| ParseError::BadLanguage { input: word.chars().take(20).collect() }),
    }
}

/// `/remind [<code> [minutes] | off [code]]`.
pub(super) fn remind(args: &[String]) -> Result<Command, ParseError> {
    reminder(args).map(Command::Remind)
}

/// `/help`, whatever follows.
pub(super) fn help(_: &[String]) -> Result<Command, ParseError> {
    Ok(Command::Help)
}

/// NFKC-normalises the text and splits it into words, dropping @-mentions wherever they are
/// (`@Bot` repeated at the start, `@Nick` at the end, `帮助@机器人` glued to a word).
fn words_without_mentions(text: &str) -> Vec<String> {
    nfkc(text)
        .split(|c: char| c.is_whitespace())
        .filter_map(|word| {
            let before_mention = word.split('@').next().unwrap_or_default();
            (!before_mention.is_empty()).then(|| before_mention.to_owned())
        })
        .collect()
}

fn lookup(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.aliases.contains(&word))
}

fn split_glued_alias(word: &str) -> Option<(&'static CommandSpec, &str)> {
    COMMANDS
        .iter()
        .filter(|spec| matches!(spec.argument, Some(Argument::Codes | Argument::Code | Argument::Reminder)))
        .flat_map(|spec| spec.aliases.iter().map(move |alias| (spec, *alias)))
        .filter_map(|(spec, alias)| word.strip_prefix(alias).map(|rest| (spec, rest)))
        .filter(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
        .max_by_key(|(_, rest)| std::cmp::Reverse(rest.len()))
}

/// True when every word is made of digits and separators: a bare meeting code is a query.
fn looks_like_codes(words: &[String]) -> bool {
    words.first().is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        && words.iter().all(|w| w.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | ';' | '、')))
}

/// Splits the arguments into codes. Commas, semicolons and `、` always separate codes; spaces
/// separate codes only when every group is long enough to be one (`123 456 789` is one code).
fn codes(args: &[String]) -> Result<Command, ParseError> {
    let joined = args.join(" ");
    let mut codes: Vec<RoomCode> = Vec::new();
    for part in joined.split([',', ';', '、']).map(str::trim).filter(|p| !p.is_empty()) {
        let groups: Vec<&str> = part.split_whitespace().collect();
        let separate = groups.len() > 1 && groups.iter().all(|g| g.chars().filter(char::is_ascii_digit).count() >= 6);
        let candidates: Vec<String> =
            if separate { groups.iter().map(|g| (*g).to_owned()).collect() } else { vec![part.to_owned()] };
        for candidate in candidates {
            let code = RoomCode::parse(&candidate)?;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    if codes.is_empty() {
        return Err(ParseError::MissingArgument { command: CommandKind::Meeting });
    }
    let skipped = codes.len().saturating_sub(MAX_CODES);
    codes.truncate(MAX_CODES);
    Ok(Command::Meeting { codes, skipped })
}

/// The alias closest to `word`, if it is close enough to be a typo.
fn suggest(word: &str) -> Option<&'static str> {
    let candidates = COMMANDS.iter().flat_map(|spec| spec.aliases.iter().copied());
    let (alias, distance) = candidates
        .map(|alias| (alias, strsim::damerau_levenshtein(word, alias)))
        .min_by_key(|(_, distance)| *distance)?;
    let allowed = if word.chars().count() <= 4 { 1 } else { 2 };
    (distance > 0 && distance <= allowed).then_some(alias)
}

/// The words after `/remind`.
fn reminder(args: &[String]) -> Result<RemindRequest, ParseError> {
    let Some(first) = args.first() else { return Ok(RemindRequest::List) };
    if OFF_WORDS.contains(&first.to_lowercase().as_str()) {
        let rest = args[1..].join(" ");
        return if rest.trim().is_empty() {
            Ok(RemindRequest::Off(None))
        } else {
            Ok(RemindRequest::Off(Some(RoomCode::parse(&rest)?)))
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
                Ok(minutes @ 1..=MAX_MINUTES) => Ok(RemindRequest::Set { code, minutes }),
                _ => Err(ParseError::BadMinutes { input: last.chars().take(20).collect() }),
            };
        }
    }
    Ok(RemindRequest::Set { code: RoomCode::parse(&args.join(" "))?, minutes: DEFAULT_MINUTES })
}

/// The digits of a minutes word (`10`, `10m`, `10min`, `10分钟`), if it is one.
fn minutes_word(word: &str) -> Option<&str> {
    let lowered = word.trim();
    let digits =
        ["分钟", "分", "mins", "min", "m"].iter().find_map(|unit| lowered.strip_suffix(unit)).unwrap_or(lowered);
    (!digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

#[cfg(test)]
mod tests;
