//! The conference API: `GET /v1.0/conference/roomCodes/{roomCode}/infos`, paged, cached briefly,
//! and fetched once however many people ask about the same code at the same moment.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::loose_json;
use super::openapi::declaration::Declaration;
use super::openapi::token::TokenProvider;
use super::openapi::{ApiError, Endpoint, OpenApi, endpoints};
use crate::telemetry::Metrics;

/// Stop paging once this many instances are collected.
pub const ENOUGH_INSTANCES: usize = 100;
/// Page size asked of DingTalk (its range is undocumented; 20 is what other clients use).
const PAGE_SIZE: u32 = 20;
/// A bound on pages, whatever `hasMore` says, so a looping cursor cannot hold a request forever.
const MAX_PAGES: usize = 10;

/// One meeting instance, every field optional as DingTalk documents. Serialized as it reads, so a
/// live card can keep what it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConferenceInfo {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub conference_id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub room_code: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub external_link_url: Option<String>,
    /// 0 initialised, 1 ended, 2 started.
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub status: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub start_time: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub end_time: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub conf_duration: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub creator_id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub creator_nick: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub schedule_conference_id: Option<String>,
    /// `0` instant, `3` booked, `audio_conf` audio.
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub biz_type: Option<String>,
    /// People in the meeting now: not in the code lookup, filled in from the conference's
    /// details (`GET /v1.0/conference/videoConferences/{conferenceId}`) for live cards.
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub active_num: Option<i64>,
    /// People who took part, in all: not in the code lookup, told by the `conference_closed`
    /// event.
    #[serde(default, deserialize_with = "loose_json::opt_i64", skip_serializing_if = "Option::is_none")]
    pub attend_num: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConferenceDetail {
    #[serde(default)]
    conf_info: Option<ConferenceInfo>,
}

/// One page of the meetings behind a code.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InfosRequest<'a> {
    #[serde(skip)]
    room_code: &'a str,
    max_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

impl Endpoint for InfosRequest<'_> {
    type Response = InfosPage;
    const DECLARATION: &'static Declaration = &endpoints::CONFERENCE_INFOS;

    fn path_params(&self) -> Vec<&str> {
        vec![self.room_code]
    }
}

/// One conference's details.
#[derive(Debug, Serialize)]
struct DetailRequest<'a> {
    #[serde(skip)]
    conference_id: &'a str,
}

impl Endpoint for DetailRequest<'_> {
    type Response = ConferenceDetail;
    const DECLARATION: &'static Declaration = &endpoints::CONFERENCE_DETAIL;

    fn path_params(&self) -> Vec<&str> {
        vec![self.conference_id]
    }
}

/// One page of the answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InfosPage {
    #[serde(default)]
    pub conference_list: Option<Vec<ConferenceInfo>>,
    #[serde(default, deserialize_with = "loose_json::opt_bool")]
    pub has_more: Option<bool>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub next_token: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub total_count: Option<i64>,
}

/// Every instance collected for a code, and how many DingTalk says exist in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conferences {
    pub list: Vec<ConferenceInfo>,
    pub total: usize,
}

/// Looks meeting codes up, with a short cache in front.
#[derive(Clone)]
pub struct ConferenceClient {
    /// Its circuit breaker pauses lookups while DingTalk keeps failing (not consulted on a cache hit).
    api: OpenApi,
    /// By (organisation, code): one organisation never sees another's meetings.
    cache: moka::future::Cache<(String, String), Arc<Conferences>>,
    /// False when the lifetime is zero: answers are then shared only by concurrent callers.
    caching: bool,
    metrics: Arc<Metrics>,
}

