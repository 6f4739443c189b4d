//! The metrics an on-call person's alerts read beyond the traffic counts: which build runs, the
//! Stream connection and when it last heard anything, the store's journal backlog and write
//! errors, how long a question waits for its answer, the budget's limit, and the permissions
//! found missing.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The reply channels the latency histogram is labelled with, exported from the start.
pub const REPLY_CHANNELS: [&str; 3] = ["card", "session_webhook", "openapi"];

/// What the store says of itself when the metrics are rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreReading {
    /// Accepted messages recorded and not yet answered.
    pub backlog: u64,
    /// When the oldest of them was received (unix milliseconds).
    pub oldest_received_ms: Option<i64>,
    /// Commits (and accepted-message log appends) that failed since the start.
    pub write_errors: u64,
}

type StoreSource = Box<dyn Fn() -> StoreReading + Send + Sync>;

/// Registered in the bot's registry beside the traffic metrics.
pub struct OperationsMetrics {
    stream_enabled: Gauge,
    stream_connected: Gauge,
    stream_last_frame: Gauge<f64, AtomicU64>,
    journal_backlog: Gauge,
    journal_oldest_age: Gauge<f64, AtomicU64>,
    store_write_errors: Counter,
    reply_seconds: Family<[(&'static str, &'static str); 1], Histogram>,
    journal_batch: Histogram,
    budget_limit: Gauge,
    permission_missing: Family<[(&'static str, String); 1], Gauge>,
    store: OnceLock<StoreSource>,
}

impl OperationsMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
        let build = Info::new(vec![
            ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("profile".to_owned(), profile.to_owned()),
        ]);
        registry.register("build", "The running build: its version and profile (always 1)", build);
        let stream_enabled = Gauge::default();
        registry.register("stream_enabled", "1 when this replica runs the Stream client", stream_enabled.clone());
        let stream_connected = Gauge::default();
        registry.register(
            "stream_connected",
            "Stream sockets open now (1, or 2 during a handoff)",
            stream_connected.clone(),
        );
        let stream_last_frame = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "stream_last_frame_timestamp_seconds",
            "When the Stream last sent anything, a pong included (unix seconds; 0 before the first)",
            stream_last_frame.clone(),
        );
        let journal_backlog = Gauge::default();
        registry.register(
            "journal_backlog",
            "Accepted messages in this replica's store not answered yet",
            journal_backlog.clone(),
        );
        let journal_oldest_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "journal_oldest_age_seconds",
            "How long the oldest unanswered message in this replica's store has waited (0 when none)",
            journal_oldest_age.clone(),
        );
        let store_write_errors = Counter::default();
        registry.register(
            "store_write_errors",
            "Writes this replica's store (SQLite) could not make: failed commits and log appends",
            store_write_errors.clone(),
        );
        let reply_seconds = Family::<[(&'static str, &'static str); 1], Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.025, 2.0, 12))
        });
        registry.register(
            "reply_duration_seconds",
            "From a message's receipt to its reply delivered, by channel (card, session_webhook, openapi)",
            reply_seconds.clone(),
        );
        for channel in REPLY_CHANNELS {
            drop(reply_seconds.get_or_create(&[("channel", channel)]));
        }
        let journal_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "journal_batch_records",
            "Records (accepted messages and done marks) per append of the journal's log: its group commit's batch sizes",
            journal_batch.clone(),
        );
        let budget_limit = Gauge::default();
        registry.register(
            "openapi_budget_limit",
            "DINGMEET_MONTHLY_CALL_BUDGET: OpenAPI calls allowed per organisation in a rolling 30 days (0 = no limit)",
            budget_limit.clone(),
        );
        let permission_missing = Family::default();
        registry.register(
            "permission_missing",
            "Organisations found lacking a permission (scope) the app needs, by scope",
            permission_missing.clone(),
        );
        Self {
            stream_enabled,
            stream_connected,
            stream_last_frame,
            journal_backlog,
            journal_oldest_age,
            store_write_errors,
            reply_seconds,
            journal_batch,
            budget_limit,
            permission_missing,
            store: OnceLock::new(),
        }
    }

    /// One more organisation lacks `scope` (the OpenAPI client tells each organisation once).
    pub fn permission_missing(&self, scope: &str) {
        self.permission_missing.get_or_create(&[("scope", scope.to_owned())]).inc();
    }

    /// This replica runs the Stream client.
    pub fn stream_enabled(&self) {
        self.stream_enabled.set(1);
    }

    /// Counts a Stream socket as open until the guard drops.
    pub fn stream_socket(&self) -> StreamSocket {
        self.stream_connected.inc();
        StreamSocket(self.stream_connected.clone())
    }

    /// The Stream sent something (any frame, a pong included).
    pub fn stream_frame(&self) {
        self.stream_last_frame.set(unix_seconds(SystemTime::now()));
    }

    /// A reply was delivered `waited` after its message was received, on `channel`.
    pub fn reply_delivered(&self, channel: &'static str, waited: Duration) {
        self.reply_seconds.get_or_create(&[("channel", channel)]).observe(waited.as_secs_f64());
    }

    /// The monthly OpenAPI budget per organisation.
    pub fn budget_limit(&self, limit: u64) {
        self.budget_limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// The histogram of the journal's batch sizes, for the store to count into.
    pub fn journal_batch(&self) -> Histogram {
        self.journal_batch.clone()
    }

    /// Reads the store's backlog and errors from `source` at each rendering (the first source
    /// set stays: one store per application).
    pub fn observe_store(&self, source: impl Fn() -> StoreReading + Send + Sync + 'static) {
        let _ = self.store.set(Box::new(source));
    }

    /// Brings the store's gauges up to date, just before rendering.
    pub(super) fn refresh(&self) {
        let Some(source) = self.store.get() else { return };
        self.record_store(source(), SystemTime::now());
    }

    fn record_store(&self, reading: StoreReading, now: SystemTime) {
        self.journal_backlog.set(i64::try_from(reading.backlog).unwrap_or(i64::MAX));
        let age = reading.oldest_received_ms.map_or(0.0, |received_ms| {
            let now_ms = unix_seconds(now) * 1000.0;
            // Precision to the millisecond is plenty for an age in seconds.
            #[allow(clippy::cast_precision_loss)]
            let received_ms = received_ms as f64;
            ((now_ms - received_ms) / 1000.0).max(0.0)
        });
        self.journal_oldest_age.set(age);
        // The store counts its errors itself; the counter catches up with that total.
        let counted = self.store_write_errors.get();
        if reading.write_errors > counted {
            self.store_write_errors.inc_by(reading.write_errors - counted);
        }
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64())
}

