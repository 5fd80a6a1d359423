//! What the `http`, `jwks` and `prometheus` probes share: one HTTP client per
//! probe (rustls, an optional extra root CA), the `${…}` placeholders, and
//! transport failures told in a few words (`crate::net`, which the vault
//! store's errors use too).
//!
//! A probe's detail line ends up in state and in front of an operator at
//! three in the morning, so a failure names the one thing that went wrong
//! (`connection refused to 127.0.0.1:8081`, `DNS: no such host x.invalid`,
//! `TLS: certificate not trusted (is ca_file set?)`) rather than the whole
//! error chain. Nothing here ever sees a request's headers, so no credential
//! can reach a message.

use crate::config::{ConfigError, Settings};
use rotor_engine::Duration;
use rotor_engine::provider::ProbeRequest;
use std::path::Path;

/// How long one attempt may take when the spec does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::seconds(10);

/// Settings every network probe takes besides its own.
pub(crate) const COMMON: [&str; 2] = ["timeout", "ca_file"];

/// Attributes the engine reads from every `verify` block.
pub(crate) const ENGINE_OWNED: [&str; 2] = ["on", "within"];

/// Builds the client of one probe from its `timeout` and `ca_file` settings.
///
/// Redirects are not followed: a probe checks one endpoint, and a `302` to a
/// login page should fail as a `302`, not pass as the login page's `200`.
pub(crate) fn client(
    settings: &Settings,
    base_dir: &Path,
) -> Result<(reqwest::Client, Duration), ConfigError> {
    let timeout = settings
        .duration("timeout")?
        .map_or(DEFAULT_TIMEOUT, |(d, _)| d);
    let limit = std::time::Duration::from_millis(timeout.as_millis().max(1) as u64);
    let mut builder = reqwest::Client::builder()
        .timeout(limit)
        .connect_timeout(limit)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rotor-probe/", env!("CARGO_PKG_VERSION")));
    if let Some((file, span)) = settings.string("ca_file")? {
        let path = base_dir.join(file);
        let pem = std::fs::read(&path).map_err(|e| {
            ConfigError::new(
                format!("cannot read `ca_file` {}: {e}", path.display()),
                span,
            )
            .hint("the path is relative to the spec directory")
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    format!("`ca_file` {} holds no PEM certificate", path.display()),
                    span,
                )
                .hint("give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)")
            })?;
        builder = builder.tls_certs_merge(certs);
    }
    let client = builder.build().map_err(|e| {
        ConfigError::new(
            format!("{} could not set up its HTTP client: {e}", settings.what),
            settings.block,
        )
    })?;
    Ok((client, timeout))
}

/// A required `http://` or `https://` URL setting, checked with the
/// placeholders filled in with sample values.
pub(crate) fn url_setting(
    settings: &Settings,
    key: &str,
    example: &str,
) -> Result<String, ConfigError> {
    let (url, span) = settings.required_string(key, example)?;
    let sample = url
        .replace("${version}", "v")
        .replace("${kid}", "kid")
        .replace("${family}", "family")
        .replace("${consumer}", "consumer");
    let bad = |why: String| {
        ConfigError::new(format!("`{key}` is not a URL: {why}"), span)
            .hint(format!("for example {example}"))
    };
    match reqwest::Url::parse(&sample) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(url.to_string())
        }
        Ok(u) => Err(bad(format!(
            "it must start with http:// or https://, not {}:",
            u.scheme()
        ))),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Fills `${version}`, `${kid}`, `${family}` and `${consumer}` in from the request.
pub(crate) fn substitute(template: &str, request: &ProbeRequest) -> String {
    if !template.contains("${") {
        return template.to_string();
    }
    template
        .replace("${version}", request.version.as_str())
        .replace("${kid}", &request.kid)
        .replace("${family}", request.family.as_str())
        .replace("${consumer}", request.consumer.as_str())
}

/// One line saying why a request to `url` failed, for a detail line
/// (`crate::net` has the words).
pub(crate) fn failure(e: &reqwest::Error, url: &str, timeout: Duration) -> String {
    crate::net::Failure::of(e, url, Some(timeout)).message
}

