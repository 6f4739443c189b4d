//! Telemetry: logs ([`logging`]) and the Prometheus metrics ([`metrics`]).

pub mod connections;
mod json;
pub mod logging;
pub mod meeting_events;
pub mod metrics;
pub mod operations;
mod outcome;

pub use logging::{LOG_FLUSH_INTERVAL, LogGuard, init_logging, log_start};
pub use metrics::{InFlight, Metrics, Outcome};
