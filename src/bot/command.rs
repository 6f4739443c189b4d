//! The command parser: person's text → [`Command`]. Pure, no IO, never panics.
//!
//! One table ([`COMMANDS`]) drives parsing, aliases, usage lines and the help card, so help can
//! never drift from what the parser accepts. (Longer than most files because its tests, the
//! grammar's cases, stay beside the grammar.)

use unicode_normalization::UnicodeNormalization;

use crate::lang::Lang;

/// The most meeting codes answered in one message.
pub const MAX_CODES: usize = 5;
/// The longest meeting code we pass to DingTalk (they are 9 digits in every example).
const MAX_CODE_DIGITS: usize = 32;

/// The commands the bot knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    Meeting,
    Share,
    Lang,
    Help,
}

/// One entry of the command table.
#[derive(Debug)]
pub struct CommandSpec {
    pub kind: CommandKind,
    /// Every spelling the parser accepts; the first is the canonical one shown in help.
    pub aliases: &'static [&'static str],
    /// The argument the command takes, if any.
    pub argument: Option<Argument>,
    /// An example argument, for help and tests.
    pub example: &'static str,
}

/// What a command's argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argument {
    /// One or more meeting codes (required).
    Codes,
    /// One meeting code (required).
    Code,
    /// A language, `zh` or `en` (optional: without it, the current one is shown).
    Language,
}

/// The command table: adding a command is one entry here (plus its descriptions in `i18n`).
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        kind: CommandKind::Meeting,
        aliases: &["/meeting", "/m", "meeting", "会议", "查询会议"],
        argument: Some(Argument::Codes),
        example: "123456789",
    },
    CommandSpec {
        kind: CommandKind::Share,
        aliases: &["/share", "/s", "share", "分享", "分享会议"],
        argument: Some(Argument::Code),
        example: "123456789",
    },
    CommandSpec {
        kind: CommandKind::Lang,
        aliases: &["/lang", "lang", "语言"],
        argument: Some(Argument::Language),
        example: "en",
    },
    CommandSpec { kind: CommandKind::Help, aliases: &["/help", "help", "帮助"], argument: None, example: "" },
];

impl CommandKind {
    pub fn spec(self) -> &'static CommandSpec {
        COMMANDS.iter().find(|spec| spec.kind == self).unwrap_or(&COMMANDS[0])
    }
}

/// A meeting code: digits only, spaces, dashes and full-width forms removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomCode(String);

impl RoomCode {
    /// Normalises and validates one code as a person typed it (`123 456 789`, `１２３-４５６`).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let normalized: String = nfkc(input).chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if normalized.is_empty()
            || normalized.len() > MAX_CODE_DIGITS
            || !normalized.chars().all(|c| c.is_ascii_digit())
        {
            return Err(ParseError::BadCode { input: input.trim().chars().take(40).collect() });
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

/// What the person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Look up these codes (at most [`MAX_CODES`]); `skipped` counts the ones beyond that.
    Meeting {
        codes: Vec<RoomCode>,
        skipped: usize,
    },
    /// Post a join card for the team: the meeting in progress or next under this code.
    Share(RoomCode),
    /// Switch this conversation's language, or (`None`) show the current one.
    Lang(Option<Lang>),
    Help,
}

impl Command {
    pub fn kind(&self) -> CommandKind {
        match self {
            Self::Meeting { .. } => CommandKind::Meeting,
            Self::Share(_) => CommandKind::Share,
            Self::Lang(_) => CommandKind::Lang,
            Self::Help => CommandKind::Help,
        }
    }
}

impl CommandKind {
    /// A stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Meeting => "meeting",
            Self::Share => "share",
            Self::Lang => "lang",
            Self::Help => "help",
        }
    }
}

/// Why a message is not a command we can run; each has its own friendly reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The first word is no command; `suggestion` is a close alias ("did you mean").
    UnknownCommand { word: String, suggestion: Option<&'static str> },
    /// A command that needs an argument came without it.
    MissingArgument { command: CommandKind },
    /// Something that should be a meeting code is not digits.
    BadCode { input: String },
    /// `/lang` with a language we do not speak.
    BadLanguage { input: String },
}

/// Parses a message's text into a command.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let words = words_without_mentions(text);
    let Some(first) = words.first() else { return Ok(Command::Help) };

    if looks_like_codes(&words) {
        return meeting(&words);
    }
    let lowered = first.to_lowercase();
    if let Some(spec) = lookup(&lowered) {
        return run(spec, &words[1..]);
    }
    // A Chinese alias glued to its code: `会议123456789`.
    if let Some((spec, rest)) = split_glued_alias(&lowered) {
        let mut args = vec![rest.to_owned()];
        args.extend(words[1..].iter().cloned());
        return run(spec, &args);
    }
    Err(ParseError::UnknownCommand { suggestion: suggest(&lowered), word: first.chars().take(40).collect() })
}

