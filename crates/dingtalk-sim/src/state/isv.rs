//! What DingTalk tells a third-party app over the Stream, and the change behind each message:
//! a new suite ticket (`suite_ticket`; the classic route accepts only it from then on), an
//! organisation installing the app (`org_suite_auth`), changing what it granted
//! (`org_suite_change`) or removing it (`org_suite_relieve`; its tokens stop working at once).
//! Each changes the simulated world first, then pushes the `EVENT` frame, as DingTalk would.
//!
//! The `data` of the organisation events is UNCERTAIN (docs/dingtalk-protocol.md §7 has their names only):
//! the simulator sends `{"authCorpId": …}` (plus `authCorpInfo` for `org_suite_auth`, as the
//! SyncHTTP payloads carry it), with the organisation in the `eventCorpId` header too.

use serde_json::json;

use super::SimState;
use super::stream_push::{Pushed, StreamEvent};

/// The third-party app's events, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct IsvView<'a> {
    state: &'a SimState,
}

impl<'a> IsvView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// DingTalk pushes a new suite ticket (every five hours, live): the old one goes stale.
    /// `eventCorpId` is the app's own organisation.
    pub fn push_suite_ticket(&self, ticket: &str) -> Pushed {
        self.state.tokens().set_suite_ticket(ticket);
        self.state.stream().push_event(StreamEvent::suite_ticket(self.state.home_corp(), ticket))
    }

    /// Organisation `corp` installs the app: it gets tokens from now on; `org_suite_auth` goes out.
    pub fn authorise_org(&self, corp: &str) -> Pushed {
        self.state.orgs().install(corp);
        let name = self.state.scenario().org(corp).map(|org| org.name.clone()).unwrap_or_default();
        let data = json!({ "authCorpId": corp, "authCorpInfo": { "corpid": corp, "corpName": name } });
        self.state.stream().push_event(StreamEvent::new("org_suite_auth", corp, data))
    }

    /// Organisation `corp` grants or withdraws `VideoConference.Conference.Read`;
    /// `org_suite_change` goes out.
    pub fn change_org_scope(&self, corp: &str, conference_read: bool) -> Pushed {
        self.state.orgs().set_conference_read(corp, conference_read);
        self.state.stream().push_event(StreamEvent::new("org_suite_change", corp, json!({ "authCorpId": corp })))
    }

    /// Organisation `corp` removes the app: its tokens stop working and it gets no new ones;
    /// `org_suite_relieve` goes out.
    pub fn relieve_org(&self, corp: &str) -> Pushed {
        self.state.orgs().uninstall(corp);
        self.state.stream().push_event(StreamEvent::new("org_suite_relieve", corp, json!({ "authCorpId": corp })))
    }
}
