//! DingTalk's meeting events (docs/dingtalk-events.md §c), as the simulator's meetings make them:
//! where they go (Stream `EVENT` frames, encrypted HTTP pushes to a subscribed URL, both or
//! neither), the scenario's misbehaviour (each event twice, a conference's events out of order,
//! events lost, the HTTP URL unreachable), and [`EventsView`], how tests and the playground set
//! that up and read back what happened. What makes an event is in `event_emit.rs`; the HTTP
//! pushes, their retries and the failed-push list in `event_push.rs`.

use std::collections::HashMap;

use crate::callback_crypto::{CallbackCrypto, CryptoError};
use crate::records::events::{EventRecords, MeetingEvent};
use crate::scenario::EventRules;

use super::SimState;

/// An HTTP event subscription, as an admin fills it in the developer console. Debug shows
/// neither the token nor the key.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSubscription {
    /// Where events are posted (`?msg_signature=&timestamp=&nonce=` is added).
    pub url: String,
    /// The console's token.
    pub token: String,
    /// The console's 43-character aes_key.
    pub aes_key: String,
    /// The owner key at the end of every plaintext; `None`: the app's Client ID (an internal app
    /// with events ticked in the console). A third-party app's is its suite key.
    pub owner_key: Option<String>,
}

impl HttpSubscription {
    pub fn new(url: &str, token: &str, aes_key: &str) -> Self {
        Self { url: url.to_owned(), token: token.to_owned(), aes_key: aes_key.to_owned(), owner_key: None }
    }
}

impl std::fmt::Debug for HttpSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSubscription")
            .field("url", &self.url)
            .field("owner_key", &self.owner_key)
            .finish_non_exhaustive()
    }
}

/// The scenario's misbehaviour, all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSwitches {
    /// Every event is delivered twice (same `eventId`), as DingTalk warns it may be.
    pub duplicate: bool,
    /// A conference's event is held back until its next one, which is delivered first.
    pub reorder: bool,
    /// Events are made (and numbered) but never delivered.
    pub drop: bool,
    /// The HTTP URL cannot be reached: every push fails without a request.
    pub http_unreachable: bool,
}

/// An HTTP push waiting for its turn.
#[derive(Debug, Clone)]
pub(crate) struct QueuedPush {
    pub(crate) due_ms: i64,
    pub(crate) attempt: u32,
    pub(crate) event: MeetingEvent,
}

/// Where a conference stands, as its events tell it.
#[derive(Debug, Default)]
pub(crate) struct Conference {
    pub(crate) seq: u64,
    /// Who is in it now: (userId, nick, joined at ms).
    pub(crate) present: Vec<(String, String, i64)>,
    /// Everyone who ever joined.
    pub(crate) attended: u32,
}

/// The meeting events' data, under the state's lock.
#[derive(Debug)]
pub(crate) struct MeetingEvents {
    pub(crate) stream: bool,
    pub(crate) http: Option<(String, CallbackCrypto)>,
    pub(crate) switches: EventSwitches,
    /// By (organisation, conferenceId).
    pub(crate) conferences: HashMap<(String, String), Conference>,
    /// The event the reorder switch holds back, per (organisation, conferenceId).
    pub(crate) held: HashMap<(String, String), MeetingEvent>,
    pub(crate) queue: Vec<QueuedPush>,
    /// Pushes given up on after the retries, for `get_call_back_failed_result`.
    pub(crate) failed: Vec<MeetingEvent>,
}

impl MeetingEvents {
    pub(crate) fn new(rules: &EventRules) -> Self {
        let switches = EventSwitches {
            duplicate: rules.duplicate,
            reorder: rules.reorder,
            drop: rules.drop,
            http_unreachable: false,
        };
        Self {
            stream: rules.stream,
            http: None,
            switches,
            conferences: HashMap::new(),
            held: HashMap::new(),
            queue: Vec::new(),
            failed: Vec::new(),
        }
    }
}

/// The meeting events, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct EventsView<'a> {
    pub(super) state: &'a SimState,
}

impl<'a> EventsView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Whether events go out as Stream `EVENT` frames (to connections subscribed to `EVENT` `*`),
    /// as when the console is set to Stream push. Off unless the scenario's `[events] stream`.
    pub fn set_stream(&self, on: bool) {
        self.state.update(|world| world.events.stream = on);
    }

    /// Pushes events to `subscription`'s URL from now on (both transports may be on at once).
    pub fn subscribe_http(&self, subscription: &HttpSubscription) -> Result<(), CryptoError> {
        let owner = subscription.owner_key.clone().unwrap_or_else(|| self.state.client_id().to_owned());
        let crypto = CallbackCrypto::new(&subscription.token, &subscription.aes_key, &owner)?;
        self.state.update(|world| world.events.http = Some((subscription.url.clone(), crypto)));
        Ok(())
    }

    /// No more HTTP pushes (those queued are dropped).
    pub fn unsubscribe_http(&self) {
        self.state.update(|world| {
            world.events.http = None;
            world.events.queue.clear();
        });
    }

    /// The switches in force.
    pub fn switches(&self) -> EventSwitches {
        self.state.lock().events.switches
    }

    /// Sets every switch at once; turning `reorder` off delivers what it held back.
    pub fn set_switches(&self, switches: EventSwitches) {
        self.state.update(|world| world.events.switches = switches);
        if !switches.reorder {
            self.release_held();
        }
    }

    /// Each event delivered twice.
    pub fn set_duplicate(&self, on: bool) {
        self.set_switches(EventSwitches { duplicate: on, ..self.switches() });
    }

    /// A conference's events delivered out of order.
    pub fn set_reorder(&self, on: bool) {
        self.set_switches(EventSwitches { reorder: on, ..self.switches() });
    }

    /// Events not delivered at all.
    pub fn set_drop(&self, on: bool) {
        self.set_switches(EventSwitches { drop: on, ..self.switches() });
    }

    /// The HTTP URL unreachable: pushes fail, are retried, then listed as failed.
    pub fn set_http_unreachable(&self, on: bool) {
        self.set_switches(EventSwitches { http_unreachable: on, ..self.switches() });
    }

    /// A copy of what was recorded.
    pub fn records(&self) -> EventRecords {
        self.state.lock().journal.records.events.clone()
    }

    /// The pushes given up on and not yet fetched, oldest first.
    pub fn failed_pushes(&self) -> Vec<MeetingEvent> {
        self.state.lock().events.failed.clone()
    }

    /// HTTP pushes still to be made (first pushes and retries).
    pub fn queued_pushes(&self) -> usize {
        self.state.lock().events.queue.len()
    }

    /// Takes up to `max` of `corp`'s failed pushes, oldest first, and whether more remain.
    pub(crate) fn take_failed(&self, corp: &str, max: usize) -> (Vec<MeetingEvent>, bool) {
        self.state.update(|world| {
            let failed = &mut world.events.failed;
            let mut taken = Vec::new();
            let mut kept = Vec::new();
            for event in failed.drain(..) {
                if event.corp_id == corp && taken.len() < max {
                    taken.push(event);
                } else {
                    kept.push(event);
                }
            }
            let more = kept.iter().any(|e| e.corp_id == corp);
            *failed = kept;
            world.journal.records.events.failed_list_calls += 1;
            (taken, more)
        })
    }

    /// How many are in conference `conference_id` of the home organisation now (`activeNum`).
    pub fn active_num(&self, conference_id: &str) -> usize {
        let key = (self.state.home_corp().to_owned(), conference_id.to_owned());
        self.state.lock().events.conferences.get(&key).map_or(0, |c| c.present.len())
    }
}
