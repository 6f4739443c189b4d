//! Organisations and the app: who has installed it and what they granted, as tests change it.
//! A token speaks for the organisation it was issued to; one that removes the app loses its
//! tokens at once. (`isv.rs` makes the same changes and pushes DingTalk's Stream event.)

use crate::state::SimState;

impl SimState {
    /// Whether organisation `corp` has installed the app now.
    pub fn org_installed(&self, corp: &str) -> bool {
        self.lock().orgs.installed(corp)
    }

    /// Whether organisation `corp` granted the conference scope now.
    pub fn org_conference_read(&self, corp: &str) -> bool {
        self.lock().orgs.conference_read(corp)
    }

    /// Organisation `corp` installs (authorises) the app: its token requests succeed from now on.
    /// A corp the scenario does not list becomes an organisation with no meetings.
    pub fn install_org(&self, corp: &str) {
        self.lock().orgs.install(corp);
    }

    /// Organisation `corp` removes the app: its token requests are refused from now on, and every
    /// token it was issued stops working (`InvalidAuthentication`) at once.
    pub fn uninstall_org(&self, corp: &str) {
        let mut world = self.lock();
        world.orgs.uninstall(corp);
        world.tokens.revoke_corp(corp);
    }

    /// Organisation `corp` grants (or withdraws) `VideoConference.Conference.Read`.
    pub fn set_conference_read(&self, corp: &str, granted: bool) {
        self.lock().orgs.set_conference_read(corp, granted);
    }
}
