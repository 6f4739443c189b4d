//! Third-party (ISV) app events, as typed values: the suite ticket DingTalk pushes, and the
//! organisations that install, change or remove the app (docs/dingtalk-protocol.md
//! §7). Pure: parsing only.
//!
//! The fields sit in one of three places, depending on who wrapped the event: at the top of the
//! Stream frame's `data`, under the documented envelope's `data`, or (SyncHTTP, passed through
//! by some SDKs) in `bizData[].biz_data`, a string holding JSON. Each is read as the same
//! [`Fields`], and the first place that has a field wins.

use serde::Deserialize;

/// What an `EVENT` frame says, reduced to what the bot acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `suite_ticket`: the newest ticket (`None` when the event carried none, or a blank one).
    SuiteTicket(Option<String>),
    /// The app was removed from an organisation, or what it may do there changed
    /// (`org_suite_relieve`, `suite_relieve`, `org_micro_app_remove`, `org_suite_change`).
    OrganisationLeft { event_type: String, corp: Option<String> },
    /// `org_suite_auth`: an organisation installed the app.
    OrganisationJoined { corp: Option<String> },
    /// Any other event, acknowledged and logged.
    Other { event_type: String, corp: Option<String> },
}

/// The fields of an event's data the bot reads, wherever they sit.
#[derive(Debug, Default, Deserialize)]
struct Fields {
    #[serde(default, rename = "suiteTicket", alias = "SuiteTicket")]
    suite_ticket: Option<String>,
    #[serde(default, rename = "authCorpId", alias = "AuthCorpId", alias = "auth_corp_id")]
    auth_corp_id: Option<String>,
    #[serde(default, rename = "authCorpInfo")]
    auth_corp_info: Option<CorpInfo>,
    #[serde(default, rename = "corpId", alias = "corpid", alias = "corp_id")]
    corp_id: Option<String>,
    /// The documented envelope (`{"eventType": …, "data": {…}}`).
    #[serde(default)]
    data: Option<Box<Fields>>,
    /// SyncHTTP's list of pushes.
    #[serde(default, rename = "bizData")]
    biz_data: Vec<BizItem>,
}

