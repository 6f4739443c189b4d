//! The marker this bot keeps in Redis (`<prefix>marker`, no expiry): a random epoch, set by the
//! first replica to find it missing. A replica that finds another epoch than the one it last saw,
//! or connects first to a Redis with none, knows Redis lost what it held (restarted without
//! persistence, flushed, failed over to an empty replica): it says so, counts it, and puts back
//! the settings this machine keeps; the shared registries put back their records on their next
//! pass ([`RedisStore::emptied_generation`]). Checked on every (re)connect and every
//! [`MARKER_CHECK`] while connected. The epoch last seen is kept in the store of record too, so a
//! replica restarted after another one found Redis empty and set a new marker still puts back
//! what it keeps.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::RedisStore;

/// How often a connected replica looks at the marker: a Redis restarted between two operations
/// is noticed by the failing one, a flushed one only by this.
pub(super) const MARKER_CHECK: Duration = Duration::from_secs(5);

/// Where the store of record keeps the epoch last seen: a settings scope no conversation has,
/// never put back in Redis.
const EPOCH_SCOPE: &str = ":redis";
const EPOCH_NAME: &str = "marker";

impl RedisStore {
    fn marker_key(&self) -> String {
        format!("{}marker", self.prefix)
    }

    /// How many times this replica found Redis emptied (the first connect to a Redis without a
    /// marker counts): a shared registry that put back its records at an older generation puts
    /// them back again.
    pub(in crate::state) fn emptied_generation(&self) -> u64 {
        self.emptied_generation.load(Ordering::Acquire)
    }

    /// Reads (setting it if missing) the marker on `conn`, and if Redis lost its data since this
    /// replica last looked, puts back what this machine keeps.
    pub(super) async fn settle_marker(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        let fresh = format!("{:016x}", fastrand::u64(..));
        let created: Option<String> =
            redis::cmd("SET").arg(self.marker_key()).arg(&fresh).arg("NX").query_async(conn).await?;
        let current = match created {
            Some(_) => fresh,
            None => {
                redis::cmd("GET").arg(self.marker_key()).query_async::<Option<String>>(conn).await?.unwrap_or(fresh)
            }
        };
        let seen = self.epoch.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let previous = match seen {
            Some(seen) => Some(seen),
            None => self.kept_epoch().await,
        };
        let emptied = match &previous {
            Some(previous) => *previous != current,
            None => created.is_some(),
        };
        if !emptied {
            if previous.is_none() {
                self.keep_epoch(&current).await;
            }
            *self.epoch.lock().unwrap_or_else(PoisonError::into_inner) = Some(current);
            return Ok(());
        }
        let mut settings = match &self.held {
            Some(held) => held.all_settings().await.unwrap_or_else(|err| {
                tracing::error!(%err, "the settings to put back in Redis could not be read");
                Vec::new()
            }),
            None => Vec::new(),
        };
        settings.retain(|(scope, _, _)| scope != EPOCH_SCOPE);
        let put_back = self.republish_settings(conn, &settings).await?;
        // Only now: a failure above leaves the old epoch, so the next attempt puts them back.
        self.keep_epoch(&current).await;
        *self.epoch.lock().unwrap_or_else(PoisonError::into_inner) = Some(current);
        self.emptied_generation.fetch_add(1, Ordering::AcqRel);
        if previous.is_some() || !settings.is_empty() {
            self.emptied.inc();
            tracing::warn!(
                redis = %self.target,
                settings_put_back = put_back,
                "Redis lost the shared state (its marker key {} is gone: restarted without persistence, \
                 flushed, or a new Redis): putting back what this replica keeps (settings now, live cards \
                 and reminders on their next pass); budget counts, duplicate ids and the shared journal \
                 are not restored. Give Redis persistence (appendonly yes) on a volume that outlives it",
                self.marker_key(),
            );
        }
        Ok(())
    }

    /// The epoch the store of record last saw (another process's, before a restart).
    async fn kept_epoch(&self) -> Option<String> {
        let held = self.held.as_ref()?;
        held.setting(EPOCH_SCOPE, EPOCH_NAME).await.ok().flatten()
    }

    async fn keep_epoch(&self, epoch: &str) {
        if let Some(held) = &self.held
            && let Err(err) = held.set_setting(EPOCH_SCOPE, EPOCH_NAME, Some(epoch)).await
        {
            tracing::warn!(%err, "the Redis marker seen could not be kept in the store");
        }
    }
}
