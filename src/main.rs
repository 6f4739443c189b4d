//! The `dingmeet` command line: thin; everything lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dingmeet::app::{Application, shutdown_signal};
use dingmeet::config::{LogFormat, Settings};

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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("dingmeet: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            dingmeet::telemetry::init_logging(settings.log_format == LogFormat::Json);
            let app = Application::build(&settings).await?;
            app.run_until(shutdown_signal()).await?;
            Ok(())
        }
        Command::Query { config, text } => {
            let settings = Settings::load(config.as_deref())?;
            dingmeet::telemetry::init_logging(settings.log_format == LogFormat::Json);
            let bot = dingmeet::app::build(&settings)?.bot;
            let message = dingmeet::dingtalk::message::InboundMessage::local(text.join(" "));
            let reply = bot.answer(&message).await;
            println!("{}", serde_json::to_string_pretty(&reply.webhook_body())?);
            Ok(())
        }
    }
}
