//! The Prometheus metrics every part of the bot reports to, and their label values.

use std::sync::OnceLock;
use std::time::Duration;

use super::connections;
use super::meeting_events::MeetingEventMetrics;
use super::operations::OperationsMetrics;
pub use super::outcome::Outcome;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label sets as arrays: building one for a lookup allocates nothing.
type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Why a message was refused (`dingmeet_refused_messages_total{reason}`): the allow-lists' and the
/// rate limit's.
const REFUSAL_REASONS: [&str; 3] = ["rate_limited", "conversation_not_allowed", "user_not_allowed"];
/// How a reminder settles (`dingmeet_reminders_total{outcome}`).
const REMINDER_OUTCOMES: [&str; 6] = ["sent", "started", "cancelled", "missed", "uncertain", "failed"];

/// Every metric the bot exports, registered in one registry per application instance.
pub struct Metrics {
    registry: Registry,
    callbacks: Family<Labels<1>, Counter>,
    commands: Family<Labels<1>, Counter>,
    upstream: Family<Labels<2>, Counter>,
    upstream_seconds: Family<Labels<1>, Histogram>,
    token_fetches: Family<Labels<1>, Counter>,
    replies: Family<Labels<2>, Counter>,
    cache: Family<Labels<2>, Counter>,
    refused: Family<Labels<1>, Counter>,
    stream_reconnects: Counter,
    in_flight: Gauge,
    circuits_open: Gauge,
    short_circuited: Counter,
    degraded: Family<Labels<1>, Gauge>,
    reminders: Family<Labels<1>, Counter>,
    api_calls: Family<OrgLabels<3>, Counter>,
    budget_left: Family<OrgLabels<1>, Gauge>,
    background_paused: Family<OrgLabels<1>, Gauge>,
    cards: Family<Labels<2>, Counter>,
    hot: HotSeries,
    connections: connections::ConnectionMetrics,
    operations: OperationsMetrics,
    meeting_events: MeetingEventMetrics,
}

