//! systemd's notification protocol (`sd_notify`), for `Type=notify` units: `READY=1` once the
//! bot listens and its readiness checks pass, `STOPPING=1` when it begins to stop, and
//! `WATCHDOG=1` pings while its runtime runs. Datagrams to `$NOTIFY_SOCKET`; without it (not
//! under systemd, or a unit of another type) nothing is sent.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::readiness::Readiness;

/// How often readiness is looked at until it first passes.
const READY_POLL: Duration = Duration::from_millis(250);

/// A connection to the service manager, or nothing when there is none.
#[derive(Clone)]
pub struct Notifier {
    socket: Option<std::sync::Arc<(UnixDatagram, std::os::unix::net::SocketAddr)>>,
}

impl Notifier {
    /// The service manager named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
    pub fn from_environment() -> Self {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|path| socket_address(path.to_str()?));
        let socket = target.and_then(|address| Some(std::sync::Arc::new((UnixDatagram::unbound().ok()?, address))));
        Self { socket }
    }

    /// Whether a service manager listens.
    pub fn is_active(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends `state` (`KEY=value` lines). A failure is logged and otherwise ignored: the
    /// service manager's own timeouts then say what is wrong.
    pub fn notify(&self, state: &str) {
        if let Some(socket) = &self.socket
            && let Err(err) = socket.0.send_to_addr(state.as_bytes(), &socket.1)
        {
            tracing::warn!(%err, "cannot notify the service manager (NOTIFY_SOCKET)");
        }
    }

    /// Tells the service manager the bot is ready once `readiness` first passes (saying what it
    /// waits for meanwhile), pings its watchdog when it asks for one, and says `STOPPING=1` when
    /// `stop` is cancelled. The tasks are the runtime's own: a stalled runtime stops the pings.
    pub fn watch(&self, readiness: Readiness, stop: CancellationToken) {
        if !self.is_active() {
            return;
        }
        let notifier = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = notifier.announce_ready(readiness) => {}
                () = stop.cancelled() => {}
            }
            stop.cancelled().await;
            notifier.notify("STOPPING=1\nSTATUS=stopping: finishing replies in flight");
        });
        let interval = watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        if let Some(interval) = interval {
            let notifier = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                loop {
                    ticks.tick().await;
                    notifier.notify("WATCHDOG=1");
                }
            });
        }
    }

    async fn announce_ready(&self, readiness: Readiness) {
        let mut waiting_for = String::new();
        loop {
            let report = readiness.report().await;
            let failing: Vec<&str> = report.iter().filter(|(_, check)| !check.ready()).map(|(name, _)| *name).collect();
            if failing.is_empty() {
                self.notify("READY=1\nSTATUS=ready");
                tracing::info!("ready: told the service manager");
                return;
            }
            let now = failing.join(", ");
            if now != waiting_for {
                self.notify(&format!("STATUS=waiting for: {now}"));
                waiting_for = now;
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}

/// `$NOTIFY_SOCKET` as an address: a path, or `@name` for an abstract socket (Linux).
fn socket_address(text: &str) -> Option<std::os::unix::net::SocketAddr> {
    if let Some(name) = text.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            return std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok();
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return None;
        }
    }
    if text.is_empty() {
        return None;
    }
    std::os::unix::net::SocketAddr::from_pathname(text).ok()
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, when it is set and meant for this
/// process (`$WATCHDOG_PID` unset or `pid`).
fn watchdog_interval(usec: Option<&str>, watchdog_pid: Option<&str>, pid: u32) -> Option<Duration> {
    if watchdog_pid.is_some_and(|meant_for| meant_for.trim().parse::<u32>().ok() != Some(pid)) {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|usec| *usec > 0)?;
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_pinged_at_half_its_interval_when_it_is_meant_for_this_process() {
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None, "another process's watchdog");
        assert_eq!(watchdog_interval(None, None, 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None, "0 turns it off");
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
    }

    #[test]
    fn the_socket_is_a_path_or_an_abstract_name() {
        let path = socket_address("/run/systemd/notify").expect("a path");
        assert_eq!(path.as_pathname(), Some(std::path::Path::new("/run/systemd/notify")));
        assert!(socket_address("").is_none());
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = socket_address("@notify-7").expect("an abstract name");
            assert_eq!(name.as_abstract_name(), Some(&b"notify-7"[..]));
        }
    }

    #[test]
    fn notifications_are_datagrams_to_the_socket() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).expect("bound");
        let address = socket_address(path.to_str().expect("a UTF-8 path")).expect("an address");
        let socket = UnixDatagram::unbound().expect("a socket");
        let notifier = Notifier { socket: Some(std::sync::Arc::new((socket, address))) };
        notifier.notify("READY=1");
        let mut buffer = [0; 64];
        let read = receiver.recv(&mut buffer).expect("a datagram");
        assert_eq!(&buffer[..read], b"READY=1");
        assert!(!Notifier { socket: None }.is_active());
    }
}
