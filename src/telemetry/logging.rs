//! Logs: tracing to stdout, as text or JSON lines, written in batches when stdout is not a terminal.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::json;

/// How long an info line may wait in the buffer before it is written (when stdout is not a
/// terminal); warnings and errors are written at once.
pub const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Installs the global tracing subscriber. `json` selects one JSON object per line.
/// `RUST_LOG` overrides the default filter (`info`).
///
/// When stdout is not a terminal (a container, a service, a file), lines are written in batches:
/// one `write` per batch instead of one per line, which under load is a system call and a lock
/// per message saved. A line waits at most [`LOG_FLUSH_INTERVAL`]; warnings and errors, and
/// everything still buffered when the returned guard drops, are written at once. Keep the
/// guard until the process ends.
#[must_use = "dropping the guard flushes the log"]
pub fn init_logging(json: bool) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let output = LogOutput::stdout();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(output.clone());
    // Err means a subscriber is already installed (tests), which is fine.
    let _ = if json {
        // The span list carries the callback's request id down to the reply's lines.
        builder.fmt_fields(json::JsonSpanFields).event_format(json::JsonLines).try_init()
    } else {
        builder.try_init()
    };
    LogGuard(output)
}

/// The one line at start saying which build runs and how: its version, its profile (`release`
/// or `debug`) and the way messages arrive.
pub fn log_start(mode: impl std::fmt::Debug) {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), profile, mode = ?mode, "dingmeet starting");
}

/// Flushes the log when dropped (batching goes on: this is for the end of `main`).
pub struct LogGuard(LogOutput);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// Where log lines go: stdout, line by line to a terminal, else through a buffer that a
/// background thread flushes every [`LOG_FLUSH_INTERVAL`].
#[derive(Clone)]
struct LogOutput(Option<Arc<Mutex<BufWriter<File>>>>);

impl LogOutput {
    fn stdout() -> Self {
        let stdout = std::io::stdout();
        if stdout.is_terminal() {
            return Self(None);
        }
        let Some(file) = stdout_file() else { return Self(None) };
        let buffer = Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, file)));
        let flusher = Arc::downgrade(&buffer);
        let spawned = std::thread::Builder::new().name("log-flush".into()).spawn(move || {
            while let Some(buffer) = flusher.upgrade() {
                Self::flush_buffer(&buffer);
                drop(buffer);
                std::thread::sleep(LOG_FLUSH_INTERVAL);
            }
        });
        // Without the flusher thread, lines go out one by one as before.
        if spawned.is_err() { Self(None) } else { Self(Some(buffer)) }
    }

    fn flush_buffer(buffer: &Mutex<BufWriter<File>>) {
        let _ = buffer.lock().unwrap_or_else(PoisonError::into_inner).flush();
    }

    fn flush(&self) {
        match &self.0 {
            Some(buffer) => Self::flush_buffer(buffer),
            None => {
                let _ = std::io::stdout().flush();
            }
        }
    }
}

/// Stdout as a file of its own (a duplicate descriptor), so writes skip stdout's line buffer.
#[cfg(unix)]
fn stdout_file() -> Option<File> {
    use std::os::fd::AsFd;
    std::io::stdout().as_fd().try_clone_to_owned().ok().map(File::from)
}

#[cfg(not(unix))]
fn stdout_file() -> Option<File> {
    None
}

/// One log line's writer: the buffer (flushed after the line when `urgent`), or stdout.
enum LineWriter<'a> {
    Buffered { buffer: MutexGuard<'a, BufWriter<File>>, urgent: bool },
    Direct(std::io::Stdout),
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Buffered { buffer, .. } => buffer.write(bytes),
            Self::Direct(stdout) => stdout.write(bytes),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Buffered { buffer, .. } => buffer.write_all(bytes),
            Self::Direct(stdout) => stdout.write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Buffered { buffer, .. } => buffer.flush(),
            Self::Direct(stdout) => stdout.flush(),
        }
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if let Self::Buffered { buffer, urgent: true } = self {
            let _ = buffer.flush();
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogOutput {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.writer(false)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        self.writer(*meta.level() <= tracing::Level::WARN)
    }
}

impl LogOutput {
    fn writer(&self, urgent: bool) -> LineWriter<'_> {
        match &self.0 {
            Some(buffer) => {
                LineWriter::Buffered { buffer: buffer.lock().unwrap_or_else(PoisonError::into_inner), urgent }
            }
            None => LineWriter::Direct(std::io::stdout()),
        }
    }
}