/// Label sets that name an organisation (a value only known at run time).
type OrgLabels<const N: usize> = [(&'static str, String); N];

/// The series every answered message counts under, looked up in their family once (a lookup
/// takes the family's lock and hashes the labels) and kept. Created on first use, so the
/// exposition is the same as without them.
#[derive(Default)]
struct HotSeries {
    accepted: OnceLock<Counter>,
    meeting: OnceLock<Counter>,
    conference_hit: OnceLock<Counter>,
    webhook_ok: OnceLock<Counter>,
    webhook_seconds: OnceLock<Histogram>,
    replied_ok: OnceLock<Counter>,
}

/// `family`'s series for `labels`, kept in `cell`.
fn kept<'a, const N: usize, M: Clone, C: MetricConstructor<M>>(
    cell: &'a OnceLock<M>,
    family: &Family<Labels<N>, M, C>,
    labels: Labels<N>,
) -> &'a M {
    cell.get_or_init(|| family.get_or_create(&labels).clone())
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::with_redis_emptied(Counter::default())
    }

    /// The metrics, exporting `redis_emptied` (counted by the state store) as
    /// `dingmeet_redis_emptied_total`.
    pub fn with_redis_emptied(redis_emptied: Counter) -> Self {
        let mut registry = Registry::with_prefix("dingmeet");
        let callbacks = Family::default();
        registry.register("callbacks", "Callbacks received, by outcome", callbacks.clone());
        let commands = Family::default();
        registry.register("commands", "Commands handled, by kind", commands.clone());
        let upstream = Family::default();
        registry.register("upstream_requests", "DingTalk API calls, by endpoint and outcome", upstream.clone());
        let upstream_seconds = Family::<Labels<1>, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        registry.register("upstream_request_duration_seconds", "DingTalk API call latency", upstream_seconds.clone());
        let token_fetches = Family::default();
        registry.register("token_fetches", "Access token fetches, by outcome", token_fetches.clone());
        let replies = Family::default();
        registry.register("replies", "Replies sent, by channel and outcome", replies.clone());
        let cache = Family::default();
        registry.register("cache_requests", "Cache lookups, by cache and result", cache.clone());
        let refused = Family::default();
        registry.register(
            "refused_messages",
            "Messages refused by an allow-list or rate limit, by reason",
            refused.clone(),
        );
        let stream_reconnects = Counter::default();
        registry.register("stream_reconnects", "Stream connections re-opened", stream_reconnects.clone());
        let in_flight = Gauge::default();
        registry.register("in_flight_messages", "Messages being processed now", in_flight.clone());
        let circuits_open = Gauge::default();
        registry.register(
            "upstream_circuit_open",
            "Organisations whose conference lookups are paused (circuit open or half-open)",
            circuits_open.clone(),
        );
        let short_circuited = Counter::default();
        registry.register(
            "upstream_short_circuited",
            "Conference lookups answered at once, without a call, because the circuit is open",
            short_circuited.clone(),
        );
        let degraded = Family::default();
        registry.register(
            "degraded",
            "1 while a part this replica can answer without is unavailable (redis), by check",
            degraded.clone(),
        );
        let reminders = Family::default();
        registry.register(
            "reminders",
            "Meeting reminders, by outcome (sent, started, cancelled, missed, uncertain, failed)",
            reminders.clone(),
        );
        let api_calls = Family::default();
        registry.register(
            "openapi_calls",
            "OpenAPI calls counted against the monthly budget, by organisation, endpoint and purpose",
            api_calls.clone(),
        );
        let budget_left = Family::default();
        registry.register(
            "openapi_budget_left",
            "OpenAPI calls left in the rolling 30 days of DINGMEET_MONTHLY_CALL_BUDGET, by organisation",
            budget_left.clone(),
        );
        let background_paused = Family::default();
        registry.register(
            "background_paused",
            "1 while background work (live cards, reminders) is paused for the budget, by organisation",
            background_paused.clone(),
        );
        let cards = Family::default();
        registry.register(
            "cards",
            "Interactive cards: created, updated, fallen back, by action and outcome",
            cards.clone(),
        );
        registry.register(
            "redis_emptied",
            "Times Redis was found to have lost the shared state (its marker key gone); what this replica \
             keeps was put back",
            redis_emptied,
        );
        // Series an alert watches exist from the start (at 0), so a rate is defined before the
        // first bad callback or dropped reply.
        for outcome in Outcome::EXPORTED_AT_START {
            drop(callbacks.get_or_create(&[("outcome", outcome.label())]));
        }
        for reason in REFUSAL_REASONS {
            drop(refused.get_or_create(&[("reason", reason)]));
        }
        for outcome in REMINDER_OUTCOMES {
            drop(reminders.get_or_create(&[("outcome", outcome)]));
        }
        drop(token_fetches.get_or_create(&[("outcome", "ok")]));
        // The checks that can be degraded (the access token after its first success, Redis).
        for check in ["access_token", crate::readiness::REDIS] {
            drop(degraded.get_or_create(&[("check", check)]));
        }
        for channel in ["session_webhook", "openapi"] {
            drop(replies.get_or_create(&[("channel", channel), ("outcome", "ok")]));
        }
        let connections = connections::ConnectionMetrics::register(&mut registry);
        let operations = OperationsMetrics::register(&mut registry);
        let meeting_events = MeetingEventMetrics::register(&mut registry);
        Self {
            registry,
            callbacks,
            commands,
            upstream,
            upstream_seconds,
            token_fetches,
            replies,
            cache,
            refused,
            stream_reconnects,
            in_flight,
            circuits_open,
            short_circuited,
            degraded,
            reminders,
            api_calls,
            budget_left,
            background_paused,
            cards,
            hot: HotSeries::default(),
            connections,
            operations,
            meeting_events,
        }
    }

    pub fn callback(&self, outcome: Outcome) {
        match outcome {
            Outcome::Accepted => kept(&self.hot.accepted, &self.callbacks, [("outcome", outcome.label())]).inc(),
            _ => self.callbacks.get_or_create(&[("outcome", outcome.label())]).inc(),
        };
    }

    pub fn command(&self, kind: &'static str) {
        match kind {
            "meeting" => kept(&self.hot.meeting, &self.commands, [("kind", kind)]).inc(),
            _ => self.commands.get_or_create(&[("kind", kind)]).inc(),
        };
    }

    pub fn upstream(&self, endpoint: &'static str, outcome: &'static str, elapsed: Duration) {
        if (endpoint, outcome) == ("session_webhook", "ok") {
            kept(&self.hot.webhook_ok, &self.upstream, [("endpoint", endpoint), ("outcome", outcome)]).inc();
            kept(&self.hot.webhook_seconds, &self.upstream_seconds, [("endpoint", endpoint)])
                .observe(elapsed.as_secs_f64());
            return;
        }
        self.upstream.get_or_create(&[("endpoint", endpoint), ("outcome", outcome)]).inc();
        self.upstream_seconds.get_or_create(&[("endpoint", endpoint)]).observe(elapsed.as_secs_f64());
    }

    /// One meeting reminder settled, by how (`dingmeet_reminders_total{outcome}`).
    pub fn reminder(&self, outcome: &'static str) {
        self.reminders.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn token_fetch(&self, outcome: &'static str) {
        self.token_fetches.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn reply(&self, channel: &'static str, outcome: &'static str) {
        if (channel, outcome) == ("session_webhook", "ok") {
            kept(&self.hot.replied_ok, &self.replies, [("channel", channel), ("outcome", outcome)]).inc();
        } else {
            self.replies.get_or_create(&[("channel", channel), ("outcome", outcome)]).inc();
        }
    }

    pub fn cache(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        if (cache, hit) == ("conference", true) {
            kept(&self.hot.conference_hit, &self.cache, [("cache", cache), ("result", result)]).inc();
        } else {
            self.cache.get_or_create(&[("cache", cache), ("result", result)]).inc();
        }
    }

    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&[("reason", reason)]).inc();
    }

    pub fn stream_reconnect(&self) {
        self.stream_reconnects.inc();
    }

    /// An organisation's conference circuit opened (`true`) or closed again (`false`).
    pub fn circuit(&self, open: bool) {
        if open {
            self.circuits_open.inc();
        } else {
            self.circuits_open.dec();
        }
    }

    pub fn short_circuited(&self) {
        self.short_circuited.inc();
    }

    /// Whether the readiness check `check` is degraded now.
    pub fn degraded(&self, check: &'static str, degraded: bool) {
        self.degraded.get_or_create(&[("check", check)]).set(i64::from(degraded));
    }

    /// One OpenAPI call of `org`, for the budget.
    pub fn api_call(&self, org: &str, endpoint: &'static str, purpose: &'static str) {
        let labels = [("org", org.to_owned()), ("endpoint", endpoint.to_owned()), ("purpose", purpose.to_owned())];
        self.api_calls.get_or_create(&labels).inc();
    }

    /// What is left of `org`'s budget, and whether its background work is paused for it.
    pub fn budget(&self, org: &str, left: u64, paused: bool) {
        let labels = [("org", org.to_owned())];
        self.budget_left.get_or_create(&labels).set(i64::try_from(left).unwrap_or(i64::MAX));
        self.background_paused.get_or_create(&labels).set(i64::from(paused));
    }

    /// An interactive card was created, updated or fell back to markdown (`action`), with `outcome`.
    pub fn card(&self, action: &'static str, outcome: &'static str) {
        self.cards.get_or_create(&[("action", action), ("outcome", outcome)]).inc();
    }

    /// Counts a message as in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// The HTTP intake's connection metrics.
    pub fn connections(&self) -> &connections::ConnectionMetrics {
        &self.connections
    }

    /// The build, Stream, store, reply latency and budget-limit metrics.
    pub fn operations(&self) -> &OperationsMetrics {
        &self.operations
    }

    /// The meeting events' metrics.
    pub fn meeting_events(&self) -> &MeetingEventMetrics {
        &self.meeting_events
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.operations.refresh();
        let mut out = String::new();
        if let Err(err) = encode(&mut out, &self.registry) {
            tracing::error!(%err, "could not encode metrics");
        }
        out
    }
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
