//! Organisations: which have installed the app and what they granted, now; and which
//! organisation each scenario conversation belongs to (fixed by the scenario).

use std::collections::HashMap;

use crate::scenario::Scenario;

/// An organisation's relation to the app right now.
#[derive(Debug, Clone, Copy)]
struct OrgState {
    installed: bool,
    conference_read: bool,
}

/// Every organisation the simulator knows; one it does not know has not installed the app.
#[derive(Debug, Default)]
pub(crate) struct Orgs {
    orgs: HashMap<String, OrgState>,
}

impl Orgs {
    /// The app's own organisation (installed, with every scope) and the scenario's `[[orgs]]`.
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let home = (scenario.app.corp_id.clone(), OrgState { installed: true, conference_read: true });
        let others = scenario.orgs.iter().map(|org| {
            (org.corp_id.clone(), OrgState { installed: org.installed, conference_read: org.conference_read })
        });
        Self { orgs: std::iter::once(home).chain(others).collect() }
    }

    pub(crate) fn installed(&self, corp: &str) -> bool {
        self.orgs.get(corp).is_some_and(|org| org.installed)
    }

    pub(crate) fn conference_read(&self, corp: &str) -> bool {
        self.orgs.get(corp).is_some_and(|org| org.conference_read)
    }

    /// A corp the scenario does not list becomes an organisation with every scope.
    pub(crate) fn install(&mut self, corp: &str) {
        let org = self.orgs.entry(corp.to_owned()).or_insert(OrgState { installed: true, conference_read: true });
        org.installed = true;
    }

    pub(crate) fn uninstall(&mut self, corp: &str) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.installed = false;
        }
    }

    pub(crate) fn set_conference_read(&mut self, corp: &str, granted: bool) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.conference_read = granted;
        }
    }
}

/// Which organisation each scenario conversation (group and 1:1) belongs to.
pub(crate) fn conversation_corps(scenario: &Scenario) -> HashMap<String, String> {
    let home = scenario.app.corp_id.as_str();
    let mut corps = HashMap::new();
    for corp in std::iter::once(home).chain(scenario.orgs.iter().map(|o| o.corp_id.as_str())) {
        let chat = scenario.chat_for(Some(corp));
        corps.insert(chat.group_conversation_id, corp.to_owned());
        corps.insert(chat.single_conversation_id, corp.to_owned());
    }
    corps
}
