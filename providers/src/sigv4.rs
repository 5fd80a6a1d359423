//! Signing plain HTTP requests for AWS (Signature Version 4), for providers
//! that need a call or two of a service and not its SDK client.
//!
//! Credentials come from aws-config's default chain, as for the
//! `aws_secretsmanager` store: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (and `AWS_SESSION_TOKEN`), `AWS_PROFILE` and the shared config files
//! (including `credential_process`), web identity (`AWS_ROLE_ARN` with
//! `AWS_WEB_IDENTITY_TOKEN_FILE`: EKS, and GitHub Actions OIDC through
//! `aws-actions/configure-aws-credentials`), ECS and EC2 instance roles.
//! `aws-sigv4` computes the headers; the request itself goes out through
//! reqwest, the workspace's one HTTP stack. Pulling a service's SDK crate
//! (`aws-sdk-s3` alone is a larger build than everything else here) for
//! two calls would not pay for itself.
//!
//! Credentials are fetched once and kept until five minutes before they
//! expire, so a web identity is exchanged with STS once per run, not once
//! per request. The secret access key never leaves this module: a
//! [`Signer`]'s `Debug` shows the region and service only.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use rotor_engine::provider::{ErrorKind, ProviderError};
use std::fmt;
use std::time::{Duration, SystemTime};

/// Credentials closer than this to their expiry are fetched again.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Signs requests to one AWS service in one region.
pub(crate) struct Signer {
    region: String,
    service: &'static str,
    provider: Option<SharedCredentialsProvider>,
    /// The endpoint the AWS configuration names (`AWS_ENDPOINT_URL`, a
    /// profile's `endpoint_url`), if any.
    endpoint_url: Option<String>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the AWS configuration of the environment (nothing is fetched
    /// yet: credentials are asked for on the first request).
    pub(crate) async fn load(region: &str, service: &'static str) -> Signer {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        Signer {
            region: region.to_string(),
            service,
            provider: config.credentials_provider(),
            endpoint_url: config.endpoint_url().map(str::to_string),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The endpoint the environment's AWS configuration sets, if any.
    pub(crate) fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// The headers that sign a request: `authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, for temporary credentials,
    /// `x-amz-security-token`. `url` must be percent-encoded already, and
    /// `headers` are the ones the request will carry that are signed too.
    /// A credentials problem is [`ErrorKind::Denied`] (or `Unavailable`
    /// when a credentials endpoint could not be reached), its message saying
    /// what to set.
    pub(crate) async fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let identity = self.credentials().await?.into();
        let mut settings = SigningSettings::default();
        // S3's rules (SigV4 for other services encodes twice and normalises).
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let bug = |e: &dyn std::error::Error| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("cannot sign the request to {url}: {e}"),
            )
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| bug(&e))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| bug(&e))?;
        let (instructions, _) = sign(request, &params).map_err(|e| bug(&e))?.into_parts();
        let (signed, _) = instructions.into_parts();
        Ok(signed
            .into_iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect())
    }

    async fn credentials(&self) -> Result<Credentials, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE);
            if fresh {
                return Ok(c.clone());
            }
        }
        let Some(provider) = &self.provider else {
            return Err(no_credentials("no credentials provider is configured"));
        };
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(&e))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

const SET_CREDENTIALS: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; in GitHub Actions, run aws-actions/configure-aws-credentials (OIDC) before rotor";

fn no_credentials(why: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Denied,
        format!("no usable AWS credentials ({why}); {SET_CREDENTIALS}"),
    )
}

fn credentials_error(e: &CredentialsError) -> ProviderError {
    let text = crate::store::aws::causes(e);
    match e {
        CredentialsError::ProviderTimedOut(_) => ProviderError::new(
            ErrorKind::Unavailable,
            format!(
                "AWS credentials could not be fetched in time ({text}); run again, or {SET_CREDENTIALS}"
            ),
        ),
        _ => no_credentials(&text),
    }
}

/// Percent-encodes an S3 object key for a URL path: everything but
/// unreserved characters, with `/` kept as the separator it is.
pub(crate) fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_once_keeping_slashes() {
        assert_eq!(encode_key(".well-known/jwks.json"), ".well-known/jwks.json");
        assert_eq!(encode_key("a b/ü+c"), "a%20b/%C3%BC%2Bc");
    }

    #[tokio::test]
    async fn signs_with_the_environment_credentials_and_never_shows_them() {
        let signer = Signer {
            region: "eu-west-1".into(),
            service: "s3",
            provider: Some(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "canary-secret-key",
                Some("canary-session".into()),
                None,
                "test",
            ))),
            endpoint_url: None,
            cached: tokio::sync::Mutex::new(None),
        };
        let headers = signer
            .sign(
                "PUT",
                "https://b.s3.eu-west-1.amazonaws.com/k",
                &[("content-type", "application/json")],
                b"{}",
            )
            .await
            .unwrap();
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        for name in [
            "authorization",
            "x-amz-date",
            "x-amz-content-sha256",
            "x-amz-security-token",
        ] {
            assert!(names.contains(&name), "{names:?}");
        }
        let auth = &headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && auth.contains("/eu-west-1/s3/aws4_request")
                && auth.contains("content-type;host;"),
            "{auth}"
        );
        let all = format!("{headers:?} {signer:?}");
        assert!(!all.contains("canary-secret-key"), "{all}");
    }

    #[tokio::test]
    async fn no_credentials_is_denied_and_says_what_to_set() {
        let signer = Signer {
            region: "eu-west-1".into(),
            service: "s3",
            provider: None,
            endpoint_url: None,
            cached: tokio::sync::Mutex::new(None),
        };
        let err = signer
            .sign("GET", "https://b.s3.eu-west-1.amazonaws.com/k", &[], b"")
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied);
        assert!(err.message.contains("AWS_ACCESS_KEY_ID"), "{}", err.message);
    }
}
