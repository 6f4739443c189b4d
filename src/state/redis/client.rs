//! The Redis client for `DINGMEET_REDIS_URL`: plain or TLS, the CA file checked at start, and
//! connection failures explained in terms of what to check.

use std::path::Path;

use redis::{ConnectionAddr, IntoConnectionInfo, TlsCertificates};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};

use super::StateError;

/// The client for `url`: plain, or TLS for `rediss://`, trusting `ca_file` if given, else the
/// system roots. Errors name the setting to fix and never echo the URL (it may hold a password).
pub(super) fn client(url: &SecretString, ca_file: Option<&Path>) -> Result<(redis::Client, bool), StateError> {
    // rustls needs the process-wide provider before the first TLS connection; installing it
    // here does not rely on the HTTP client having been built first.
    crate::dingtalk::openapi::install_crypto_provider();
    let bad_url = |err: redis::RedisError| StateError::BadRedisUrl(err.to_string());
    let info = url.expose_secret().trim().into_connection_info().map_err(bad_url)?;
    let tls = match &info.addr {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            // Turning certificate checks off is not offered: trust the CA with the CA file instead.
            return Err(StateError::BadRedisUrl(
                "#insecure is not supported: set DINGMEET_REDIS_CA_FILE to the CA that signed the server's certificate"
                    .to_owned(),
            ));
        }
        ConnectionAddr::TcpTls { .. } => true,
        _ => false,
    };
    let Some(path) = ca_file else {
        return Ok((redis::Client::open(info).map_err(bad_url)?, tls));
    };
    let bad_ca = |problem: String| StateError::BadRedisCa { path: path.display().to_string(), problem };
    if !tls {
        return Err(bad_ca("set, but DINGMEET_REDIS_URL is redis:// (no TLS): use rediss://".to_owned()));
    }
    let pem = std::fs::read(path).map_err(|err| bad_ca(format!("cannot be read ({err})")))?;
    // Checked here so a wrong file fails at start rather than every TLS handshake later.
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_ca(format!("is not PEM ({err})")))?;
    if certificates.is_empty() {
        return Err(bad_ca("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    let certificates = TlsCertificates { client_tls: None, root_cert: Some(pem) };
    let client = redis::Client::build_with_tls(info, certificates).map_err(|err| bad_ca(err.to_string()))?;
    Ok((client, tls))
}

/// Adds what to check to a connection failure whose likely cause is the TLS setup: an untrusted
/// certificate, or one side speaking TLS and the other not (a plain Redis does not answer a TLS
/// handshake; a TLS-only Redis drops a plain client).
pub(super) fn explain(reason: &str, tls: bool) -> String {
    let lower = reason.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    let hint = if tls && lower.contains("not valid for name") {
        Some("use a host name the Redis server's TLS certificate lists")
    } else if tls && lower.contains("certificate") {
        Some(
            "the Redis server's TLS certificate is not trusted: set DINGMEET_REDIS_CA_FILE to the CA that signed it \
             (or add that CA to the system roots)",
        )
    } else if tls && any(&["no answer", "corrupt message", "reset by peer", "eof"]) {
        Some("is TLS enabled on that port? For a Redis without TLS, use redis://")
    } else if !tls && any(&["reset by peer", "broken pipe", "eof"]) {
        Some("if that Redis accepts TLS only, use rediss://")
    } else {
        None
    };
    match hint {
        Some(hint) => format!("{reason}; {hint}"),
        None => reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn tls_failures_say_what_to_check_and_an_unreachable_redis_gets_no_guess() {
        let untrusted = explain("invalid peer certificate: UnknownIssuer", true);
        assert!(
            untrusted
                .ends_with("set DINGMEET_REDIS_CA_FILE to the CA that signed it (or add that CA to the system roots)")
        );
        assert!(explain("invalid peer certificate: certificate not valid for name \"x\"", true).contains("host name"));
        assert!(explain("no answer within 3 s", true).ends_with("For a Redis without TLS, use redis://"));
        assert!(explain("Connection reset by peer (os error 104)", false).ends_with("use rediss://"));
        for tls in [true, false] {
            assert_eq!(explain("Connection refused (os error 111)", tls), "Connection refused (os error 111)");
        }
    }
}
