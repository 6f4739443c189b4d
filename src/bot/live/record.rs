//! The record kept for a delivered live card, in every replica's registry: what it shows, where,
//! and when it is next looked at.

use serde::{Deserialize, Serialize};

use super::shown::Shown;
use super::view::CardView;
use crate::dingtalk::card::Space;
use crate::state::{Kept, Shared};

/// A delivered card that may still change, kept until it cannot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCard {
    pub corp: Option<String>,
    pub space: Space,
    pub view: CardView,
    /// After this the card is left alone.
    pub until_ms: i64,
    /// A digest of the parameters last sent: an update is sent only when they change.
    pub sent: String,
    /// When the codes were last looked up for it.
    pub looked_up_ms: i64,
    /// When it is next looked at: with replicas on Redis, one replica claims each look.
    #[serde(default)]
    pub due_ms: i64,
    /// Changed while Redis was unreachable and not shared yet (kept on this replica only).
    #[serde(default)]
    pub unshared: bool,
    /// What it shows, so a meeting event renders it again without a lookup (empty: kept by an
    /// older version, which events leave alone).
    #[serde(default)]
    pub shown: Vec<Shown>,
    /// When an event last changed only how many are in a meeting on it (those updates are paced).
    #[serde(default)]
    pub count_sent_ms: i64,
}

impl Kept for LiveCard {
    const KIND: &'static str = "live_card";
}

/// A card delivered or updated while Redis is unreachable waits on this replica and is shared
/// once it is back, so every replica keeps it live.
impl Shared for LiveCard {
    const QUEUED_WHILE_AWAY: bool = true;

    fn due_ms(&self) -> Option<i64> {
        Some(self.due_ms)
    }

    fn is_queued(&self) -> bool {
        self.unshared
    }

    fn set_queued(&mut self, queued: bool) {
        self.unshared = queued;
    }
}
