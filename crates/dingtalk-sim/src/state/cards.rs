//! The card platform's state beyond the scenario (which organisations it refuses, how many
//! people are in a meeting) and [`CardsView`]: how tests change it and read back the delivered
//! cards, and how the card endpoints record what they did. (Button presses are in
//! `card_presses.rs`.)

use std::collections::BTreeMap;

use super::SimState;
use crate::records::cards::{CardCall, CardRecords, SimCard};

/// The most people in a meeting in progress, unless a test sets it ([`CardsView::set_active_num`]).
pub const DEFAULT_ACTIVE_NUM: i64 = 3;

/// How the card API refuses an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardRefusal {
    /// The app lacks `Card.Instance.Write` (403).
    NoPermission,
    /// The template is not published (400 `param.templateUnpublished`).
    TemplateUnpublished,
}

/// What the card API does now, beyond the scenario.
#[derive(Debug, Default)]
pub(crate) struct CardBehaviour {
    /// Organisation → how it is refused.
    refusals: BTreeMap<String, CardRefusal>,
    /// Conference id → `activeNum`.
    active: BTreeMap<String, i64>,
}

/// What an accepted card call changes.
pub(crate) enum CardChange {
    Created(Box<SimCard>),
    Updated { out_track_id: String, params: BTreeMap<String, String>, merge: bool },
    Route { key: String, url: String, secret: String },
}

/// The card platform, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct CardsView<'a> {
    pub(super) state: &'a SimState,
}

impl<'a> CardsView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Makes organisation `corp`'s card calls fail with `refusal` (`None`: answer again).
    pub fn refuse(&self, corp: &str, refusal: Option<CardRefusal>) {
        self.state.update(|world| match refusal {
            Some(refusal) => world.cards.refusals.insert(corp.to_owned(), refusal),
            None => world.cards.refusals.remove(corp),
        });
    }

    /// How organisation `corp`'s card calls are refused now, if they are.
    pub fn refusal(&self, corp: &str) -> Option<CardRefusal> {
        self.state.lock().cards.refusals.get(corp).copied()
    }

    /// Sets how many people are in conference `conference_id` now.
    pub fn set_active_num(&self, conference_id: &str, active: i64) {
        self.state.update(|world| world.cards.active.insert(conference_id.to_owned(), active));
    }

    /// How many people are in conference `conference_id` while it runs.
    pub fn active_num(&self, conference_id: &str) -> i64 {
        self.state.lock().cards.active.get(conference_id).copied().unwrap_or(DEFAULT_ACTIVE_NUM)
    }

    /// The card records.
    pub fn records(&self) -> CardRecords {
        self.state.lock().journal.records.cards.clone()
    }

    /// The card delivered as `out_track_id`, as it stands now.
    pub fn card(&self, out_track_id: &str) -> Option<SimCard> {
        self.state.lock().journal.records.cards.cards.get(out_track_id).cloned()
    }

    /// The organisation whose card `out_track_id` is.
    pub(crate) fn owner(&self, out_track_id: &str) -> Option<String> {
        self.state.lock().journal.records.cards.cards.get(out_track_id).map(|card| card.corp_id.clone())
    }

    /// The URL registered for callback route `key`.
    pub(crate) fn route_url(&self, key: &str) -> Option<String> {
        self.state.lock().journal.records.cards.routes.get(key).map(|(url, _)| url.clone())
    }

    /// Records a card call and what it changed.
    pub(crate) fn record_call(&self, call: CardCall, card: Option<CardChange>) {
        self.state.update(|world| {
            let seq = world.journal.next_seq();
            let records = &mut world.journal.records.cards;
            records.calls.push(CardCall { seq, ..call });
            match card {
                Some(CardChange::Created(card)) => {
                    records.cards.insert(card.out_track_id.clone(), *card);
                }
                Some(CardChange::Updated { out_track_id, params, merge }) => {
                    if let Some(card) = records.cards.get_mut(&out_track_id) {
                        if merge {
                            card.params.extend(params);
                        } else {
                            card.params = params;
                        }
                        card.history.push(card.params.clone());
                    }
                }
                Some(CardChange::Route { key, url, secret }) => {
                    records.routes.insert(key, (url, secret));
                }
                None => {}
            }
        });
    }
}
