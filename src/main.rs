//! The `dingmeet` command line: thin; everything lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
#[cfg(feature = "sandbox")]
use std::time::Duration;

#[cfg(feature = "sandbox")]
use clap::ValueEnum;
use clap::{Parser, Subcommand};
use dingmeet::app::{Application, shutdown_signal};
#[cfg(feature = "sandbox")]
use dingmeet::config::{CardsMode, Mode};
use dingmeet::config::{LogFormat, Settings};
#[cfg(feature = "sandbox")]
use dingmeet::lang::Lang;
#[cfg(feature = "sandbox")]
use dingmeet::sandbox::playground::Chat;
#[cfg(feature = "sandbox")]
use dingmeet::sandbox::send::{MessageFormat, SendOptions};
#[cfg(feature = "sandbox")]
use dingmeet::sandbox::{Sandbox, SandboxOptions};
#[cfg(feature = "sandbox")]
use secrecy::SecretString;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "dingmeet", version, about = "A DingTalk robot that answers what is behind a meeting code")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot: receive DingTalk callbacks on POST /dingtalk/callback.
    Serve {
        /// A TOML settings file; DINGMEET_* environment variables win over it.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Look meeting codes up once and print the card, as the bot would reply.
    Query {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// The message text, e.g. `/meeting 123456789` or just `123456789`.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Copy the store of record (`dingmeet.sqlite3` in DINGMEET_DATA_DIR) to FILE, safely while
    /// the bot runs, with the messages its accepted-message logs hold. Restore: README.md, "Where
    /// data lives".
    Backup {
        /// A TOML settings file, read for DINGMEET_DATA_DIR as `serve` would.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// The data directory [default: the one `serve` uses with these settings].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Where the copy goes (replaced if it exists; written beside it first).
        file: PathBuf,
    },
    /// Check a real app's settings against DingTalk (credentials, permissions, the robot, how
    /// DingTalk reaches the bot, cards, events, the store, Redis) and print a checklist with the
    /// fix for each failure. Exit status: 0 all needed passes, 1 something is missing, 2 the
    /// settings do not load.
    Doctor {
        /// A TOML settings file; DINGMEET_* environment variables win over it (as for `serve`).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Mark the lines with [ok]/[FAIL] rather than ✓/✗ [default: when the locale is not UTF-8].
        #[arg(long)]
        plain: bool,
    },
    /// Try the bot with no DingTalk account: a simulated DingTalk, the bot wired to it, and a
    /// playground page that looks like a DingTalk chat, all on 127.0.0.1.
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// The playground's port (default 8600, or any free port if 8600 is taken; 0 = any).
        #[arg(long)]
        port: Option<u16>,
        /// A scenario file (meetings, errors, chat); default: the built-in crates/dingtalk-sim/scenario.toml.
        #[arg(long, value_name = "PATH")]
        scenario: Option<PathBuf>,
        /// The bot's reply language (and the page's): zh or en.
        #[arg(long, default_value = "zh")]
        lang: Lang,
        /// How messages reach the bot: http (signed callbacks), stream (the simulator's Stream
        /// gateway) or both. The playground posts HTTP callbacks.
        #[arg(long, default_value = "http")]
        mode: Mode,
        /// Keep the bot's store in this directory [default: a fresh temporary one, removed on exit].
        #[arg(long, value_name = "PATH")]
        data_dir: Option<PathBuf>,
        /// How the bot answers meeting questions (`DINGMEET_CARDS`): interactive cards that
        /// update themselves, or markdown replies only.
        #[arg(long, default_value = "interactive")]
        cards: CardsMode,
    },
    /// Sign a robot message and post it to a callback URL exactly as DingTalk would; print the
    /// HTTP answer and, against the sandbox, the bot's reply.
    #[cfg(feature = "sandbox")]
    Send {
        /// The message, as the person types it (without the @-mention of the robot).
        #[arg(required = true)]
        text: Vec<String>,
        /// The bot's callback URL [default: the sandbox's bot, else http://127.0.0.1:8080/dingtalk/callback]
        #[arg(long)]
        url: Option<String>,
        /// The app secret to sign with [default: the sandbox's simulated one].
        #[arg(long, env = "DINGMEET_CLIENT_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// The robotCode (the app's AppKey / Client ID).
        #[arg(long, env = "DINGMEET_CLIENT_ID")]
        client_id: Option<String>,
        /// A group message that @-mentions the robot, or a 1:1 message.
        #[arg(long, value_enum, default_value = "group")]
        chat: SendChat,
        /// Shortcut for --chat single.
        #[arg(long, conflicts_with = "chat")]
        single: bool,
        /// text, rich-text (words then a picture) or harmony (richText from the HarmonyOS client).
        #[arg(long, value_enum, default_value = "text")]
        format: SendFormat,
        /// Shortcut for --format rich-text.
        #[arg(long, conflicts_with = "format")]
        rich_text: bool,
        /// conversationId [default: the scenario's group or 1:1 conversation].
        #[arg(long)]
        conversation_id: Option<String>,
        /// senderStaffId [default: manager807].
        #[arg(long)]
        staff_id: Option<String>,
        /// Also @-mention this member, by staff id (in `atUsers`, as DingTalk sends it); repeatable.
        #[arg(long = "at", value_name = "STAFF_ID")]
        at: Vec<String>,
        /// sessionWebhook [default: a live session in the sandbox, else a DingTalk-shaped URL].
        #[arg(long)]
        webhook: Option<String>,
        /// A running sandbox's playground URL [default: looked for on 127.0.0.1:8600 when neither
        /// --url nor a secret is given].
        #[arg(long, value_name = "URL")]
        sandbox: Option<String>,
        /// Seconds to wait for the bot's reply in the sandbox (0: do not wait).
        #[arg(long, default_value_t = 15)]
        wait: u64,
    },
    /// Left out of this build (no `sandbox` feature): says so.
    #[cfg(not(feature = "sandbox"))]
    #[command(name = "sandbox", hide = true)]
    NoSandbox {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Left out of this build (no `sandbox` feature): says so.
    #[cfg(not(feature = "sandbox"))]
    #[command(name = "send", hide = true)]
    NoSend {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[cfg(feature = "sandbox")]
#[derive(Clone, Copy, ValueEnum)]
enum SendChat {
    Group,
    Single,
}

#[cfg(feature = "sandbox")]
#[derive(Clone, Copy, ValueEnum)]
enum SendFormat {
    Text,
    RichText,
    Harmony,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("dingmeet: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Doctor { config, plain } = cli.command {
        return ExitCode::from(runtime.block_on(doctor(config, plain)));
    }
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<Logged>() => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("dingmeet: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// An error already written to a JSON log, as the one line an operator's log pipeline reads.
#[derive(Debug, thiserror::Error)]
#[error("logged")]
struct Logged;

/// `result`, its error logged as a JSON line first when the logs are JSON (else `main` prints it).
fn logged<T>(json: bool, result: anyhow::Result<T>) -> anyhow::Result<T> {
    match result {
        Err(err) if json => {
            tracing::error!("dingmeet: {err:#}");
            Err(Logged.into())
        }
        other => other,
    }
}

/// Whether the logs are JSON, known before the settings load (so their errors are JSON too).
fn json_logs(config: Option<&std::path::Path>) -> bool {
    Settings::log_format_before_loading(config, std::env::vars()) == LogFormat::Json
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    dingmeet::telemetry::log_start(settings.server.mode);
    let app = Application::build(&settings).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn query(config: Option<PathBuf>, text: Vec<String>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let bot = dingmeet::app::build(&settings)?.bot;
    let message = dingmeet::dingtalk::message::Message::local(text.join(" "));
    let reply = bot.answer(&message).await;
    println!("{}", serde_json::to_string_pretty(&reply.webhook_body())?);
    Ok(())
}

/// `dingmeet doctor`: the checklist on stdout; its exit status.
async fn doctor(config: Option<PathBuf>, plain: bool) -> u8 {
    use dingmeet::doctor::checklist;
    let settings = match Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("dingmeet doctor: the settings do not load: {err}");
            return checklist::EXIT_SETTINGS;
        }
    };
    let checks = match dingmeet::doctor::run(&settings).await {
        Ok(checks) => checks,
        Err(err) => {
            eprintln!("dingmeet doctor: the settings do not load: {err}");
            return checklist::EXIT_SETTINGS;
        }
    };
    let plain = plain || !checklist::utf8_locale(|name| std::env::var(name).ok());
    print!("{}", checklist::render(&checks, plain));
    checklist::exit_status(&checks)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let json = json_logs(config.as_deref());
            let _log = dingmeet::telemetry::init_logging(json);
            logged(json, serve(config).await)
        }
        Command::Query { config, text } => {
            let json = json_logs(config.as_deref());
            let _log = dingmeet::telemetry::init_logging(json);
            logged(json, query(config, text).await)
        }
        Command::Backup { config, data_dir, file } => {
            let data_dir = match data_dir {
                Some(dir) => dir,
                None => Settings::load(config.as_deref())?.state.data_dir,
            };
            let target = file.clone();
            let backed_up = tokio::task::spawn_blocking(move || dingmeet::state::backup(&data_dir, &target)).await??;
            println!(
                "backed up {} to {} ({} bytes; {} accepted messages only the logs held, included)",
                backed_up.source.display(),
                file.display(),
                backed_up.bytes,
                backed_up.folded_from_logs,
            );
            Ok(())
        }
        Command::Doctor { .. } => anyhow::bail!("`doctor` runs on its own (see main)"),
        #[cfg(not(feature = "sandbox"))]
        Command::NoSandbox { .. } | Command::NoSend { .. } => anyhow::bail!(
            "this dingmeet was built without the simulator (the `sandbox` feature), so it has no `sandbox` or \
             `send`; build it with the default features (`cargo build --release`) to try the bot without DingTalk"
        ),
        #[cfg(feature = "sandbox")]
        Command::Sandbox { port, scenario, lang, mode, data_dir, cards } => {
            let _log = dingmeet::telemetry::init_logging(false);
            let sandbox = Sandbox::start(SandboxOptions { port, scenario, lang, mode, data_dir, cards }).await?;
            println!("{}", sandbox.banner());
            sandbox.run_until(shutdown_signal()).await?;
            Ok(())
        }
        #[cfg(feature = "sandbox")]
        Command::Send {
            text,
            url,
            secret,
            client_id,
            chat,
            single,
            format,
            rich_text,
            conversation_id,
            staff_id,
            at,
            webhook,
            sandbox,
            wait,
        } => {
            let chat = match (chat, single) {
                (_, true) | (SendChat::Single, _) => Chat::Single,
                (SendChat::Group, false) => Chat::Group,
            };
            let format = match (format, rich_text) {
                (_, true) | (SendFormat::RichText, _) => MessageFormat::RichText,
                (SendFormat::Harmony, false) => MessageFormat::Harmony,
                (SendFormat::Text, false) => MessageFormat::Text,
            };
            let options = SendOptions {
                text: text.join(" "),
                url,
                secret: secret.filter(|s| !s.is_empty()).map(SecretString::from),
                client_id: client_id.filter(|s| !s.is_empty()),
                chat,
                format,
                conversation_id,
                staff_id,
                mentioned: at,
                webhook,
                sandbox,
                detect_sandbox: true,
                wait: Duration::from_secs(wait),
            };
            let outcome = dingmeet::sandbox::send::send(options).await?;
            print!("{}", outcome.report());
            if let Some(failure) = outcome.failure() {
                anyhow::bail!(failure);
            }
            Ok(())
        }
    }
}