impl ConferenceClient {
    /// `cache_ttl` of zero disables the cache (single-flight still applies); lookups go through
    /// `api`'s circuit breaker.
    pub fn new(api: OpenApi, cache_ttl: Duration, metrics: Arc<Metrics>) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(10_000)
            // moka needs a lifetime above zero; a zero lifetime is honoured in `miss` instead,
            // because moka's clock is coarse and a 1 ms entry can outlive the next query.
            .time_to_live(cache_ttl.max(Duration::from_millis(1)))
            .support_invalidation_closures()
            .build();
        let caching = !cache_ttl.is_zero();
        Self { api, cache, caching, metrics }
    }

    pub fn tokens(&self) -> &TokenProvider {
        self.api.tokens()
    }

    /// Puts a known answer in the cache, as if DingTalk had just sent it (warm-up, benchmarks).
    pub async fn prime(&self, corp: Option<&str>, room_code: &str, conferences: Conferences) {
        self.cache.insert(cache_key(corp, room_code), Arc::new(conferences)).await;
    }

    /// Drops every cached answer of organisation `corp` (it removed the app).
    pub fn forget(&self, corp: &str) {
        let corp = corp.to_owned();
        if let Err(err) = self.cache.invalidate_entries_if(move |(owner, _), _| *owner == corp) {
            // Only fails when the cache was built without closure support, which it is not.
            tracing::warn!(%err, "could not drop an organisation's cached meetings");
        }
    }

    /// How many people are in conference `conference_id` now (`confInfo.activeNum`); not cached.
    pub async fn active_num(&self, corp: Option<&str>, conference_id: &str) -> Result<Option<i64>, ApiError> {
        if conference_id.is_empty()
            || !conference_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let detail = self.api.call(corp, &DetailRequest { conference_id }).await?;
        Ok(detail.conf_info.and_then(|info| info.active_num))
    }

    /// Like [`Self::infos`], but never from the cache: someone asked for fresh data.
    pub async fn refetch(&self, corp: Option<&str>, room_code: &str) -> Result<Arc<Conferences>, ApiError> {
        self.cache.invalidate(&cache_key(corp, room_code)).await;
        self.infos(corp, room_code).await
    }

    /// Every instance behind `room_code` in organisation `corp` (up to [`ENOUGH_INSTANCES`] or
    /// so). Errors are not cached; concurrent callers for one code share one upstream call. The
    /// cache is keyed by organisation too, so one organisation never sees another's meetings.
    pub async fn infos(&self, corp: Option<&str>, room_code: &str) -> Result<Arc<Conferences>, ApiError> {
        let key = cache_key(corp, room_code);
        if !self.caching {
            return Box::pin(self.miss(corp, room_code, key)).await;
        }
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache("conference", true);
            return Ok(hit);
        }
        // Boxed: the miss is the rare path, and inline it would make every caller's future (and so
        // every message's task) several kilobytes larger.
        Box::pin(self.miss(corp, room_code, key)).await
    }

    /// Fetches (or waits for a concurrent fetch of) what the cache does not hold.
    async fn miss(
        &self,
        corp: Option<&str>,
        room_code: &str,
        key: (String, String),
    ) -> Result<Arc<Conferences>, ApiError> {
        let mut fetched_here = false;
        let fetch = async {
            fetched_here = true;
            self.fetch_guarded(corp, room_code).await.map(Arc::new)
        };
        let result = self.cache.try_get_with(key.clone(), fetch).await.map_err(|err| (*err).clone());
        if !self.caching && fetched_here {
            // Only the callers already waiting on this fetch share its answer.
            self.cache.invalidate(&key).await;
        }
        self.metrics.cache("conference", !fetched_here);
        result
    }

    /// [`Self::fetch_all`] behind the organisation's circuit breaker. Inside the single-flight,
    /// so callers waiting on one code share one verdict (and a half-open trial's answer).
    async fn fetch_guarded(&self, corp: Option<&str>, room_code: &str) -> Result<Conferences, ApiError> {
        self.api.guarded(corp, self.fetch_all(corp, room_code)).await
    }

    async fn fetch_all(&self, corp: Option<&str>, room_code: &str) -> Result<Conferences, ApiError> {
        let mut list = Vec::new();
        let mut total = 0;
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.page_with_retry(corp, room_code, cursor.as_deref()).await?;
            let batch = page.conference_list.unwrap_or_default();
            let got = batch.len();
            list.extend(batch);
            total = page.total_count.and_then(|n| usize::try_from(n).ok()).unwrap_or(0).max(list.len());
            let next = page.next_token.filter(|t| !t.is_empty());
            let more = page.has_more.unwrap_or(false) && next.is_some() && next != cursor && got > 0;
            if !more || list.len() >= ENOUGH_INSTANCES {
                break;
            }
            cursor = next;
        }
        Ok(Conferences { list, total })
    }

    /// One page; a connection failure or a gateway error is tried once more after a short pause.
    async fn page_with_retry(
        &self,
        corp: Option<&str>,
        room_code: &str,
        cursor: Option<&str>,
    ) -> Result<InfosPage, ApiError> {
        match self.page(corp, room_code, cursor).await {
            Err(ApiError::Network(_) | ApiError::Upstream { status: 502..=504, .. }) => {
                tokio::time::sleep(Duration::from_millis(100 + fastrand::u64(0..200))).await;
                self.page(corp, room_code, cursor).await
            }
            other => other,
        }
    }

    async fn page(&self, corp: Option<&str>, room_code: &str, cursor: Option<&str>) -> Result<InfosPage, ApiError> {
        // The code is digits only (RoomCode); the declaration escapes it anyway.
        self.api.call(corp, &InfosRequest { room_code, max_results: PAGE_SIZE, next_token: cursor }).await
    }
}

fn cache_key(corp: Option<&str>, room_code: &str) -> (String, String) {
    (corp.unwrap_or_default().to_owned(), room_code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/dingtalk-protocol.md §4.
    #[test]
    fn the_reference_example_answer_parses() {
        let body = r#"{"hasMore":true,"nextToken":"1296","totalCount":20,
         "conferenceList":[{"conferenceId":"636cf59f2b032f014ae32902","title":"周会","roomCode":"123456789",
          "externalLinkUrl":"https://...","status":1,"startTime":1668087731000,"endTime":1668087732000,
          "confDuration":1000,"creatorId":"527079","creatorNick":"张三",
          "scheduleConferenceId":"2d79cbde-b9d8-4256-9788-78b05834944e","bizType":"3"}]}"#;
        let page: InfosPage = serde_json::from_str(body).expect("parses");
        assert_eq!(page.has_more, Some(true));
        assert_eq!(page.total_count, Some(20));
        let first = &page.conference_list.expect("list")[0];
        assert_eq!(first.status, Some(1));
        assert_eq!(first.biz_type.as_deref(), Some("3"));
        assert_eq!(first.conf_duration, Some(1000));
    }

    #[test]
    fn an_empty_object_is_an_empty_page() {
        let page: InfosPage = serde_json::from_str("{}").expect("parses");
        assert!(page.conference_list.is_none());
    }

    #[test]
    fn numbers_where_strings_are_documented_are_accepted() {
        let info: ConferenceInfo =
            serde_json::from_str(r#"{"bizType":0,"status":"2","startTime":"1668087731000","title":null}"#)
                .expect("parses");
        assert_eq!(info.biz_type.as_deref(), Some("0"));
        assert_eq!(info.status, Some(2));
        assert_eq!(info.start_time, Some(1668087731000));
    }
}
