//! The HTTP intake's connection metrics: how many are open, the cap, and why they were closed.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// The request's headers were not complete in time.
    Header,
    /// The request's body did not arrive in time (answered 408).
    Body,
    /// A keep-alive connection waited too long for its next request.
    Idle,
}

impl Timeout {
    pub const ALL: [Self; 3] = [Self::Header, Self::Body, Self::Idle];

    pub fn label(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Body => "body",
            Self::Idle => "idle",
        }
    }
}

/// Registered in the bot's registry; the listener reports to it.
#[derive(Clone)]
pub struct ConnectionMetrics {
    open: Gauge,
    limit: Gauge,
    timed_out: Family<[(&'static str, &'static str); 1], Counter>,
    shed: Counter,
}

impl ConnectionMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let open = Gauge::default();
        registry.register("http_connections", "HTTP connections open now", open.clone());
        let limit = Gauge::default();
        registry.register(
            "http_connection_limit",
            "HTTP connections allowed open at once (DINGMEET_HTTP_MAX_CONNECTIONS or derived)",
            limit.clone(),
        );
        let timed_out = Family::default();
        registry.register(
            "http_connections_timed_out",
            "HTTP connections closed by a timeout, by which (header, body, idle)",
            timed_out.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "http_connections_shed",
            "HTTP connections closed at the cap to make room (the quietest first)",
            shed.clone(),
        );
        // Alerts watch these from the start, before the first timeout.
        for timeout in Timeout::ALL {
            drop(timed_out.get_or_create(&[("timeout", timeout.label())]));
        }
        Self { open, limit, timed_out, shed }
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    pub fn opened(&self) {
        self.open.inc();
    }

    pub fn closed(&self) {
        self.open.dec();
    }

    pub fn timed_out(&self, timeout: Timeout) {
        self.timed_out.get_or_create(&[("timeout", timeout.label())]).inc();
    }

    pub fn shed(&self, count: u64) {
        self.shed.inc_by(count);
    }
}
