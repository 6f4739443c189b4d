//! `dingmeet doctor`: with a real app's settings, checks what a newcomer most often gets wrong
//! (credentials, permissions, the robot code and how DingTalk reaches the bot, the card
//! template, the event subscription, the store and Redis) and prints a checklist with the fix
//! for each failure. The calls go through the bot's one OpenAPI client; nothing is sent to a
//! chat and no card is made. [`checklist`] is the pure part: the lines and the exit status.

pub mod checklist;
mod connection;
mod features;
mod permissions;
mod store;

use std::sync::Arc;

use self::checklist::Check;
use crate::config::{AppType, CardsMode, ConfigError, Settings};
use crate::dingtalk::openapi::token::{Credentials, TokenProvider};
use crate::dingtalk::openapi::{Bases, OpenApi, http_client};
use crate::telemetry::Metrics;

/// Runs every check the settings call for, in the order a newcomer fixes them.
pub async fn run(settings: &Settings) -> Result<Vec<Check>, ConfigError> {
    let (client_id, client_secret) = settings.credentials()?;
    let credentials = Credentials { client_id, client_secret };
    let dingtalk = &settings.dingtalk;
    let http = http_client(dingtalk.timeout);
    let metrics = Arc::new(Metrics::new());
    let tokens = TokenProvider::new(http.clone(), &dingtalk.api_base, credentials.clone(), Arc::clone(&metrics));
    let bases = Bases { api: &dingtalk.api_base, oapi: &dingtalk.oapi_base };
    let api = OpenApi::new(http.clone(), bases, tokens, metrics, dingtalk.timeout);

    let mut checks = Vec::new();
    if settings.app.app_type == AppType::ThirdParty {
        checks.push(Check::note(
            "credentials",
            "a third-party app's tokens are per organisation: not checkable here (each organisation's shows in the logs)",
        ));
    } else {
        let token = permissions::credentials(&api).await;
        let have_token = !token.failed();
        checks.push(token);
        if have_token {
            checks.push(permissions::conference_read(&api).await);
            checks.push(permissions::robot_send(&api, &credentials.client_id).await);
            if settings.cards.mode == CardsMode::Interactive {
                checks.push(permissions::cards(&api).await);
            }
        } else {
            checks.push(Check::note("permissions", "not checked: they need an access token first"));
        }
    }
    checks.push(features::card_template(settings));
    let mode = settings.server.mode;
    if mode.stream() {
        checks.push(connection::stream(&http, &dingtalk.api_base, &credentials).await);
    }
    if mode.http() {
        checks.push(connection::public_url(&http, settings.cards.public_url.as_deref()).await);
    }
    checks.push(features::event_subscription(settings));
    checks.push(store::data_dir(settings).await);
    checks.push(store::redis(settings).await);
    Ok(checks)
}
