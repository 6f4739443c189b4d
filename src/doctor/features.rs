//! The checks read from the settings alone: the card template, and the event subscription's
//! token and key. Pure.

use secrecy::ExposeSecret;

use super::checklist::Check;
use crate::config::{CardsMode, DEFAULT_CARD_TEMPLATE, Settings};
use crate::dingtalk::callback_crypto::EventCipher;

/// Interactive cards need a template id; markdown answers need none.
pub(super) fn card_template(settings: &Settings) -> Check {
    const NAME: &str = "card template";
    if settings.cards.mode == CardsMode::Markdown {
        return Check::note(NAME, "DINGMEET_CARDS=markdown: answers are markdown replies, no template needed");
    }
    let template = settings.cards.template_id.trim();
    if template.is_empty() {
        Check::fail(
            NAME,
            "interactive cards are on but DINGMEET_CARD_TEMPLATE_ID is empty",
            format!(
                "set DINGMEET_CARD_TEMPLATE_ID (the standard one is {DEFAULT_CARD_TEMPLATE}), or DINGMEET_CARDS=markdown"
            ),
        )
    } else if template == DEFAULT_CARD_TEMPLATE {
        Check::pass(NAME, format!("{template} (DingTalk's standard markdown-with-buttons template)"))
    } else {
        Check::pass(NAME, format!("{template} (whether it is published shows at the first card)"))
    }
}

/// The event subscription: both values well formed when set, and what it enables.
pub(super) fn event_subscription(settings: &Settings) -> Check {
    const NAME: &str = "event subscription";
    let Some(push) = &settings.server.events else {
        return Check::note(
            NAME,
            "DINGMEET_EVENT_TOKEN/DINGMEET_EVENT_AES_KEY not set: no HTTP event pushes (optional; over the Stream \
             events arrive without them)",
        );
    };
    let client_id = settings.app.client_id.as_deref().unwrap_or_default();
    if push.token.expose_secret().trim().is_empty() {
        return Check::fail(
            NAME,
            "DINGMEET_EVENT_TOKEN is empty",
            "copy the token from the developer console's 事件订阅 page",
        );
    }
    match EventCipher::new(push.token.clone(), &push.aes_key, client_id) {
        Ok(_) => Check::pass(
            NAME,
            "token and aes_key well formed: POST /dingtalk/events takes DingTalk's encrypted event pushes",
        ),
        Err(err) => Check::fail(
            NAME,
            format!("DINGMEET_EVENT_AES_KEY: {err}"),
            "copy the aes_key from the developer console's 事件订阅 page (HTTP 推送), all 43 characters",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::checklist::Outcome;
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let mut env = vec![("DINGMEET_CLIENT_ID", "ding-app"), ("DINGMEET_CLIENT_SECRET", "s3cret")];
        env.extend_from_slice(vars);
        Settings::load_from(None, env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned()))).expect("settings")
    }

    #[test]
    fn interactive_cards_need_a_template_and_markdown_does_not() {
        assert_eq!(card_template(&settings(&[])).outcome, Outcome::Pass);
        assert_eq!(card_template(&settings(&[("DINGMEET_CARDS", "markdown")])).outcome, Outcome::Note);
        let empty = card_template(&settings(&[("DINGMEET_CARD_TEMPLATE_ID", " ")]));
        assert!(empty.failed(), "{empty:?}");
    }

    #[test]
    fn the_event_subscription_is_optional_and_its_key_is_checked() {
        assert_eq!(event_subscription(&settings(&[])).outcome, Outcome::Note);
        let key = "a".repeat(43);
        let good = settings(&[("DINGMEET_EVENT_TOKEN", "tok"), ("DINGMEET_EVENT_AES_KEY", &key)]);
        assert_eq!(event_subscription(&good).outcome, Outcome::Pass);
    }
}
