//! One organisation's calls by day, over the rolling window: what the budget counts. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DAY_MS, FOREGROUND_DAYS, WINDOW_DAYS};
use crate::state::Kept;

/// One organisation's calls, by day since the epoch (only the window's days are kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub(super) days: BTreeMap<i64, u64>,
    /// Of those, the background ones (and new interactive cards, which commit background looks).
    #[serde(default)]
    pub(super) background: BTreeMap<i64, u64>,
}

impl Kept for Ledger {
    const KIND: &'static str = "budget";
}

impl Ledger {
    pub(super) fn add(&mut self, now_ms: i64, background: bool) {
        let today = now_ms.div_euclid(DAY_MS);
        *self.days.entry(today).or_default() += 1;
        if background {
            *self.background.entry(today).or_default() += 1;
        }
        self.days.retain(|day, _| *day > today - WINDOW_DAYS);
        self.background.retain(|day, _| *day > today - WINDOW_DAYS);
    }

    /// Background calls today, and the foreground calls a day is expected to take: today's so far,
    /// or the mean of the last days' if more.
    pub(super) fn today(&self, now_ms: i64) -> (u64, f64) {
        let today = now_ms.div_euclid(DAY_MS);
        let foreground = |day: i64| {
            let all = self.days.get(&day).copied().unwrap_or(0);
            all.saturating_sub(self.background.get(&day).copied().unwrap_or(0))
        };
        let past: Vec<u64> =
            (today - FOREGROUND_DAYS..today).filter(|day| self.days.contains_key(day)).map(foreground).collect();
        let mean = if past.is_empty() { 0.0 } else { past.iter().sum::<u64>() as f64 / past.len() as f64 };
        (self.background.get(&today).copied().unwrap_or(0), mean.max(foreground(today) as f64))
    }

    /// Calls in the 30 days ending at `now_ms`.
    pub(super) fn used(&self, now_ms: i64) -> u64 {
        let today = now_ms.div_euclid(DAY_MS);
        self.days.range(today - WINDOW_DAYS + 1..=today).map(|(_, calls)| calls).sum()
    }
}
