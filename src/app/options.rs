//! The options each part is built with, read from the settings: the state store's, the live
//! cards' and the Stream client's. Pure conversions, no IO.

use super::CARD_ROUTE_KEY;
use crate::bot::live::CardOptions;
use crate::config::{CardsMode, Settings};
use crate::dingtalk::card::Callback;
use crate::state::{RateLimit, StateOptions};
use crate::stream_client::StreamOptions;

/// The state store's options from settings.
pub fn state_options(settings: &Settings) -> StateOptions {
    let state = &settings.state;
    StateOptions {
        dedupe_ttl: state.dedupe_ttl,
        rate_limit: RateLimit::per_minute(state.rate_limit_per_minute, state.rate_limit_wait),
        key_prefix: state.redis_key_prefix.clone(),
        redis_ca_file: state.redis_ca_file.clone(),
        journal: state.journal,
        journal_claim: state.journal_claim,
    }
}

/// How interactive cards are made, from settings (`None`: answers are markdown only).
pub(super) fn card_options(settings: &Settings) -> Option<CardOptions> {
    let cards = &settings.cards;
    if cards.mode == CardsMode::Markdown {
        return None;
    }
    let callback = if settings.server.mode.stream() {
        Some(Callback::Stream)
    } else {
        cards.public_url.as_ref().map(|_| Callback::Http { route_key: CARD_ROUTE_KEY.to_owned() })
    };
    Some(CardOptions {
        template_id: cards.template_id.clone(),
        refresh: cards.refresh,
        member_update: cards.member_update,
        live: cards.live,
        callback,
    })
}

/// The Stream client's options from settings.
pub(super) fn stream_options(settings: &Settings) -> StreamOptions {
    let stream = &settings.stream;
    StreamOptions {
        backoff_initial: stream.backoff_initial,
        backoff_max: stream.backoff_max,
        ping_interval: stream.ping_interval,
        pong_timeout: stream.pong_timeout,
        connect_timeout: settings.dingtalk.timeout,
        ..StreamOptions::default()
    }
}
