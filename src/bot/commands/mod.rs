//! The commands: the one table ([`COMMANDS`]) that drives parsing, aliases, usage lines and the
//! help card (so help can never drift from what the parser accepts), and the way from a parsed
//! [`Command`] to its answer. Each command answers in a file of its own. Adding one: an entry
//! in the table (with its variants of [`CommandKind`] and [`Command`] and its arm in [`answer`]),
//! its file, the function reading its words in `parse`, and its description in `i18n`.
//!
//! The command files call the features (cards, live cards, reminders); no feature imports this
//! module, so the features share vocabulary only through `room_code` and `lang`.

mod end;
mod help;
mod lang;
mod meeting;
mod new;
mod parse;
mod remind;
mod share;
mod today;

use std::sync::Arc;

use chrono_tz::Tz;

pub use self::help::{help_card, parse_error_card};
pub use self::lang::LANG_SETTING;
pub use self::parse::parse;
use super::i18n::Text;
use super::live::{CardAnswer, CardView, LiveCards};
use super::meeting_card_memo::MeetingCardMemo;
use super::organiser::Organiser;
use super::remind::{RemindRequest, Reminders};
use super::render::CodeResult;
use super::room_code::{BadCode, RoomCode};
use crate::dingtalk::conference::{ConferenceClient, Conferences};
use crate::dingtalk::message::Message;
use crate::dingtalk::openapi::ApiError;
use crate::dingtalk::reply::OutgoingMessage;
use crate::lang::Lang;
use crate::state::StateStore;

/// The most meeting codes answered in one message.
pub const MAX_CODES: usize = 5;

/// The commands the bot knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    Meeting,
    Share,
    Lang,
    Remind,
    NewMeeting,
    EndMeeting,
    Today,
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
    /// A stable label for metrics.
    pub label: &'static str,
    /// Reads the words after the alias into the command (pure; the grammar is in `parse`).
    pub parse: fn(&[String]) -> Result<Command, ParseError>,
    /// What the command does, for the help card.
    pub describe: fn(&Text) -> &'static str,
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
    /// `<code> [minutes]`, `off [code]` or nothing (see [`RemindRequest`]).
    Reminder,
    /// A meeting's title and the members to invite, both optional.
    TitleAndPeople,
    /// One meeting code, optional.
    OptionalCode,
}

/// The command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        kind: CommandKind::Meeting,
        aliases: &["/meeting", "/m", "meeting", "会议", "查询会议"],
        argument: Some(Argument::Codes),
        example: "123456789",
        label: "meeting",
        parse: parse::meeting,
        describe: |t| t.help_meeting,
    },
    CommandSpec {
        kind: CommandKind::Share,
        aliases: &["/share", "/s", "share", "分享", "分享会议"],
        argument: Some(Argument::Code),
        example: "123456789",
        label: "share",
        parse: parse::share,
        describe: |t| t.help_share,
    },
    CommandSpec {
        kind: CommandKind::Lang,
        aliases: &["/lang", "lang", "语言"],
        argument: Some(Argument::Language),
        example: "en",
        label: "lang",
        parse: parse::lang,
        describe: |t| t.help_lang,
    },
    CommandSpec {
        kind: CommandKind::Remind,
        aliases: &["/remind", "/r", "remind", "提醒", "会议提醒"],
        argument: Some(Argument::Reminder),
        example: "123456789 10",
        label: "remind",
        parse: parse::remind,
        describe: |t| t.help_remind,
    },
    CommandSpec {
        kind: CommandKind::NewMeeting,
        aliases: &["/meeting new", "/new", "开会", "发起会议"],
        argument: Some(Argument::TitleAndPeople),
        example: "周会",
        label: "meeting_new",
        parse: parse::new_meeting,
        describe: |t| t.actions.help_new,
    },
    CommandSpec {
        kind: CommandKind::EndMeeting,
        aliases: &["/meeting end", "/end", "结束会议"],
        argument: Some(Argument::OptionalCode),
        example: "123456789",
        label: "meeting_end",
        parse: parse::end_meeting,
        describe: |t| t.actions.help_end,
    },
    CommandSpec {
        kind: CommandKind::Today,
        aliases: &["/today", "/meetings", "today", "今天", "今日会议"],
        argument: None,
        example: "",
        label: "today",
        parse: parse::today,
        describe: |t| t.actions.help_today,
    },
    CommandSpec {
        kind: CommandKind::Help,
        aliases: &["/help", "help", "帮助"],
        argument: None,
        example: "",
        label: "help",
        parse: parse::help,
        describe: |t| t.help_help,
    },
];

