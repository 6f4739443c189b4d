//! What the bot does with a third-party app's events: keeps the newest suite ticket, forgets
//! organisations that left or changed what they granted.

use super::Bot;
use crate::dingtalk::event::Event;

impl Bot {
    /// Acts on `event`; false asks DingTalk to push it again (a ticket event without a ticket).
    pub async fn handle_event(&self, event: Event) -> bool {
        match event {
            Event::SuiteTicket(Some(ticket)) => {
                self.remember_suite_ticket(&ticket).await;
                true
            }
            Event::SuiteTicket(None) => {
                tracing::warn!("suite_ticket event without a ticket; asking DingTalk to push it again");
                false
            }
            Event::OrganisationLeft { event_type, corp } => {
                match corp {
                    Some(corp) => self.forget_organisation(&corp).await,
                    None => tracing::warn!(event_type, "organisation event without a corp id"),
                }
                true
            }
            Event::OrganisationJoined { corp } => {
                tracing::info!(corp = corp.as_deref().unwrap_or(""), "an organisation installed the app");
                true
            }
            Event::Other { event_type, corp } => {
                tracing::info!(event_type, corp = corp.as_deref().unwrap_or(""), "event acknowledged");
                true
            }
        }
    }

    /// Keeps a third-party app's newest suite ticket, pushed by DingTalk (in the state store, so
    /// replicas and restarts have it; the configured seed is only tried after it).
    pub async fn remember_suite_ticket(&self, ticket: &str) {
        if !self.tokens().remember_suite_ticket(ticket).await {
            tracing::info!("suite_ticket event ignored: DINGMEET_APP_TYPE is not third_party");
        }
    }

    /// An organisation removed the app (or changed what it granted): forget its token and its
    /// cached meetings, so neither is used again; the next message fetches afresh.
    pub async fn forget_organisation(&self, corp: &str) {
        self.tokens().invalidate(Some(corp)).await;
        self.conferences().forget(corp);
        tracing::info!(corp, "organisation's access token and cached meetings dropped");
    }
}