fn run(spec: &CommandSpec, args: &[String]) -> Result<Command, ParseError> {
    match spec.kind {
        CommandKind::Help => Ok(Command::Help),
        CommandKind::Meeting | CommandKind::Share if args.is_empty() => {
            Err(ParseError::MissingArgument { command: spec.kind })
        }
        CommandKind::Meeting => meeting(args),
        CommandKind::Share => match meeting(args)? {
            // One card per share: the first code is the one shared.
            Command::Meeting { codes, .. } => codes
                .into_iter()
                .next()
                .map(Command::Share)
                .ok_or(ParseError::MissingArgument { command: CommandKind::Share }),
            other => Ok(other),
        },
        CommandKind::Lang => match args.first() {
            None => Ok(Command::Lang(None)),
            Some(word) => word
                .parse::<Lang>()
                .map(|lang| Command::Lang(Some(lang)))
                .map_err(|_| ParseError::BadLanguage { input: word.chars().take(20).collect() }),
        },
    }
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

/// NFKC, which leaves ASCII as it is: most commands are typed in ASCII, and the normaliser
/// costs more than the rest of the parsing.
fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() { text.into() } else { text.nfkc().collect::<String>().into() }
}

fn lookup(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.aliases.contains(&word))
}

fn split_glued_alias(word: &str) -> Option<(&'static CommandSpec, &str)> {
    COMMANDS
        .iter()
        .filter(|spec| matches!(spec.argument, Some(Argument::Codes | Argument::Code)))
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
fn meeting(args: &[String]) -> Result<Command, ParseError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codes(list: &[&str]) -> Command {
        Command::Meeting { codes: list.iter().map(|c| RoomCode((*c).to_owned())).collect(), skipped: 0 }
    }

    #[test]
    fn every_alias_of_meeting_parses() {
        for alias in CommandKind::Meeting.spec().aliases {
            assert_eq!(parse(&format!("{alias} 123456789")), Ok(codes(&["123456789"])), "{alias}");
        }
    }

    #[test]
    fn help_and_empty_messages_ask_for_help() {
        for text in ["/help", "help", "HELP", "帮助", "", "   ", "@会议助手", " @会议助手 "] {
            assert_eq!(parse(text), Ok(Command::Help), "{text:?}");
        }
    }

    #[test]
    fn the_leading_space_dingtalk_leaves_is_trimmed() {
        assert_eq!(parse(" /meeting 123456789"), Ok(codes(&["123456789"])));
        assert_eq!(parse(" 查询会议 123456789"), Ok(codes(&["123456789"])));
    }

    #[test]
    fn mentions_at_either_end_or_glued_are_dropped() {
        assert_eq!(parse("@会议助手 /meeting 123456789"), Ok(codes(&["123456789"])));
        assert_eq!(parse("@会议助手 @会议助手 /m 123456789 @张三"), Ok(codes(&["123456789"])));
        assert_eq!(parse("帮助@机器人"), Ok(Command::Help));
    }

    #[test]
    fn a_bare_code_is_a_query() {
        assert_eq!(parse("123456789"), Ok(codes(&["123456789"])));
        assert_eq!(parse("123-456-789"), Ok(codes(&["123456789"])));
        assert_eq!(parse("123456789, 987654321"), Ok(codes(&["123456789", "987654321"])));
    }

    #[test]
    fn spaces_dashes_and_full_width_forms_are_normalised() {
        assert_eq!(parse("/meeting 123 456 789"), Ok(codes(&["123456789"])));
        assert_eq!(parse("/meeting 123-456-789"), Ok(codes(&["123456789"])));
        assert_eq!(parse("／meeting　１２３４５６７８９"), Ok(codes(&["123456789"])));
        assert_eq!(parse("会议 １２３－４５６－７８９"), Ok(codes(&["123456789"])));
    }

    #[test]
    fn a_chinese_alias_glued_to_its_code_works() {
        assert_eq!(parse("会议123456789"), Ok(codes(&["123456789"])));
        assert_eq!(parse("查询会议123456789"), Ok(codes(&["123456789"])));
    }

    #[test]
    fn several_codes_are_answered_up_to_the_limit() {
        assert_eq!(parse("/m 111111111 222222222"), Ok(codes(&["111111111", "222222222"])));
        assert_eq!(parse("/m 111111111，222222222"), Ok(codes(&["111111111", "222222222"])));
        let many = parse("/m 100000001 100000002 100000003 100000004 100000005 100000006 100000007");
        let Ok(Command::Meeting { codes, skipped }) = many else { panic!("parses: {many:?}") };
        assert_eq!((codes.len(), skipped), (5, 2));
    }

    #[test]
    fn repeated_codes_are_asked_once() {
        assert_eq!(parse("/m 123456789 123-456-789"), Ok(codes(&["123456789"])));
    }

    #[test]
    fn non_digits_get_a_bad_code_error() {
        assert_eq!(parse("/meeting abc"), Err(ParseError::BadCode { input: "abc".into() }));
        assert!(matches!(parse("/meeting 12345x789"), Err(ParseError::BadCode { .. })));
        assert!(matches!(parse(&format!("/m {}", "9".repeat(40))), Err(ParseError::BadCode { .. })));
    }

    #[test]
    fn a_command_without_its_code_says_so() {
        assert_eq!(parse("/meeting"), Err(ParseError::MissingArgument { command: CommandKind::Meeting }));
        assert_eq!(parse("会议 @张三"), Err(ParseError::MissingArgument { command: CommandKind::Meeting }));
    }

    #[test]
    fn a_typo_gets_a_did_you_mean() {
        assert_eq!(
            parse("/meting 123456789"),
            Err(ParseError::UnknownCommand { word: "/meting".into(), suggestion: Some("/meeting") })
        );
        assert_eq!(parse("/hlep"), Err(ParseError::UnknownCommand { word: "/hlep".into(), suggestion: Some("/help") }));
    }

    #[test]
    fn an_unrelated_word_gets_no_suggestion() {
        assert_eq!(
            parse("weather today"),
            Err(ParseError::UnknownCommand { word: "weather".into(), suggestion: None })
        );
    }

    #[test]
    fn commands_are_case_insensitive() {
        assert_eq!(parse("/MEETING 123456789"), Ok(codes(&["123456789"])));
    }

    #[test]
    fn every_alias_of_every_command_parses_to_that_command() {
        for spec in COMMANDS {
            for alias in spec.aliases {
                let text = format!("{alias} {}", spec.example);
                let parsed = parse(text.trim()).unwrap_or_else(|err| panic!("{text:?} fails: {err:?}"));
                assert_eq!(parsed.kind(), spec.kind, "{text:?}");
            }
        }
    }

    #[test]
    fn share_takes_one_code() {
        assert_eq!(parse("/share 123 456 789"), Ok(Command::Share(RoomCode("123456789".into()))));
        assert_eq!(parse("分享 123456789"), Ok(Command::Share(RoomCode("123456789".into()))));
        assert_eq!(parse("分享会议123456789"), Ok(Command::Share(RoomCode("123456789".into()))));
        assert_eq!(parse("/s"), Err(ParseError::MissingArgument { command: CommandKind::Share }));
        assert!(matches!(parse("/share abc"), Err(ParseError::BadCode { .. })));
    }

    #[test]
    fn lang_switches_or_shows_the_language() {
        assert_eq!(parse("/lang en"), Ok(Command::Lang(Some(Lang::En))));
        assert_eq!(parse("语言 中文"), Ok(Command::Lang(Some(Lang::Zh))));
        assert_eq!(parse("/lang"), Ok(Command::Lang(None)));
        assert_eq!(parse("/lang fr"), Err(ParseError::BadLanguage { input: "fr".into() }));
    }

    #[test]
    fn every_alias_in_the_table_is_unique() {
        let mut all: Vec<_> = COMMANDS.iter().flat_map(|s| s.aliases.iter()).collect();
        let before = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), before);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_any_unicode_never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn a_parsed_code_is_always_ascii_digits(text in "[0-9０-９ \\-－]{1,40}") {
            if let Ok(Command::Meeting { codes, .. }) = parse(&text) {
                prop_assert!(codes.iter().all(|c| !c.as_str().is_empty() && c.as_str().bytes().all(|b| b.is_ascii_digit())));
            }
        }

        #[test]
        fn any_nine_digit_code_round_trips_with_any_meeting_alias(code in "[0-9]{9}", alias in 0usize..5) {
            let spelled = CommandKind::Meeting.spec().aliases[alias];
            prop_assert_eq!(parse(&format!(" {spelled} {code}")), Ok(Command::Meeting { codes: vec![RoomCode(code)], skipped: 0 }));
        }
    }
}
