//! What became of a message delivered by either transport: the `outcome` label of
//! `dingmeet_callbacks_total`.

/// What became of a message delivered by either transport: the `outcome` label of
/// `dingmeet_callbacks_total`, and the `error` an HTTP refusal answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New work, answered in the background.
    Accepted,
    /// A redelivery (the same `msgId`, or the same Stream frame), acknowledged and dropped.
    Duplicate,
    /// The `sign` header does not match.
    BadSignature,
    /// The `timestamp` header is outside the window.
    Stale,
    /// `timestamp` or `sign` missing or unreadable.
    BadHeaders,
    /// Not a DingTalk robot message (or not readable at all).
    BadBody,
    /// Over the size limit.
    TooLarge,
    /// The `sessionWebhook` host is not on `DINGMEET_WEBHOOK_HOSTS`.
    WebhookHostNotAllowed,
    /// The journal could not record it (the store failed): not acknowledged, so DingTalk sends
    /// it again.
    NotRecorded,
    /// Redis (the replicas' shared duplicate check) did not answer: not acknowledged, since
    /// another replica may be answering it, so DingTalk sends it again.
    RedisUnreachable,
}

impl Outcome {
    /// Every outcome, exported (at 0) from the start, so an alert's rate is defined before the
    /// first bad callback or the first message the store could not record.
    pub const EXPORTED_AT_START: [Self; 10] = [
        Self::Accepted,
        Self::Duplicate,
        Self::BadSignature,
        Self::Stale,
        Self::BadHeaders,
        Self::BadBody,
        Self::TooLarge,
        Self::WebhookHostNotAllowed,
        Self::NotRecorded,
        Self::RedisUnreachable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::BadHeaders => "bad_headers",
            Self::BadBody => "bad_body",
            Self::TooLarge => "too_large",
            Self::WebhookHostNotAllowed => "webhook_host_not_allowed",
            Self::NotRecorded => "not_recorded",
            Self::RedisUnreachable => "redis_unreachable",
        }
    }
}
