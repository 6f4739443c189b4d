//! The HTTP event pushes (docs/dingtalk-events.md §b): each queued event is posted encrypted to
//! the subscribed URL as `POST <url>?msg_signature=&timestamp=&nonce=` with `{"encrypt":…}`, its
//! plaintext the flat body `{"EventType","EventTime","CorpId","BizId","eventId",…data}`; only an
//! answer that is the encrypted `success` (signature right, decrypting to `success` with the
//! owner key) settles it. Otherwise it is pushed again 10 s later, then 30 s after that, on the
//! simulator's clock, and then listed for `get_call_back_failed_result`. `check_url` is pushed on
//! demand, its verdict and time recorded.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::meeting_events::{EventsView, QueuedPush};
use crate::callback_crypto::{CallbackCrypto, EncryptedReply};
use crate::records::events::{CheckUrl, HttpPush, MeetingEvent, PushOutcome};

/// The waits before the second and the third push.
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(10), Duration::from_secs(30)];
/// How long a push waits for its answer.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// The decrypted body of an HTTP push: the envelope's fields first, then the business data.
pub fn flat_body(event: &MeetingEvent) -> Value {
    let mut body = Map::new();
    body.insert("EventType".to_owned(), json!(event.event_type));
    body.insert("EventTime".to_owned(), json!(event.born_ms));
    body.insert("CorpId".to_owned(), json!(event.corp_id));
    body.insert("BizId".to_owned(), json!(format!("{}{}", event.born_ms, event.status_seq_num)));
    body.insert("eventId".to_owned(), json!(event.event_id));
    if let Value::Object(data) = &event.data {
        body.extend(data.clone());
    }
    Value::Object(body)
}

fn nonce() -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(8).collect()
}

impl EventsView<'_> {
    /// Posts `plaintext` encrypted to `url`; what came back.
    async fn post(&self, url: &str, crypto: &CallbackCrypto, plaintext: &str) -> (Option<u16>, PushOutcome) {
        if self.switches().http_unreachable {
            return (None, PushOutcome::Unreachable);
        }
        let timestamp = self.state.clock().now_ms().to_string();
        let nonce = nonce();
        let encrypt = crypto.encrypt(plaintext);
        let signature = crypto.signature(&timestamp, &nonce, &encrypt);
        let query = [("msg_signature", signature.as_str()), ("timestamp", &timestamp), ("nonce", &nonce)];
        let sent = self.state.http().post(url).query(&query).timeout(ANSWER_WAIT).json(&json!({ "encrypt": encrypt }));
        let response = match sent.send().await {
            Ok(response) => response,
            Err(_) => return (None, PushOutcome::Unreachable),
        };
        let status = response.status().as_u16();
        if status != 200 {
            return (Some(status), PushOutcome::Refused(format!("HTTP {status}")));
        }
        let body = response.bytes().await.unwrap_or_default();
        let Ok(reply) = serde_json::from_slice::<EncryptedReply>(&body) else {
            return (Some(status), PushOutcome::Refused("not the encrypted reply JSON".to_owned()));
        };
        let outcome = match crypto.open(&reply.msg_signature, &reply.time_stamp, &reply.nonce, &reply.encrypt) {
            Ok(text) if text == "success" => PushOutcome::Accepted,
            Ok(text) => PushOutcome::Refused(format!("the reply decrypts to {text:?}, not success")),
            Err(err) => PushOutcome::Refused(err.to_string()),
        };
        (Some(status), outcome)
    }

    /// The earliest push due now, taken off the queue, with where it goes.
    fn take_due(&self) -> Option<(QueuedPush, String, CallbackCrypto)> {
        let now = self.state.clock().now_ms();
        let mut world = self.state.lock();
        let events = &mut world.events;
        let (url, crypto) = events.http.clone()?;
        let at = (0..events.queue.len())
            .filter(|i| events.queue[*i].due_ms <= now)
            .min_by_key(|i| events.queue[*i].due_ms)?;
        Some((events.queue.remove(at), url, crypto))
    }

    /// Makes every HTTP push due by the simulator's clock, one after another (the simulator's
    /// own task calls this; a test holding only a `SimState` may too).
    pub async fn push_due(&self) {
        while let Some((push, url, crypto)) = self.take_due() {
            let at_ms = self.state.clock().now_ms();
            let plaintext = flat_body(&push.event).to_string();
            let (status, outcome) = self.post(&url, &crypto, &plaintext).await;
            let accepted = outcome == PushOutcome::Accepted;
            self.state.update(|world| {
                let record = HttpPush {
                    seq: world.journal.next_seq(),
                    event_id: push.event.event_id.clone(),
                    event_type: push.event.event_type.clone(),
                    attempt: push.attempt,
                    at_ms,
                    status,
                    outcome,
                };
                world.journal.records.events.http_pushes.push(record);
                if accepted {
                    return;
                }
                let retry = usize::try_from(push.attempt).ok().and_then(|i| RETRY_DELAYS.get(i));
                match retry {
                    Some(delay) => {
                        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                        let due_ms = at_ms.saturating_add(delay_ms);
                        world.events.queue.push(QueuedPush { due_ms, attempt: push.attempt + 1, event: push.event });
                    }
                    None => {
                        world.journal.records.events.given_up.push(push.event.event_id.clone());
                        world.events.failed.push(push.event);
                    }
                }
            });
        }
    }

    /// Pushes `{"EventType":"check_url"}` as the console's 验证有效性 does, and records whether the
    /// answer was the encrypted `success` and how long it took; `None` with no HTTP subscription.
    pub async fn check_url(&self) -> Option<CheckUrl> {
        let (url, crypto) = self.state.lock().events.http.clone()?;
        let started = std::time::Instant::now();
        let (status, outcome) = self.post(&url, &crypto, r#"{"EventType":"check_url"}"#).await;
        let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Some(self.state.update(|world| {
            let check = CheckUrl { seq: world.journal.next_seq(), status, outcome, took_ms };
            world.journal.records.events.check_urls.push(check.clone());
            check
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flat_body_puts_the_envelope_beside_the_data() {
        let event = MeetingEvent {
            event_id: "e1".to_owned(),
            event_type: "meeting_status_change".to_owned(),
            corp_id: "dingcorp".to_owned(),
            conference_id: "c".to_owned(),
            born_ms: 1_663_143_335_567,
            status_seq_num: 1,
            change_scene: "conference_created".to_owned(),
            data: json!({"openConfModel": {"conferenceId": "c"}, "statusSeqNum": 1, "changeScene": "conference_created"}),
        };
        let body = flat_body(&event);
        assert_eq!(body["EventType"], "meeting_status_change");
        assert_eq!(body["EventTime"], 1_663_143_335_567_i64);
        assert_eq!(body["CorpId"], "dingcorp");
        assert_eq!(body["eventId"], "e1");
        assert_eq!(body["openConfModel"]["conferenceId"], "c");
        assert_eq!(body["changeScene"], "conference_created");
        assert!(body["BizId"].is_string());
    }
}