#[derive(Debug, Default, Deserialize)]
struct CorpInfo {
    #[serde(default, alias = "corpId")]
    corpid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct BizItem {
    /// JSON text of its own.
    #[serde(default)]
    biz_data: Option<String>,
    #[serde(default)]
    corp_id: Option<String>,
}

impl Fields {
    /// The layers, outermost first: this one, the envelope's, then each SyncHTTP push's.
    fn layers(self) -> Vec<Self> {
        let Self { suite_ticket, auth_corp_id, auth_corp_info, corp_id, data, biz_data } = self;
        let mut layers =
            vec![Self { suite_ticket, auth_corp_id, auth_corp_info, corp_id, data: None, biz_data: Vec::new() }];
        if let Some(inner) = data {
            layers.extend(inner.layers());
        }
        for item in biz_data {
            let mut pushed: Self = item.biz_data.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
            pushed.corp_id = pushed.corp_id.or(item.corp_id);
            layers.extend(pushed.layers());
        }
        layers
    }
}

/// The first non-empty value `field` finds in any layer.
fn first(layers: &[Fields], field: impl Fn(&Fields) -> Option<&String>) -> Option<String> {
    layers.iter().filter_map(field).find(|value| !value.trim().is_empty()).cloned()
}

impl Event {
    /// The event of type `event_type` whose frame names `event_corp` (its `eventCorpId`
    /// header) and carries `data`. Data that is not JSON reads as empty.
    pub fn parse(event_type: &str, event_corp: Option<String>, data: &str) -> Self {
        let layers = serde_json::from_str::<Fields>(data).unwrap_or_default().layers();
        // The organisation the event is about: named explicitly in the data when it says so,
        // else the frame's header, else any corp id the data has.
        let corp = first(&layers, |f| f.auth_corp_id.as_ref())
            .or_else(|| first(&layers, |f| f.auth_corp_info.as_ref().and_then(|info| info.corpid.as_ref())))
            .or(event_corp.filter(|corp| !corp.is_empty()))
            .or_else(|| first(&layers, |f| f.corp_id.as_ref()));
        match event_type {
            "suite_ticket" => Self::SuiteTicket(first(&layers, |f| f.suite_ticket.as_ref())),
            "org_suite_relieve" | "suite_relieve" | "org_micro_app_remove" | "org_suite_change" => {
                Self::OrganisationLeft { event_type: event_type.to_owned(), corp }
            }
            "org_suite_auth" => Self::OrganisationJoined { corp },
            _ => Self::Other { event_type: event_type.to_owned(), corp },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(data: &str) -> Option<String> {
        match Event::parse("suite_ticket", None, data) {
            Event::SuiteTicket(ticket) => ticket,
            other => panic!("not a ticket: {other:?}"),
        }
    }

    fn corp(data: &str, header: Option<&str>) -> Option<String> {
        match Event::parse("org_suite_relieve", header.map(str::to_owned), data) {
            Event::OrganisationLeft { corp, .. } => corp,
            other => panic!("not a removal: {other:?}"),
        }
    }

    #[test]
    fn tickets_are_found_in_the_frame_the_envelope_or_a_sync_http_push() {
        assert_eq!(ticket(r#"{"suiteTicket": "t1"}"#).as_deref(), Some("t1"));
        assert_eq!(ticket(r#"{"eventType": "suite_ticket", "data": {"suiteTicket": "t2"}}"#).as_deref(), Some("t2"));
        let sync_http = r#"{"bizData": [{"biz_data": "{\"syncAction\":\"suite_ticket\",\"suiteTicket\":\"t3\"}"}]}"#;
        assert_eq!(ticket(sync_http).as_deref(), Some("t3"));
        assert_eq!(ticket(r#"{"SuiteTicket": "t4"}"#).as_deref(), Some("t4"));
    }

    #[test]
    fn a_missing_or_blank_ticket_is_none() {
        assert_eq!(ticket("{}"), None);
        assert_eq!(ticket(r#"{"suiteTicket": "  "}"#), None);
        assert_eq!(ticket("not json"), None);
        assert_eq!(ticket("[1, 2]"), None);
    }

    #[test]
    fn the_organisation_is_the_data_s_explicit_one_then_the_header_then_any_corp_id() {
        assert_eq!(corp(r#"{"authCorpId": "dingA", "corpId": "dingC"}"#, Some("dingH")).as_deref(), Some("dingA"));
        assert_eq!(corp(r#"{"authCorpInfo": {"corpid": "dingX"}}"#, Some("dingH")).as_deref(), Some("dingX"));
        assert_eq!(corp(r#"{"corpId": "dingC"}"#, Some("dingH")).as_deref(), Some("dingH"));
        assert_eq!(corp(r#"{"corpId": "dingC"}"#, Some("")).as_deref(), Some("dingC"));
        assert_eq!(corp(r#"{"data": {"AuthCorpId": "dingE"}}"#, None).as_deref(), Some("dingE"));
        assert_eq!(corp(r#"{"bizData": [{"corp_id": "dingS", "biz_data": "{}"}]}"#, None).as_deref(), Some("dingS"));
        assert_eq!(corp("{}", None), None);
    }

    #[test]
    fn event_types_map_to_what_the_bot_does() {
        assert_eq!(
            Event::parse("org_suite_auth", Some("dingA".into()), "{}"),
            Event::OrganisationJoined { corp: Some("dingA".into()) }
        );
        for left in ["org_suite_relieve", "suite_relieve", "org_micro_app_remove", "org_suite_change"] {
            assert!(matches!(Event::parse(left, None, "{}"), Event::OrganisationLeft { .. }), "{left}");
        }
        assert_eq!(
            Event::parse("user_add_org", None, "{}"),
            Event::Other { event_type: "user_add_org".into(), corp: None }
        );
    }
}