impl CommandKind {
    pub fn spec(self) -> &'static CommandSpec {
        COMMANDS.iter().find(|spec| spec.kind == self).unwrap_or(&COMMANDS[0])
    }

    /// A stable label for metrics.
    pub fn label(self) -> &'static str {
        self.spec().label
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
    /// Set, list or cancel this conversation's meeting reminders.
    Remind(RemindRequest),
    /// Start a video meeting now, the sender its organiser, the @-mentioned members invited.
    NewMeeting {
        title: Option<String>,
    },
    /// End a meeting the sender started here (`None`: their last one).
    EndMeeting(Option<RoomCode>),
    /// The sender's meetings of the day.
    Today,
    Help,
}

impl Command {
    pub fn kind(&self) -> CommandKind {
        match self {
            Self::Meeting { .. } => CommandKind::Meeting,
            Self::Share(_) => CommandKind::Share,
            Self::Lang(_) => CommandKind::Lang,
            Self::Remind(_) => CommandKind::Remind,
            Self::NewMeeting { .. } => CommandKind::NewMeeting,
            Self::EndMeeting(_) => CommandKind::EndMeeting,
            Self::Today => CommandKind::Today,
            Self::Help => CommandKind::Help,
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
    /// `/remind` with a number of minutes outside 1–1440.
    BadMinutes { input: String },
}

impl From<BadCode> for ParseError {
    fn from(BadCode { input }: BadCode) -> Self {
        Self::BadCode { input }
    }
}

/// An answer, and what it was made from when it could be an interactive card.
pub struct Composed {
    pub message: OutgoingMessage,
    pub card: Option<CardAnswer>,
}

impl Composed {
    /// An answer that is never an interactive card.
    pub fn plain(message: OutgoingMessage) -> Self {
        Self { message, card: None }
    }
}

/// What a command's answer may use: the message it answers and the bot's parts.
pub struct Context<'a> {
    pub message: &'a Message,
    /// The conversation's language.
    pub lang: Lang,
    /// Who the answer @-mentions, if anyone.
    pub mention: Option<&'a str>,
    pub timezone: Tz,
    pub conferences: &'a ConferenceClient,
    pub cards: &'a MeetingCardMemo,
    /// Whether answers may be interactive cards (only then is what a card is made from kept).
    pub interactive: bool,
    pub reminders: Option<&'a Reminders>,
    pub state: &'a StateStore,
    /// Acts in DingTalk for the sender (`/meeting new`, `/meeting end`, `/today`).
    pub organiser: &'a Organiser,
    /// Where a meeting started from the chat is shown ended at once (when cards are live).
    pub live: Option<&'a LiveCards>,
}

impl Context<'_> {
    /// The meetings behind `code`, a failure logged.
    async fn lookup(&self, code: &RoomCode) -> Result<Arc<Conferences>, ApiError> {
        let corp = self.message.reply_to.corp_id.as_deref();
        let result = self.conferences.infos(corp, code.as_str()).await;
        if let Err(err) = &result {
            tracing::warn!(code = %code, %err, kind = err.kind(), "meeting lookup failed");
        }
        result
    }

    /// What a live card showing `results` is made from; none when answers are never
    /// interactive. A `/share` card mentions nobody: it is for everyone.
    fn card_answer(&self, results: Vec<CodeResult>, skipped: usize, share: bool) -> Option<CardAnswer> {
        self.interactive.then(|| CardAnswer {
            view: CardView {
                codes: results.iter().map(|(code, _)| code.as_str().to_owned()).collect(),
                skipped,
                share,
                mention: if share { None } else { self.mention.map(str::to_owned) },
                lang: self.lang.code().to_owned(),
                started: None,
            },
            results,
        })
    }
}

/// The answer to `command`.
pub async fn answer(command: Command, cx: &Context<'_>) -> Composed {
    match command {
        Command::Help => Composed::plain(help::answer(cx)),
        Command::Meeting { codes, skipped } => meeting::answer(cx, codes, skipped).await,
        Command::Share(code) => share::answer(cx, code).await,
        Command::Remind(request) => Composed::plain(remind::answer(cx, request).await),
        Command::Lang(choice) => Composed::plain(lang::answer(cx, choice).await),
        Command::NewMeeting { title } => new::answer(cx, title).await,
        Command::EndMeeting(code) => Composed::plain(end::answer(cx, code).await),
        Command::Today => Composed::plain(today::answer(cx).await),
    }
}
