//! The last single-code meeting card, kept while its lookup answer is the cached one. Every
//! message asking for a cached code gets the same card but for the @-mention at its end, so
//! the card is rendered once per cached answer instead of once per message (rendering is much
//! of a message's work: BENCHMARKS.md).

use std::sync::{Arc, Mutex, PoisonError};

use chrono_tz::Tz;

use super::i18n::Text;
use super::render::{self, CodeResult};
use crate::dingtalk::conference::Conferences;
use crate::dingtalk::reply::OutgoingMessage;

/// What a kept card was rendered from, and the card without its mention.
struct Kept {
    /// Held, so the pointer compared below cannot be reused by another answer.
    found: Arc<Conferences>,
    code: String,
    t: &'static Text,
    tz: Tz,
    skipped: usize,
    /// The card's size loop counted the mention's length: a mention of another length may
    /// shrink the card differently, so it is rendered afresh.
    mention_len: Option<usize>,
    title: String,
    /// The text without `"\n\n@" + mention`.
    base: String,
}

/// One kept card (the bot's hot path is one cached code answered again and again).
#[derive(Default)]
pub struct MeetingCardMemo(Mutex<Option<Kept>>);

impl MeetingCardMemo {
    /// [`render::meeting_card`], from the kept card when it was rendered from the same answer.
    pub fn meeting_card(
        &self,
        t: &'static Text,
        tz: Tz,
        results: &[CodeResult],
        skipped: usize,
        mention: Option<&str>,
    ) -> OutgoingMessage {
        let [(code, Ok(found))] = results else {
            return render::meeting_card(t, tz, results, skipped, mention);
        };
        let mention_len = mention.map(str::len);
        {
            let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(kept) = kept.as_ref().filter(|k| {
                Arc::ptr_eq(&k.found, found)
                    && k.code == code.as_str()
                    && std::ptr::eq(k.t, t)
                    && k.tz == tz
                    && k.skipped == skipped
                    && k.mention_len == mention_len
            }) {
                return with_mention(kept.title.clone(), &kept.base, mention);
            }
        }
        let card = render::meeting_card(t, tz, results, skipped, mention);
        if let OutgoingMessage::Markdown { title, text, .. } = &card
            && let Some(base) = without_mention(text, mention)
        {
            let kept = Kept {
                found: Arc::clone(found),
                code: code.as_str().to_owned(),
                t,
                tz,
                skipped,
                mention_len,
                title: title.clone(),
                base: base.to_owned(),
            };
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(kept);
        }
        card
    }
}

/// The template ends a card with `"\n\n@" + mention` when there is one.
fn without_mention<'a>(text: &'a str, mention: Option<&str>) -> Option<&'a str> {
    match mention {
        None => Some(text),
        Some(mention) => text.strip_suffix(mention)?.strip_suffix("\n\n@"),
    }
}

fn with_mention(title: String, base: &str, mention: Option<&str>) -> OutgoingMessage {
    let mut text = String::with_capacity(base.len() + 3 + mention.map_or(0, str::len));
    text.push_str(base);
    if let Some(mention) = mention {
        text.push_str("\n\n@");
        text.push_str(mention);
    }
    OutgoingMessage::Markdown { title, text, at_user_ids: mention.map(|m| vec![m.to_owned()]).unwrap_or_default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::room_code::RoomCode;
    use crate::dingtalk::conference::ConferenceInfo;
    use crate::lang::Lang;

    fn answer(titles: &[&str]) -> Arc<Conferences> {
        let list = titles
            .iter()
            .map(|title| ConferenceInfo {
                title: Some((*title).to_owned()),
                status: Some(2),
                start_time: Some(1_774_098_949_543),
                external_link_url: Some("https://meeting.dingtalk.com/j/123456789".to_owned()),
                ..ConferenceInfo::default()
            })
            .collect();
        let total = titles.len();
        Arc::new(Conferences { list, total })
    }

    fn code() -> RoomCode {
        RoomCode::parse("123456789").expect("a code")
    }

    #[test]
    fn a_kept_card_is_the_card_rendered_afresh() {
        let memo = MeetingCardMemo::default();
        let tz = chrono_tz::Asia::Shanghai;
        let one = vec![(code(), Ok(answer(&["周会", "评审 *x*"])))];
        let other = vec![(code(), Ok(answer(&["另一个"])))];
        for lang in [Lang::Zh, Lang::En] {
            let t = lang.text();
            for (results, mention) in [
                (&one, Some("user01")),
                (&one, Some("user02")),
                (&one, Some("longer-user-03")),
                (&one, None),
                (&other, Some("user04")),
                (&one, Some("user05")),
            ] {
                let kept = memo.meeting_card(t, tz, results, 0, mention);
                assert_eq!(kept, render::meeting_card(t, tz, results, 0, mention), "{mention:?}");
            }
        }
    }

    #[test]
    fn the_mention_is_found_only_where_the_template_puts_it() {
        assert_eq!(without_mention("card\n\n@u1", Some("u1")), Some("card"));
        assert_eq!(without_mention("card u1", Some("u1")), None);
        assert_eq!(without_mention("card", None), Some("card"));
    }
}
