//! Counting OpenAPI calls: the client (and the token provider) reports each call it makes, by
//! organisation, endpoint and purpose, to whoever keeps the count (the bot's budget). The purpose
//! of background work is set around it with [`with_purpose`]; a call made outside one counts for
//! its endpoint's declared purpose.

use std::future::Future;
use std::sync::Arc;

/// What a call was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A meeting lookup for a question someone typed.
    Query,
    /// Background upkeep of a live card: its lookup, its participant count, its update.
    Refresh,
    /// A reminder posted without being asked.
    Reminder,
    /// An access token.
    Token,
    /// An answer sent through the OpenAPI (a card, or the robot send when the webhook is gone).
    Reply,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Refresh => "refresh",
            Self::Reminder => "reminder",
            Self::Token => "token",
            Self::Reply => "reply",
        }
    }

    /// Background work: spent only while the budget allows.
    pub fn background(self) -> bool {
        matches!(self, Self::Refresh | Self::Reminder)
    }
}

/// Keeps the count of calls.
pub trait CallCounter: Send + Sync {
    fn record_call(&self, org: &str, endpoint: &'static str, purpose: Purpose);
}

/// A client's handle on the counter (none: calls are not counted).
#[derive(Clone, Default)]
pub struct Calls(Option<Arc<dyn CallCounter>>);

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Calls(counted)" } else { "Calls(uncounted)" })
    }
}

tokio::task_local! {
    static PURPOSE: Purpose;
}

impl Calls {
    pub fn new(counter: Arc<dyn CallCounter>) -> Self {
        Self(Some(counter))
    }

    /// Counts one call of `org` to `endpoint`: for the purpose set around it by [`with_purpose`]
    /// when there is one, else for `own` (what the client's calls are for when a person asked).
    pub fn record(&self, org: Option<&str>, endpoint: &'static str, own: Purpose) {
        if let Some(counter) = &self.0 {
            let purpose = if own == Purpose::Token { own } else { current().unwrap_or(own) };
            counter.record_call(org.unwrap_or_default(), endpoint, purpose);
        }
    }
}

/// Runs `work` with its OpenAPI calls counted for `purpose`.
pub async fn with_purpose<F: Future>(purpose: Purpose, work: F) -> F::Output {
    PURPOSE.scope(purpose, work).await
}

/// The purpose set around the running task, if any.
pub fn current() -> Option<Purpose> {
    PURPOSE.try_with(|purpose| *purpose).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, &'static str, Purpose)>>);

    impl CallCounter for Seen {
        fn record_call(&self, org: &str, endpoint: &'static str, purpose: Purpose) {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((org.to_owned(), endpoint, purpose));
        }
    }

    #[tokio::test]
    async fn background_purpose_wins_over_the_clients_own_but_tokens_stay_tokens() {
        let seen = Arc::new(Seen::default());
        let calls = Calls::new(seen.clone());
        calls.record(Some("corp"), "conference_infos", Purpose::Query);
        with_purpose(Purpose::Refresh, async {
            calls.record(Some("corp"), "conference_infos", Purpose::Query);
            calls.record(None, "access_token", Purpose::Token);
        })
        .await;
        let seen = seen.0.lock().expect("lock").clone();
        assert_eq!(
            seen,
            [
                ("corp".to_owned(), "conference_infos", Purpose::Query),
                ("corp".to_owned(), "conference_infos", Purpose::Refresh),
                (String::new(), "access_token", Purpose::Token),
            ]
        );
        Calls::default().record(Some("corp"), "x", Purpose::Query);
    }
}