/// Formats a number for a detail line: `3`, `0.25`, `NaN`.
pub(crate) fn number(n: f64) -> String {
    format!("{n}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rotor_engine::spec::ProbePhase;
    use rotor_testserver::{Response, Server, TestCa};

    pub fn request(phase: ProbePhase) -> ProbeRequest {
        ProbeRequest {
            family: "signing".into(),
            version: "2026-11".into(),
            kid: "kid-2026-11".into(),
            algorithm: "RS256".into(),
            phase,
            consumer: "gateway".into(),
            material: None,
            thumbprint: None,
            baseline: None,
        }
    }

    /// A client as a probe without `timeout` or `ca_file` gets.
    pub fn plain_client() -> reqwest::Client {
        let map = rotor_engine::spec::Settings::default();
        let block = crate::config::tests::span(0);
        let settings = Settings {
            what: "verify \"http\"".into(),
            map: &map,
            block: &block,
        };
        client(&settings, Path::new("/")).unwrap().0
    }

    async fn get(url: &str) -> String {
        let client = plain_client();
        let e = client.get(url).send().await.unwrap_err();
        failure(&e, url, DEFAULT_TIMEOUT)
    }

    #[test]
    fn substitutes_placeholders() {
        let r = request(ProbePhase::Accept);
        assert_eq!(
            substitute("/v/${version}/${kid}/${family}/${consumer}/${other}", &r),
            "/v/2026-11/kid-2026-11/signing/gateway/${other}"
        );
    }

    #[tokio::test]
    async fn ca_file_adds_a_trusted_root() {
        use crate::config::tests::string;
        let ca = TestCa::new();
        let server = Server::start_tls(&ca, |_| Response::ok("ok")).await;
        let url = format!("https://{}/", server.addr());
        // Without the CA: not trusted, and the message says what to set.
        assert_eq!(
            get(&url).await,
            "TLS: certificate not trusted (is ca_file set?)"
        );
        let mut map = rotor_engine::spec::Settings::default();
        map.insert("ca_file".into(), string("ca.pem", 4));
        let block = crate::config::tests::span(0);
        let settings = Settings {
            what: "verify \"http\"".into(),
            map: &map,
            block: &block,
        };
        let (trusting, _) = client(&settings, ca.dir.path()).unwrap();
        let response = trusting.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        // The certificate names 127.0.0.1 only.
        let by_name = format!("https://localhost:{}/", server.addr().port());
        let e = trusting.get(&by_name).send().await.unwrap_err();
        assert_eq!(
            failure(&e, &by_name, DEFAULT_TIMEOUT),
            "TLS: the certificate is not valid for localhost"
        );
        // A file that is not PEM is refused when the spec is read.
        std::fs::write(ca.dir.path().join("ca.pem"), "not a certificate").unwrap();
        let e = client(&settings, ca.dir.path()).unwrap_err();
        assert!(
            e.message.ends_with("holds no PEM certificate"),
            "{}",
            e.message
        );
        assert_eq!(e.span.range.start, 4);
    }

    #[test]
    fn url_settings_must_be_http() {
        use crate::config::tests::{span, string};
        let mut map = rotor_engine::spec::Settings::default();
        let block = span(0);
        let check = |map: &rotor_engine::spec::Settings| {
            let s = Settings {
                what: "verify \"jwks\"".into(),
                map,
                block: &block,
            };
            url_setting(&s, "url", "\"http://127.0.0.1:8081/jwks\"")
        };
        let e = check(&map).unwrap_err();
        assert_eq!(e.message, "verify \"jwks\" needs a `url` setting");
        map.insert("url".into(), string("ftp://x/", 3));
        let e = check(&map).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.span.range.start),
            (
                "`url` is not a URL: it must start with http:// or https://, not ftp:",
                3
            )
        );
        map.insert(
            "url".into(),
            string("http://127.0.0.1:1/keys/${kid}?c=${consumer}", 3),
        );
        assert!(check(&map).is_ok());
    }
}
