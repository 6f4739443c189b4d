//! `/help`, and the answers to messages that are no command we can run: the help card is built
//! from the command table, so it lists exactly what the parser accepts.

use super::{Argument, COMMANDS, Context, ParseError};
use crate::bot::i18n::{Text, fill};
use crate::bot::render::{self, HelpLine};
use crate::dingtalk::reply::OutgoingMessage;

pub(super) fn answer(cx: &Context<'_>) -> OutgoingMessage {
    help_card(cx.lang.text(), None, cx.mention)
}

/// The help card; `preface` explains why it is shown.
pub fn help_card(t: &Text, preface: Option<String>, mention: Option<&str>) -> OutgoingMessage {
    let lines = COMMANDS
        .iter()
        .map(|spec| {
            let usage = match spec.argument {
                Some(argument) => format!("{} {}", spec.aliases[0], argument_placeholder(t, argument)),
                None => spec.aliases[0].to_owned(),
            };
            let others = spec.aliases[1..].join(" ");
            HelpLine {
                usage,
                description: (spec.describe)(t),
                aliases_note: if others.is_empty() {
                    String::new()
                } else {
                    fill(t.help_aliases, &[("aliases", &others)])
                },
            }
        })
        .collect();
    render::help_card(t, preface, lines, mention)
}

/// The answer to a message that is not a command we can run: what was wrong and what to send.
pub fn parse_error_card(t: &Text, err: &ParseError, mention: Option<&str>) -> OutgoingMessage {
    match err {
        ParseError::UnknownCommand { word, suggestion } => {
            let mut preface = fill(t.unknown_command, &[("word", word)]);
            if let Some(suggestion) = suggestion {
                preface.push(' ');
                preface.push_str(&fill(t.did_you_mean, &[("suggestion", suggestion)]));
            }
            help_card(t, Some(preface), mention)
        }
        ParseError::MissingArgument { .. } => render::notice_card(t, &[t.missing_code.to_owned()], mention),
        ParseError::BadCode { input } => render::notice_card(t, &[fill(t.bad_code, &[("input", input)])], mention),
        ParseError::BadLanguage { .. } => render::notice_card(t, &[t.bad_language.to_owned()], mention),
        ParseError::BadMinutes { input } => {
            render::notice_card(t, &[fill(t.bad_minutes, &[("input", input)])], mention)
        }
    }
}

/// The placeholder for a command's argument in usage lines.
fn argument_placeholder(t: &Text, argument: Argument) -> &'static str {
    match argument {
        Argument::Codes => t.arg_codes,
        Argument::Code => t.arg_code,
        Argument::Language => t.arg_language,
        Argument::Reminder => t.arg_reminder,
        Argument::TitleAndPeople => t.actions.arg_new,
        Argument::OptionalCode => t.actions.arg_end,
    }
}
