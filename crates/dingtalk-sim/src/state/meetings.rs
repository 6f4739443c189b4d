//! How each organisation's meeting codes answer right now: the scenario's entries, changed by
//! whatever a test injected (another answer, a delay, a hold).

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

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
