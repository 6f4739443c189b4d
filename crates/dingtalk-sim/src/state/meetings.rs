//! How each organisation's meeting codes answer right now: the scenario's entries, changed by
//! whatever a test injected (another answer, a delay, a hold); and [`MeetingsView`], how tests
//! change them and count the lookups. (The organiser's changes to one meeting are in
//! `meeting_changes.rs`.)

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

use super::SimState;
use crate::records::Lookup;
use crate::scenario::{CodeAnswer, CodeScenario, Scenario};

/// How a code answers right now (the scenario's entry, changed by any injection).
#[derive(Debug, Clone)]
pub struct CodeBehaviour {
    pub answer: CodeAnswer,
    pub delay: Duration,
    pub(crate) hold: Option<watch::Receiver<bool>>,
}

impl CodeBehaviour {
    /// A code the scenario does not list: no meetings, at once.
    fn unknown() -> Self {
        Self { answer: CodeAnswer::Meetings(Vec::new()), delay: Duration::ZERO, hold: None }
    }

    fn from_scenario(entry: &CodeScenario) -> Self {
        Self { answer: entry.answer.clone(), delay: Duration::from_millis(entry.delay_ms), hold: None }
    }
}

/// Every organisation's codes, by (organisation, code).
#[derive(Debug, Default)]
pub(crate) struct Codes {
    codes: HashMap<(String, String), CodeBehaviour>,
}

impl Codes {
    /// The top-level `[[codes]]` for the app's own organisation, and each `[[orgs]]`' own.
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let home = std::iter::once((&scenario.app.corp_id, &scenario.codes));
        let others = scenario.orgs.iter().map(|org| (&org.corp_id, &org.codes));
        let codes = home
            .chain(others)
            .flat_map(|(corp, codes)| {
                codes.iter().map(|entry| ((corp.clone(), entry.code.clone()), CodeBehaviour::from_scenario(entry)))
            })
            .collect();
        Self { codes }
    }

    pub(crate) fn get(&self, corp: &str, code: &str) -> Option<&CodeBehaviour> {
        self.codes.get(&(corp.to_owned(), code.to_owned()))
    }

    /// Every code of every organisation.
    pub(crate) fn all_mut(&mut self) -> impl Iterator<Item = &mut CodeBehaviour> {
        self.codes.values_mut()
    }

    /// The entry for `code` in `corp`, added (with no meetings) if there is none.
    pub(crate) fn entry(&mut self, corp: &str, code: &str) -> &mut CodeBehaviour {
        self.codes.entry((corp.to_owned(), code.to_owned())).or_insert_with(CodeBehaviour::unknown)
    }

    /// The first of `corp`'s codes for which `find` finds something.
    pub(crate) fn find_conference<T>(
        &self,
        corp: &str,
        mut find: impl FnMut(&str, &CodeAnswer) -> Option<T>,
    ) -> Option<T> {
        self.codes.iter().filter(|((owner, _), _)| owner == corp).find_map(|((_, code), b)| find(code, &b.answer))
    }
}

/// Holds a code's answer until released (or dropped): lets a test observe what happens
/// while DingTalk is still thinking, without timing anything.
#[derive(Debug)]
pub struct Hold {
    release: watch::Sender<bool>,
}

impl Hold {
    /// Lets the held requests answer.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release.send_replace(true);
    }
}

/// The meeting codes, seen through the shared state. Without `_in`, the methods are about the
/// app's own organisation.
#[derive(Debug, Clone, Copy)]
pub struct MeetingsView<'a> {
    pub(super) state: &'a SimState,
}

impl<'a> MeetingsView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// How `code` answers now in the app's own organisation, if the scenario (or an injection)
    /// knows it.
    pub fn code_behaviour(&self, code: &str) -> Option<CodeBehaviour> {
        self.code_behaviour_in(self.state.home_corp(), code)
    }

    /// How `code` answers now in organisation `corp`.
    pub fn code_behaviour_in(&self, corp: &str, code: &str) -> Option<CodeBehaviour> {
        self.state.lock().codes.get(corp, code).cloned()
    }

    /// Changes (or adds) the answer for `code`.
    pub fn set_answer(&self, code: &str, answer: CodeAnswer) {
        self.set_answer_in(self.state.home_corp(), code, answer);
    }

    /// Changes (or adds) the answer for `code` in organisation `corp`.
    pub fn set_answer_in(&self, corp: &str, code: &str, answer: CodeAnswer) {
        self.state.lock().codes.entry(corp, code).answer = answer;
    }

    /// Makes `code` answer after `delay` (zero: at once).
    pub fn set_delay(&self, code: &str, delay: Duration) {
        self.state.lock().codes.entry(self.state.home_corp(), code).delay = delay;
    }

    /// Holds every answer for `code` until the returned guard is released or dropped.
    pub fn hold(&self, code: &str) -> Hold {
        let (release, held) = watch::channel(false);
        self.state.lock().codes.entry(self.state.home_corp(), code).hold = Some(held);
        Hold { release }
    }

    /// The first of `corp`'s codes for which `find` finds something.
    pub(crate) fn find_conference<T>(&self, corp: &str, find: impl FnMut(&str, &CodeAnswer) -> Option<T>) -> Option<T> {
        self.state.lock().codes.find_conference(corp, find)
    }

    /// Counts a request for `code` (every page, every outcome).
    pub(crate) fn count_call(&self, code: &str) {
        self.state.update(|world| *world.journal.records.conference_calls.entry(code.to_owned()).or_default() += 1);
    }

    pub(crate) fn record_lookup(&self, mut lookup: Lookup) {
        self.state.update(|world| {
            lookup.seq = world.journal.next_seq();
            world.journal.records.lookups.push(lookup);
        });
    }

    /// Requests to the conference infos endpoint for `code` (every page, every outcome).
    pub fn conference_calls(&self, code: &str) -> usize {
        self.state.lock().journal.records.conference_calls(code)
    }

    /// Every conference lookup so far: the token presented and whose it was.
    pub fn lookups(&self) -> Vec<Lookup> {
        self.state.lock().journal.records.lookups.clone()
    }
}
