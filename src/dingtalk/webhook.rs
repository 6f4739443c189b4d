//! Session webhooks: the reply URL a message names is unsigned (anyone who can reach the
//! callback could name any URL), so it is usable only once its host was found on the
//! allow-list. [`WebhookHosts::check`] is the only way to make a [`SessionWebhook`], so a reply
//! cannot go to a URL nobody checked.

/// The session webhook a message names, as it arrived: not to be called. (The journal keeps a
/// message's webhook in this shape and checks it again when the message is finished.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UncheckedWebhook {
    pub url: String,
    /// When DingTalk stops accepting posts to it (`sessionWebhookExpiredTime`, ms since epoch).
    pub expires_ms: Option<i64>,
}

/// A session webhook on an allowed host, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWebhook {
    url: reqwest::Url,
    expires_ms: Option<i64>,
}

/// Written as the [`UncheckedWebhook`] it came from: read back, it is checked again.
impl serde::Serialize for SessionWebhook {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        UncheckedWebhook { url: self.url.to_string(), expires_ms: self.expires_ms }.serialize(serializer)
    }
}

impl SessionWebhook {
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    pub fn expires_ms(&self) -> Option<i64> {
        self.expires_ms
    }
}

/// A session webhook refused: its host (empty when the URL does not parse) is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sessionWebhook host {host:?} is not on DINGMEET_WEBHOOK_HOSTS")]
pub struct HostNotAllowed {
    pub host: String,
}

/// Hosts a session webhook may point at (any port). Loopback hosts may use plain HTTP.
#[derive(Debug, Clone)]
pub struct WebhookHosts(Vec<String>);

impl WebhookHosts {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(hosts: I) -> Self {
        Self(hosts.into_iter().map(|h| h.as_ref().trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
    }

    /// The webhook, checked: https (or http to loopback) on an allowed host, without userinfo.
    pub fn check(&self, webhook: UncheckedWebhook) -> Result<SessionWebhook, HostNotAllowed> {
        match self.allowed(&webhook.url) {
            Some(url) => Ok(SessionWebhook { url, expires_ms: webhook.expires_ms }),
            None => {
                let host = reqwest::Url::parse(&webhook.url).ok().and_then(|u| u.host_str().map(str::to_owned));
                Err(HostNotAllowed { host: host.unwrap_or_default() })
            }
        }
    }

    /// `url` parsed, when it is https (or http to loopback) on an allowed host.
    fn allowed(&self, url: &str) -> Option<reqwest::Url> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let host = parsed.host_str()?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let scheme_ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
        (scheme_ok && parsed.username().is_empty() && self.0.contains(&host)).then_some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_listed_https_hosts_or_loopback_http_are_allowed() {
        let hosts = WebhookHosts::new(["oapi.dingtalk.com", "api.dingtalk.com", "127.0.0.1"]);
        assert!(hosts.allowed("https://oapi.dingtalk.com/robot/sendBySession?session=abc").is_some());
        assert!(hosts.allowed("https://OAPI.dingtalk.com:8443/robot/sendBySession?session=abc").is_some());
        assert!(hosts.allowed("http://127.0.0.1:4000/robot/sendBySession?session=abc").is_some());
        assert!(hosts.allowed("http://oapi.dingtalk.com/robot/sendBySession").is_none(), "plain http to a remote host");
        assert!(hosts.allowed("https://evil.example/robot/sendBySession").is_none());
        assert!(hosts.allowed("https://oapi.dingtalk.com.evil.example/x").is_none());
        assert!(hosts.allowed("https://user@oapi.dingtalk.com/x").is_none());
        assert!(hosts.allowed("not a url").is_none());
        assert!(hosts.allowed("file:///etc/passwd").is_none());
    }

    #[test]
    fn the_check_keeps_the_expiry_and_names_a_refused_host() {
        let hosts = WebhookHosts::new(["oapi.dingtalk.com"]);
        let ok =
            UncheckedWebhook { url: "https://oapi.dingtalk.com/robot/sendBySession?s=1".into(), expires_ms: Some(7) };
        let checked = hosts.check(ok).expect("allowed");
        assert_eq!((checked.url().host_str(), checked.expires_ms()), (Some("oapi.dingtalk.com"), Some(7)));
        let evil = UncheckedWebhook { url: "https://evil.example/x".into(), expires_ms: None };
        assert_eq!(hosts.check(evil), Err(HostNotAllowed { host: "evil.example".into() }));
        let junk = UncheckedWebhook { url: "not a url".into(), expires_ms: None };
        assert_eq!(hosts.check(junk), Err(HostNotAllowed { host: String::new() }));
    }
}
