//! The HTTP intake's bounds: its timeouts and its connection cap, and the open-files limit the
//! cap is derived from (raised from the soft to the hard limit at start, as Go's runtime does).

use std::time::Duration;

use crate::config::ServerSettings;

/// Descriptors kept out of the cap at the least: outgoing connections to DingTalk, Redis, the
/// log, the runtime's own.
const RESERVED_FILES: u64 = 128;

/// The derived cap at the most: a DingTalk bot needs tens of connections, and every open one
/// costs memory (about 16 KiB: its buffers and task), so a host with a million descriptors does
/// not invite a million; 4096 of them fit in the Kubernetes manifest's 128 MiB.
const DERIVED_CAP_MAX: u64 = 4096;

/// The derived cap at the least, whatever the limit says.
const DERIVED_CAP_MIN: u64 = 16;

/// The intake's settings, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl HttpLimits {
    /// From settings; a cap of 0 is derived from `open_files` (the soft limit in force).
    pub fn new(settings: &ServerSettings, open_files: Option<u64>) -> Self {
        let max_connections = match settings.http_max_connections {
            0 => derived_cap(open_files),
            n => n,
        };
        Self {
            header_timeout: settings.http_header_timeout,
            body_timeout: settings.http_body_timeout,
            idle_timeout: settings.http_idle_timeout,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// The cap left by `open_files`: a quarter (at least [`RESERVED_FILES`]) stays free for
/// everything else the process opens. Without a known limit, the largest derived cap.
fn derived_cap(open_files: Option<u64>) -> u64 {
    let Some(limit) = open_files else { return DERIVED_CAP_MAX };
    let reserved = (limit / 4).max(RESERVED_FILES);
    limit.saturating_sub(reserved).clamp(DERIVED_CAP_MIN, DERIVED_CAP_MAX)
}

/// Raises the soft open-files limit to the hard limit and logs both; returns the soft limit
/// now in force (None where there is no such limit).
pub fn raise_open_files_limit() -> Option<u64> {
    let (soft, hard) = open_files()?;
    match rlimit::increase_nofile_limit(hard) {
        Ok(raised) => {
            tracing::info!(soft_before = soft, soft = raised, hard, "open-files limit");
            Some(raised)
        }
        Err(err) => {
            tracing::warn!(
                %err, soft, hard,
                "could not raise the open-files limit to the hard limit; the HTTP connection cap is derived from the soft one"
            );
            Some(soft)
        }
    }
}

#[cfg(unix)]
fn open_files() -> Option<(u64, u64)> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok()
}

#[cfg(not(unix))]
fn open_files() -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_cap_leaves_room_for_everything_else() {
        assert_eq!(derived_cap(Some(1024)), 768);
        assert_eq!(derived_cap(Some(256)), 128);
        assert_eq!(derived_cap(Some(100)), DERIVED_CAP_MIN);
        assert_eq!(derived_cap(Some(20_000)), DERIVED_CAP_MAX);
        assert_eq!(derived_cap(Some(u64::MAX)), DERIVED_CAP_MAX);
        assert_eq!(derived_cap(None), DERIVED_CAP_MAX);
    }

    #[test]
    fn settings_resolve_with_the_cap_derived_unless_set() {
        let loaded = crate::config::Settings::load_from(None, Vec::new()).expect("the defaults load");
        let mut settings = loaded.server;
        let limits = HttpLimits::new(&settings, Some(1024));
        assert_eq!(limits.header_timeout, Duration::from_secs(5));
        assert_eq!(limits.body_timeout, Duration::from_secs(10));
        assert_eq!(limits.idle_timeout, Duration::from_secs(60));
        assert_eq!(limits.max_connections, 768);
        settings.http_max_connections = 50;
        let limits = HttpLimits::new(&settings, Some(1024));
        assert_eq!(limits.max_connections, 50);
    }
}
