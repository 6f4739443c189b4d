//! What an endpoint is: one [`Declaration`] (method, host, path, permission, purpose) tying one
//! request type to one response type through [`Endpoint`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::call_purpose::Purpose;

/// Which of DingTalk's two OpenAPI styles an endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// `api.dingtalk.com` (`DINGMEET_API_BASE`): the token in a header, errors as `{code, message}`
    /// with an HTTP status.
    Api,
    /// `oapi.dingtalk.com` (`DINGMEET_OAPI_BASE`): the token as the `access_token` query
    /// parameter, errors as `{errcode, errmsg}` with HTTP 200.
    Oapi,
}

/// How a call proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// With the organisation's access token.
    OrgToken,
    /// With what is in the body (the app's credentials): the token requests themselves.
    Credentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn method(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
            Self::Delete => reqwest::Method::DELETE,
        }
    }

    /// Whether the request's fields go in the query rather than a JSON body.
    pub fn has_query_fields(self) -> bool {
        matches!(self, Self::Get | Self::Delete)
    }
}

/// One OpenAPI endpoint, as the bot calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declaration {
    /// Its label in metrics, logs and the call counts.
    pub name: &'static str,
    pub verb: Verb,
    pub host: Host,
    /// The path; each `{…}` is filled, in order, by the request's [`Endpoint::path_params`].
    pub path: &'static str,
    /// The permission (scope) the app needs for it, as DingTalk's developer console names it.
    pub permission: Option<&'static str>,
    /// What its calls are counted for when no background purpose is set around them.
    pub purpose: Purpose,
    pub auth: Auth,
}

impl Declaration {
    /// The URL under `base`, each `{…}` of the path replaced by the next of `params` as one
    /// escaped path segment (values from messages never change the path's shape).
    pub fn url(&self, base: &str, params: &[&str]) -> String {
        let mut url = String::with_capacity(base.len() + self.path.len() + 32);
        url.push_str(base.trim_end_matches('/'));
        let mut params = params.iter();
        let mut rest = self.path;
        while let Some(open) = rest.find('{') {
            url.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |i| open + i + 1);
            path_segment(&mut url, params.next().copied().unwrap_or_default());
            rest = &rest[close..];
        }
        url.push_str(rest);
        url
    }
}

/// A request to one declared endpoint. Its fields are the JSON body, or the query of a GET or
/// DELETE; path parameters are marked `#[serde(skip)]` and given by [`Self::path_params`].
pub trait Endpoint: Serialize {
    type Response: DeserializeOwned;
    const DECLARATION: &'static Declaration;

    /// The values of the path's `{…}` holes, in order.
    fn path_params(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Appends `text` as one URL path segment: every byte but letters, digits, `-` and `_`
/// percent-encoded (dots too, so a segment is never `..`).
pub fn path_segment(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: Declaration = Declaration {
        name: "sample",
        verb: Verb::Get,
        host: Host::Api,
        path: "/v1.0/oauth2/{corpId}/token",
        permission: None,
        purpose: Purpose::Token,
        auth: Auth::Credentials,
    };

    #[test]
    fn a_path_parameter_stays_one_path_segment() {
        let url = |p: &str| SAMPLE.url("http://h/", &[p]);
        assert_eq!(url("dingc5344d64bd47d252"), "http://h/v1.0/oauth2/dingc5344d64bd47d252/token");
        assert_eq!(url("../accessToken?x=1#"), "http://h/v1.0/oauth2/%2E%2E%2FaccessToken%3Fx%3D1%23/token");
        assert_eq!(url("a+b/c="), "http://h/v1.0/oauth2/a%2Bb%2Fc%3D/token");
        assert_eq!(url("企"), "http://h/v1.0/oauth2/%E4%BC%81/token");
        let plain = Declaration { path: "/v1.0/card/instances", ..SAMPLE };
        assert_eq!(plain.url("http://h", &[]), "http://h/v1.0/card/instances");
    }
}
