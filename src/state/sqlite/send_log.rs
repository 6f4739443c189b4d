//! The sends the rate limit counts, in the store of record, so a restart does not start a
//! conversation's window over.

use super::SqliteStore;
use super::writer::Write;
use crate::clock::now_ms;

impl SqliteStore {
    /// Counts a reply sent to `conversation` now (committed with the next batch).
    pub fn record_send(&self, conversation: &str) {
        self.write_later(Write::Send { conversation: conversation.to_owned(), at_ms: now_ms() });
    }
}
