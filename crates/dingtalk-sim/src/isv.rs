//! What DingTalk tells a third-party app over the Stream, and the change behind each message:
//! a new suite ticket (`suite_ticket`; the classic route accepts only it from then on), an
//! organisation installing the app (`org_suite_auth`), changing what it granted
//! (`org_suite_change`) or removing it (`org_suite_relieve`; its tokens stop working at once).
//! Each changes the simulated world first, then pushes the `EVENT` frame, as DingTalk would.
//!
//! The `data` of the organisation events is UNCERTAIN (dingtalk-isv.md §6 has their names only):
//! the simulator sends `{"authCorpId": …}` (plus `authCorpInfo` for `org_suite_auth`, as the
//! SyncHTTP payloads carry it), with the organisation in the `eventCorpId` header too.

use serde_json::json;

use crate::gateway::{Pushed, StreamEvent};
use crate::state::SimState;

impl SimState {
    /// DingTalk pushes a new suite ticket (every five hours, live): the old one goes stale.
    /// `eventCorpId` is the app's own organisation.
    pub fn push_suite_ticket(&self, ticket: &str) -> Pushed {
        self.set_suite_ticket(ticket);
        self.push_event(StreamEvent::suite_ticket(self.home_corp(), ticket))
    }

    /// Organisation `corp` installs the app: it gets tokens from now on; `org_suite_auth` goes out.
    pub fn authorise_org(&self, corp: &str) -> Pushed {
        self.install_org(corp);
        let name = self.scenario().org(corp).map(|org| org.name.clone()).unwrap_or_default();
        let data = json!({ "authCorpId": corp, "authCorpInfo": { "corpid": corp, "corpName": name } });
        self.push_event(StreamEvent::new("org_suite_auth", corp, data))
    }

    /// Organisation `corp` grants or withdraws `VideoConference.Conference.Read`;
    /// `org_suite_change` goes out.
    pub fn change_org_scope(&self, corp: &str, conference_read: bool) -> Pushed {
        self.set_conference_read(corp, conference_read);
        self.push_event(StreamEvent::new("org_suite_change", corp, json!({ "authCorpId": corp })))
    }

    /// Organisation `corp` removes the app: its tokens stop working and it gets no new ones;
    /// `org_suite_relieve` goes out.
    pub fn relieve_org(&self, corp: &str) -> Pushed {
        self.uninstall_org(corp);
        self.push_event(StreamEvent::new("org_suite_relieve", corp, json!({ "authCorpId": corp })))
    }
}
