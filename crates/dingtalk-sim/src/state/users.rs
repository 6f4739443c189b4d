//! The people of every organisation: the scenario's `[[users]]` (the app's own organisation) and
//! `[[orgs.users]]`, plus any a test adds; and [`UsersView`], how endpoints and tests find them.
//! A person belongs to one organisation, and a token sees only its own organisation's.

use std::collections::BTreeMap;

use super::SimState;
use crate::records::UserLookup;
use crate::scenario::{Scenario, UserScenario};

/// A person as the contact API answers about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `userid` (staff id).
    pub staff_id: String,
    /// `unionid`.
    pub union_id: String,
    pub name: String,
}

impl From<&UserScenario> for User {
    fn from(user: &UserScenario) -> Self {
        Self { staff_id: user.staff_id.clone(), union_id: user.union_id(), name: user.name.clone() }
    }
}

/// Every organisation's people, by (organisation, staff id).
#[derive(Debug, Default)]
pub(crate) struct Users {
    users: BTreeMap<(String, String), User>,
}

impl Users {
    /// The person of `corp` whose unionId is `union_id`.
    pub(crate) fn find_union(&self, corp: &str, union_id: &str) -> Option<User> {
        self.users.iter().find(|((owner, _), user)| owner == corp && user.union_id == union_id).map(|(_, u)| u.clone())
    }

    pub(crate) fn new(scenario: &Scenario) -> Self {
        let home = std::iter::once((&scenario.app.corp_id, &scenario.users));
        let others = scenario.orgs.iter().map(|org| (&org.corp_id, &org.users));
        let users = home
            .chain(others)
            .flat_map(|(corp, users)| users.iter().map(|u| ((corp.clone(), u.staff_id.clone()), User::from(u))))
            .collect();
        Self { users }
    }
}

/// The people, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct UsersView<'a> {
    state: &'a SimState,
}

impl<'a> UsersView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// The person with `staff_id` in organisation `corp`.
    pub fn get(&self, corp: &str, staff_id: &str) -> Option<User> {
        self.state.lock().users.users.get(&(corp.to_owned(), staff_id.to_owned())).cloned()
    }

    /// Everyone in organisation `corp`, by staff id.
    pub fn of(&self, corp: &str) -> Vec<User> {
        let world = self.state.lock();
        world.users.users.iter().filter(|((owner, _), _)| owner == corp).map(|(_, user)| user.clone()).collect()
    }

    /// Adds (or replaces) a person in organisation `corp`.
    pub fn add(&self, corp: &str, user: User) {
        self.state.update(|world| world.users.users.insert((corp.to_owned(), user.staff_id.clone()), user));
    }

    pub(crate) fn record_lookup(&self, mut lookup: UserLookup) {
        self.state.update(|world| {
            lookup.seq = world.journal.next_seq();
            world.journal.records.user_lookups.push(lookup);
        });
    }

    /// Every old-style user lookup so far, answered or refused.
    pub fn lookups(&self) -> Vec<UserLookup> {
        self.state.lock().journal.records.user_lookups.clone()
    }
}