/// Decrements the open Stream socket gauge when dropped.
pub struct StreamSocket(Gauge);

impl Drop for StreamSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).expect("encodes");
        out
    }

    #[test]
    fn build_stream_store_reply_and_budget_series_exist_from_the_start() {
        let mut registry = Registry::with_prefix("dingmeet");
        let _ops = OperationsMetrics::register(&mut registry);
        let text = render(&registry);
        let version = env!("CARGO_PKG_VERSION");
        assert!(text.contains(&format!("dingmeet_build_info{{version=\"{version}\",profile=")), "{text}");
        for line in [
            "dingmeet_stream_enabled 0",
            "dingmeet_stream_connected 0",
            "dingmeet_stream_last_frame_timestamp_seconds 0.0",
            "dingmeet_journal_backlog 0",
            "dingmeet_journal_oldest_age_seconds 0.0",
            "dingmeet_store_write_errors_total 0",
            "dingmeet_openapi_budget_limit 0",
            r#"dingmeet_reply_duration_seconds_count{channel="openapi"} 0"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn the_stream_socket_gauge_follows_its_guards() {
        let mut registry = Registry::default();
        let ops = OperationsMetrics::register(&mut registry);
        let first = ops.stream_socket();
        let second = ops.stream_socket();
        assert_eq!(ops.stream_connected.get(), 2);
        drop(first);
        drop(second);
        assert_eq!(ops.stream_connected.get(), 0);
        ops.stream_frame();
        assert!(ops.stream_last_frame.get() > 1.0e9, "a unix time");
    }

    #[test]
    fn store_readings_set_the_backlog_its_age_and_catch_the_error_counter_up() {
        let mut registry = Registry::default();
        let ops = OperationsMetrics::register(&mut registry);
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        ops.record_store(StoreReading { backlog: 3, oldest_received_ms: Some(990_000), write_errors: 2 }, now);
        assert_eq!(ops.journal_backlog.get(), 3);
        assert!((ops.journal_oldest_age.get() - 10.0).abs() < 1e-9);
        assert_eq!(ops.store_write_errors.get(), 2);
        ops.record_store(StoreReading { backlog: 0, oldest_received_ms: None, write_errors: 5 }, now);
        assert_eq!((ops.journal_backlog.get(), ops.journal_oldest_age.get()), (0, 0.0));
        assert_eq!(ops.store_write_errors.get(), 5, "a counter catches up, never goes back");
    }

    #[test]
    fn without_a_store_refresh_leaves_the_gauges_alone() {
        let mut registry = Registry::default();
        let ops = OperationsMetrics::register(&mut registry);
        ops.refresh();
        ops.observe_store(|| StoreReading { backlog: 7, oldest_received_ms: None, write_errors: 0 });
        ops.refresh();
        assert_eq!(ops.journal_backlog.get(), 7);
    }
}
