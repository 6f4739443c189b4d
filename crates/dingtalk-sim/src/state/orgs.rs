//! Organisations: which have installed the app and what they granted, now; which organisation
//! each scenario conversation belongs to (fixed by the scenario); and [`OrgsView`], how tests
//! change them. A token speaks for the organisation it was issued to; one that removes the app
//! loses its tokens at once. (`isv.rs` makes the same changes and pushes DingTalk's Stream event.)

use std::collections::HashMap;

use super::SimState;
use crate::scenario::Scenario;

/// An organisation's relation to the app right now.
#[derive(Debug, Clone, Copy)]
struct OrgState {
    installed: bool,
    conference_read: bool,
    /// The robot may send on its own (`qyapi_robot_sendmsg`).
    robot_send: bool,
    /// The app may read its members (`qyapi_get_member`, the old-style `user/get`).
    member_read: bool,
    /// The app may start and end video conferences (`VideoConference.Conference.Write`).
    conference_write: bool,
    /// The app may read people's calendars (`Calendar.Event.Read`).
    calendar_read: bool,
}

impl OrgState {
    /// Installed, with every scope.
    const EVERYTHING: Self = Self {
        installed: true,
        conference_read: true,
        robot_send: true,
        member_read: true,
        conference_write: true,
        calendar_read: true,
    };
}

/// Every organisation the simulator knows; one it does not know has not installed the app.
#[derive(Debug, Default)]
pub(crate) struct Orgs {
    orgs: HashMap<String, OrgState>,
}

impl Orgs {
    /// The app's own organisation (installed, with every scope) and the scenario's `[[orgs]]`.
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let home = (scenario.app.corp_id.clone(), OrgState::EVERYTHING);
        let others = scenario.orgs.iter().map(|org| {
            let state = OrgState {
                installed: org.installed,
                conference_read: org.conference_read,
                robot_send: true,
                member_read: org.member_read,
                conference_write: true,
                calendar_read: true,
            };
            (org.corp_id.clone(), state)
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
        let org = self.orgs.entry(corp.to_owned()).or_insert(OrgState::EVERYTHING);
        org.installed = true;
    }

    pub(crate) fn uninstall(&mut self, corp: &str) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.installed = false;
        }
    }

    pub(crate) fn robot_send(&self, corp: &str) -> bool {
        self.orgs.get(corp).is_some_and(|org| org.robot_send)
    }

    pub(crate) fn set_robot_send(&mut self, corp: &str, granted: bool) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.robot_send = granted;
        }
    }

    pub(crate) fn set_conference_read(&mut self, corp: &str, granted: bool) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.conference_read = granted;
        }
    }

    pub(crate) fn member_read(&self, corp: &str) -> bool {
        self.orgs.get(corp).is_some_and(|org| org.member_read)
    }

    pub(crate) fn set_member_read(&mut self, corp: &str, granted: bool) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.member_read = granted;
        }
    }

    pub(crate) fn conference_write(&self, corp: &str) -> bool {
        self.orgs.get(corp).is_some_and(|org| org.conference_write)
    }

    pub(crate) fn calendar_read(&self, corp: &str) -> bool {
        self.orgs.get(corp).is_some_and(|org| org.calendar_read)
    }

    pub(crate) fn set_conference_write(&mut self, corp: &str, granted: bool) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.conference_write = granted;
        }
    }

    pub(crate) fn set_calendar_read(&mut self, corp: &str, granted: bool) {
        if let Some(org) = self.orgs.get_mut(corp) {
            org.calendar_read = granted;
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

/// The organisations, seen through the shared state: who has installed the app and what they
/// granted, as tests change it.
#[derive(Debug, Clone, Copy)]
pub struct OrgsView<'a> {
    state: &'a SimState,
}

impl<'a> OrgsView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Whether organisation `corp` has installed the app now.
    pub fn installed(&self, corp: &str) -> bool {
        self.state.lock().orgs.installed(corp)
    }

    /// Whether organisation `corp` granted the conference scope now.
    pub fn conference_read(&self, corp: &str) -> bool {
        self.state.lock().orgs.conference_read(corp)
    }

    /// Organisation `corp` installs (authorises) the app: its token requests succeed from now on.
    /// A corp the scenario does not list becomes an organisation with no meetings.
    pub fn install(&self, corp: &str) {
        self.state.lock().orgs.install(corp);
    }

    /// Organisation `corp` removes the app: its token requests are refused from now on, and every
    /// token it was issued stops working (`InvalidAuthentication`) at once.
    pub fn uninstall(&self, corp: &str) {
        let mut world = self.state.lock();
        world.orgs.uninstall(corp);
        world.tokens.revoke_corp(corp);
    }

    /// Whether organisation `corp` lets the robot send on its own now (`qyapi_robot_sendmsg`).
    pub fn robot_send(&self, corp: &str) -> bool {
        self.state.lock().orgs.robot_send(corp)
    }

    /// Organisation `corp` grants (or withdraws) the robot's send permission: without it the
    /// robot OpenAPI answers `403 Forbidden.AccessDenied.AccessTokenPermissionDenied`.
    pub fn set_robot_send(&self, corp: &str, granted: bool) {
        self.state.lock().orgs.set_robot_send(corp, granted);
    }

    /// Organisation `corp` grants (or withdraws) `VideoConference.Conference.Read`.
    pub fn set_conference_read(&self, corp: &str, granted: bool) {
        self.state.lock().orgs.set_conference_read(corp, granted);
    }

    /// Whether organisation `corp` lets the app read its members now (`qyapi_get_member`).
    pub fn member_read(&self, corp: &str) -> bool {
        self.state.lock().orgs.member_read(corp)
    }

    /// Organisation `corp` grants (or withdraws) `qyapi_get_member`: without it the old-style
    /// `user/get` answers `60011`.
    pub fn set_member_read(&self, corp: &str, granted: bool) {
        self.state.lock().orgs.set_member_read(corp, granted);
    }

    /// Whether organisation `corp` lets the app start and end meetings now.
    pub fn conference_write(&self, corp: &str) -> bool {
        self.state.lock().orgs.conference_write(corp)
    }

    /// Organisation `corp` grants (or withdraws) `VideoConference.Conference.Write`: without it
    /// creating or closing a video conference answers `403` naming the scope.
    pub fn set_conference_write(&self, corp: &str, granted: bool) {
        self.state.lock().orgs.set_conference_write(corp, granted);
    }

    /// Whether organisation `corp` lets the app read calendars now.
    pub fn calendar_read(&self, corp: &str) -> bool {
        self.state.lock().orgs.calendar_read(corp)
    }

    /// Organisation `corp` grants (or withdraws) `Calendar.Event.Read`: without it the calendar
    /// answers `403` naming the scope.
    pub fn set_calendar_read(&self, corp: &str, granted: bool) {
        self.state.lock().orgs.set_calendar_read(corp, granted);
    }
}
