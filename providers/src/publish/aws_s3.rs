//! The `aws_s3_object` publisher: the JWKS document as one S3 object, for
//! rotor runs that keep no disk between them (a GitHub-hosted CI runner) and
//! for key sets served from a bucket or a CDN in front of one.
//!
//! ```hcl
//! publish "aws_s3_object" "public" {
//!   secret        = secret.session_signing_key
//!   bucket        = "acme-public-keys"
//!   key           = ".well-known/jwks.json"
//!   region        = "eu-west-1"
//!   endpoint      = "http://127.0.0.1:9000"   # optional: MinIO, Cloudflare R2, moto, a VPC endpoint
//!   cache_control = "max-age=300"             # optional: the object's Cache-Control
//! }
//! ```
//!
//! The kind and its settings are named as Terraform's `aws_s3_object`
//! resource names them (`bucket`, `key`, `cache_control`); `region` and
//! `endpoint` are those of the `aws_secretsmanager` store. The object is the
//! JWKS document every publisher writes (`document.rs`), stored with
//! `Content-Type: application/json`.
//!
//! # Requests
//!
//! `publish` is one `PutObject`. S3 replaces an object atomically: a reader
//! gets the whole old document or the whole new one, and reads after the
//! write see the new one. `read_keys` is one `GetObject`; `NoSuchKey` means
//! nothing is published yet. Requests are plain HTTPS signed with SigV4
//! (`crate::sigv4`), with credentials from the standard AWS chain: the
//! variables, `AWS_PROFILE`, web identity (GitHub Actions OIDC via
//! `aws-actions/configure-aws-credentials`), container and instance roles.
//!
//! Without `endpoint`, the object is at
//! `https://BUCKET.s3.REGION.amazonaws.com/KEY` (virtual-hosted), or at
//! `https://s3.REGION.amazonaws.com/BUCKET/KEY` for a bucket name with dots,
//! which the wildcard certificate does not cover. With an `endpoint` (or
//! `AWS_ENDPOINT_URL` when the spec sets none), requests go path-style to
//! `ENDPOINT/BUCKET/KEY`, as MinIO, R2 and moto serve them.
//!
//! # Serving the key set
//!
//! rotor writes the object; who may read it is the bucket's business: a
//! bucket policy allowing `s3:GetObject` on the key, or CloudFront in front
//! of a private bucket. No ACL is set (new buckets have ACLs disabled). A
//! verifier's `cache_ttl` should cover the `max-age` of `cache_control` plus
//! any CDN's own TTL, since the accept window counts from the write.
//!
//! # Permissions
//!
//! `s3:PutObject` and `s3:GetObject` on `arn:aws:s3:::BUCKET/KEY`, and
//! `s3:ListBucket` on `arn:aws:s3:::BUCKET`: without it, S3 answers a read of
//! an object that does not exist yet with `AccessDenied` instead of
//! `NoSuchKey`, and the first plan fails.
//!
//! # Errors
//!
//! A server that cannot be reached (or a credentials endpoint that times
//! out) is [`ErrorKind::Unavailable`] naming where rotor connected; a missing
//! bucket is [`ErrorKind::NotFound`]; `AccessDenied` and rejected or missing
//! credentials are [`ErrorKind::Denied`] naming the permission or the
//! variables to set; a bucket in another region is [`ErrorKind::Invalid`]
//! naming the region to write. Each message names the object as
//! `s3://BUCKET/KEY`. The key set holds public keys only, and S3's own error
//! text is quoted, never a response body that is not S3's.
//!
//! Longer than 600 lines because of its tests (from line ~535): the code
//! itself is about 460 lines, most of it settings checks and error advice.

use super::document;
use crate::config::{ConfigError, Settings};
use crate::sigv4::{Signer, encode_key};
use async_trait::async_trait;
use reqwest::StatusCode;
use rotor_engine::provider::{ErrorKind, ListedKey, ProviderError, PublicKey, Publisher};
use rotor_engine::spec::PublishSpec;

/// A whole request, signing and credentials included, gives up after this.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A key set larger than this is not read: the key points at something else.
const MAX_DOCUMENT: u64 = 1 << 20;

/// A JWKS document in an S3 object; see the [module docs](self).
#[derive(Debug)]
pub struct AwsS3Object {
    address: String,
    bucket: String,
    key: String,
    region: String,
    endpoint: Option<String>,
    cache_control: Option<String>,
    /// Built on first use: loading the AWS configuration is async.
    client: tokio::sync::OnceCell<Client>,
}

#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    signer: Signer,
    /// The object's URL, key percent-encoded.
    url: String,
    /// Where requests go, for messages: the endpoint, or S3 in the region.
    at: String,
}

/// Why a request did not succeed.
enum Failure {
    /// The server answered with an error, to classify by what it says.
    Refused(Refusal),
    /// There was no answer (or no credentials to sign with), already described.
    Failed(ProviderError),
}

/// What S3 answered, when it was not a success.
struct Refusal {
    status: StatusCode,
    code: String,
    message: String,
    /// The bucket's region, when S3 says it (`x-amz-bucket-region`, `<Region>`).
    region: Option<String>,
}

impl AwsS3Object {
    /// The object `key` in `bucket`, in `region`, through `endpoint` when given.
    pub fn new(
        address: String,
        bucket: &str,
        key: &str,
        region: &str,
        endpoint: Option<&str>,
    ) -> AwsS3Object {
        AwsS3Object {
            address,
            bucket: bucket.to_string(),
            key: key.to_string(),
            region: region.to_string(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            cache_control: None,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// Sets the object's `Cache-Control` on every write.
    pub fn cache_control(mut self, value: &str) -> AwsS3Object {
        self.cache_control = Some(value.to_string());
        self
    }

    /// Reads a `publish "aws_s3_object"` block.
    pub fn from_spec(spec: &PublishSpec) -> Result<AwsS3Object, ConfigError> {
        let settings = Settings::of("publish", &spec.kind, &spec.settings, &spec.span);
        settings.only(
            &["bucket", "key", "region", "endpoint", "cache_control"],
            &["secret"],
        )?;
        let (bucket, span) = settings.required_string("bucket", "\"acme-public-keys\"")?;
        if !is_bucket_name(bucket) {
            return Err(ConfigError::new(
                format!("`bucket` of an aws_s3_object publisher is not an S3 bucket name: `{bucket}`"),
                span,
            )
            .hint("bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit; the key inside it goes in `key`"));
        }
        let (key, span) = settings.required_string("key", "\".well-known/jwks.json\"")?;
        if let Some(why) = key_problem(key) {
            let hint = match key.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => format!("write `key = \"{rest}\"`"),
                _ => "for example \".well-known/jwks.json\"".to_string(),
            };
            return Err(ConfigError::new(
                format!("`key` of an aws_s3_object publisher {why}"),
                span,
            )
            .hint(hint));
        }
        let (region, span) = settings.required_string("region", "\"eu-west-1\"")?;
        if !is_region(region) {
            return Err(ConfigError::new(
                format!("`region` of an aws_s3_object publisher is not a region name: `{region}`"),
                span,
            )
            .hint("the bucket's region, for example \"eu-west-1\"; is AWS_REGION set?"));
        }
        let endpoint = match settings.string("endpoint")? {
            Some((e, span)) => {
                let ok = reqwest::Url::parse(e).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.query().is_none()
                });
                if !ok {
                    return Err(ConfigError::new(
                        format!("`endpoint` of an aws_s3_object publisher is not an http:// or https:// URL: `{e}`"),
                        span,
                    )
                    .hint("the S3 API's base URL, for example \"http://127.0.0.1:9000\" for MinIO; the bucket and key are added to it"));
                }
                Some(e)
            }
            None => None,
        };
        let mut object = AwsS3Object::new(spec.address(), bucket, key, region, endpoint);
        if let Some((value, span)) = settings.string("cache_control")? {
            if value.trim().is_empty() || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(ConfigError::new(
                    "`cache_control` of an aws_s3_object publisher must be a non-empty header value of printable ASCII",
                    span,
                )
                .hint("for example \"max-age=300\""));
            }
            object = object.cache_control(value);
        }
        Ok(object)
    }

    /// The bucket written.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `s3://BUCKET/KEY`, as messages name the object.
    pub fn target(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The object's URL: path-style through an endpoint, virtual-hosted on AWS.
    fn url(&self, endpoint: Option<&str>) -> String {
        let key = encode_key(&self.key);
        match endpoint {
            Some(e) => format!("{}/{}/{key}", e.trim_end_matches('/'), self.bucket),
            None => {
                let domain = if self.region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                if self.bucket.contains('.') {
                    format!("https://s3.{}.{domain}/{}/{key}", self.region, self.bucket)
                } else {
                    format!("https://{}.s3.{}.{domain}/{key}", self.bucket, self.region)
                }
            }
        }
    }

    async fn client(&self) -> Result<&Client, ProviderError> {
        self.client
            .get_or_try_init(|| async {
                let signer = Signer::load(&self.region, "s3").await;
                let (endpoint, at) = match (&self.endpoint, signer.endpoint_url()) {
                    (Some(e), _) => (Some(e.clone()), e.clone()),
                    (None, Some(e)) => (Some(e.to_string()), format!("{e} (AWS_ENDPOINT_URL)")),
                    (None, None) => (None, format!("S3 in {}", self.region)),
                };
                let http = reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    // A redirect would carry a signature made for another URL.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("rotor/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| {
                        ProviderError::new(
                            ErrorKind::Invalid,
                            format!("{}: cannot set up an HTTP client: {e}", self.address),
                        )
                    })?;
                Ok(Client {
                    url: self.url(endpoint.as_deref()),
                    http,
                    signer,
                    at,
                })
            })
            .await
    }

    /// Signs and sends one request.
    async fn send(
        &self,
        method: reqwest::Method,
        body: Vec<u8>,
        doing: &str,
    ) -> Result<reqwest::Response, Failure> {
        let client = self.client().await.map_err(Failure::Failed)?;
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if method == reqwest::Method::PUT {
            headers.push(("content-type", "application/json"));
            if let Some(c) = &self.cache_control {
                headers.push(("cache-control", c));
            }
        }
        let signed = client
            .signer
            .sign(method.as_str(), &client.url, &headers, &body)
            .await
            .map_err(|e| {
                Failure::Failed(ProviderError::new(
                    e.kind,
                    format!(
                        "{}: cannot {doing} {}: {}",
                        self.address,
                        self.target(),
                        e.message
                    ),
                ))
            })?;
        let mut request = client.http.request(method, &client.url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.body(body).send().await.map_err(|e| {
            let why = crate::probe::net::failure(
                &e,
                &client.url,
                rotor_engine::Duration::seconds(REQUEST_TIMEOUT.as_secs() as i64),
            );
            Failure::Failed(ProviderError::new(
                ErrorKind::Unavailable,
                format!(
                    "{} is unavailable: cannot {doing} {} at {} ({why})",
                    self.address,
                    self.target(),
                    client.at
                ),
            ))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(Failure::Refused(Refusal::read(response).await))
    }

    /// A refusal as a provider error naming the object and what to do.
    fn refused(&self, r: &Refusal, doing: &str) -> ProviderError {
        let object_arn = format!("arn:aws:s3:::{}/{}", self.bucket, self.key);
        let (kind, advice) = match r.code.as_str() {
            "NoSuchBucket" => (
                ErrorKind::NotFound,
                format!(
                    "bucket `{}` does not exist: create it, or correct `bucket`",
                    self.bucket
                ),
            ),
            "AccessDenied" | "AllAccessDisabled" if doing == "write" => (
                ErrorKind::Denied,
                format!("the credentials lack permission: allow s3:PutObject on {object_arn}"),
            ),
            "AccessDenied" | "AllAccessDisabled" => (
                ErrorKind::Denied,
                format!(
                    "the credentials lack permission: allow s3:GetObject on {object_arn}, and s3:ListBucket on arn:aws:s3:::{} (without it S3 answers AccessDenied for an object not written yet)",
                    self.bucket
                ),
            ),
            _ if r.region.as_deref().is_some_and(|b| b != self.region) => (
                ErrorKind::Invalid,
                format!(
                    "the bucket is in {}, not {}: set `region = \"{}\"`",
                    r.region.as_deref().unwrap_or_default(),
                    self.region,
                    r.region.as_deref().unwrap_or_default()
                ),
            ),
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AuthorizationHeaderMalformed" => (
                ErrorKind::Denied,
                "AWS rejected the credentials: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the session token".to_string(),
            ),
            "SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout" => (
                ErrorKind::Unavailable,
                "S3 is throttling or failing; run again later".to_string(),
            ),
            _ if r.status.is_server_error() => (
                ErrorKind::Unavailable,
                "the server is failing; run again later".to_string(),
            ),
            _ => (ErrorKind::Invalid, String::new()),
        };
        let detail = if r.message.is_empty() {
            r.code.clone()
        } else {
            format!("{}: {}", r.code, r.message)
        };
        let advice = if advice.is_empty() {
            String::new()
        } else {
            format!("; {advice}")
        };
        ProviderError::new(
            kind,
            format!(
                "{}: cannot {doing} {} (HTTP {}, {detail}){advice}",
                self.address,
                self.target(),
                r.status.as_u16()
            ),
        )
    }

    fn invalid(&self, why: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{}: {} is not a valid JWKS: {why}",
                self.address,
                self.target()
            ),
        )
    }
}

impl Refusal {
    async fn read(response: reqwest::Response) -> Refusal {
        let status = response.status();
        let header_region = response
            .headers()
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.unwrap_or_default();
        // Only S3's XML error is quoted; any other body (a proxy's page) is not.
        let code = element(&body, "Code").unwrap_or_else(|| match status {
            StatusCode::NOT_FOUND => "NotFound".to_string(),
            StatusCode::FORBIDDEN => "AccessDenied".to_string(),
            _ => format!("HTTP {}", status.as_u16()),
        });
        Refusal {
            status,
            code,
            message: element(&body, "Message").unwrap_or_default(),
            region: header_region.or_else(|| element(&body, "Region")),
        }
    }
}

/// The text of `<name>…</name>` in S3's XML error, short and unescaped.
fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let len = xml[start..].find(&format!("</{name}>"))?;
    let text = xml[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let mut text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 200 {
        text = text.chars().take(200).collect::<String>() + "…";
    }
    Some(text).filter(|t| !t.is_empty())
}

/// AWS's bucket naming rules (which MinIO and R2 share).
fn is_bucket_name(name: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
        && !name.contains("..")
}

/// Why `key` cannot name the object, if it cannot.
fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("is empty")
    } else if key.starts_with('/') {
        Some("starts with `/`: S3 would keep the slash, and the URL would have `//`")
    } else if key.len() > 1024 {
        Some("is longer than S3's 1024 bytes")
    } else if key.chars().any(char::is_control) {
        Some("has a control character")
    } else {
        None
    }
}

fn is_region(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[async_trait]
impl Publisher for AwsS3Object {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read_keys(&self) -> Result<Option<Vec<ListedKey>>, ProviderError> {
        let response = match self.send(reqwest::Method::GET, Vec::new(), "read").await {
            Ok(r) => r,
            Err(Failure::Refused(r)) if r.code == "NoSuchKey" => return Ok(None),
            Err(Failure::Refused(r)) => return Err(self.refused(&r, "read")),
            Err(Failure::Failed(e)) => return Err(e),
        };
        if let Some(len) = response.content_length().filter(|&l| l > MAX_DOCUMENT) {
            return Err(self.invalid(format!("it is {len} bytes long; is `key` the key set's?")));
        }
        let text = response
            .text()
            .await
            .map_err(|e| self.invalid(format!("its body could not be read ({e})")))?;
        document::parse(&text)
            .map(Some)
            .map_err(|why| self.invalid(why))
    }

    async fn publish(&self, keys: &[PublicKey]) -> Result<(), ProviderError> {
        let body = document::render(keys).into_bytes();
        match self.send(reqwest::Method::PUT, body, "write").await {
            Ok(_) => Ok(()),
            Err(Failure::Refused(r)) => Err(self.refused(&r, "write")),
            Err(Failure::Failed(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{settings, span};
    use crate::publish::document::tests::key;

    /// A `publish "aws_s3_object"` block at byte 0 with string settings, the
    /// n-th (from 0) at byte `10 * (n + 1)`.
    fn spec(list: &[(&str, &str)]) -> PublishSpec {
        PublishSpec {
            kind: "aws_s3_object".into(),
            name: "public".into(),
            secret: None,
            settings: settings(list),
            span: span(0),
        }
    }

    use crate::config::tests::moto_endpoint as endpoint;

    /// A bucket name no other test (or run) uses.
    fn unique_bucket() -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("rotor-unit-{}-{n}-{nanos}", std::process::id())
    }

    /// One request to moto, signed as the publisher signs.
    async fn s3(method: reqwest::Method, url: &str, body: &[u8]) -> reqwest::Response {
        let signer = Signer::load("us-east-1", "s3").await;
        let signed = signer.sign(method.as_str(), url, &[], body).await.unwrap();
        let mut request = reqwest::Client::new()
            .request(method, url)
            .body(body.to_vec());
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        request.send().await.unwrap()
    }

    async fn create_bucket(endpoint: &str, bucket: &str) {
        let response = s3(reqwest::Method::PUT, &format!("{endpoint}/{bucket}"), b"").await;
        assert!(response.status().is_success(), "{response:?}");
    }

    fn object(endpoint: &str, bucket: &str) -> AwsS3Object {
        AwsS3Object::new(
            "publish.aws_s3_object.public".into(),
            bucket,
            ".well-known/jwks.json",
            "us-east-1",
            Some(endpoint),
        )
    }

    #[tokio::test]
    async fn publish_and_read_back_through_s3() {
        let endpoint = endpoint();
        let bucket = unique_bucket();
        create_bucket(&endpoint, &bucket).await;
        let jwks = object(&endpoint, &bucket).cache_control("max-age=300");
        assert_eq!(
            jwks.read_keys().await.unwrap(),
            None,
            "nothing published yet"
        );

        jwks.publish(&[key("b"), key("a")]).await.unwrap();
        let listed = jwks.read_keys().await.unwrap().unwrap();
        let kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "b"]);
        assert_eq!(listed[0].thumbprint, key("z").jwk.thumbprint());

        // The object: the same document as the file publisher writes, with
        // the headers the spec asks for.
        let url = format!("{endpoint}/{bucket}/.well-known/jwks.json");
        let response = s3(reqwest::Method::GET, &url, b"").await;
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        assert_eq!(header("cache-control").as_deref(), Some("max-age=300"));
        assert_eq!(
            response.text().await.unwrap(),
            document::render(&[key("a"), key("b")])
        );

        jwks.publish(&[]).await.unwrap();
        assert_eq!(jwks.read_keys().await.unwrap(), Some(vec![]));
    }

    #[tokio::test]
    async fn an_object_that_is_not_a_jwks_is_invalid_and_named() {
        let endpoint = endpoint();
        let bucket = unique_bucket();
        create_bucket(&endpoint, &bucket).await;
        let jwks = object(&endpoint, &bucket);
        let url = format!("{endpoint}/{bucket}/.well-known/jwks.json");
        let signer = Signer::load("us-east-1", "s3").await;
        let signed = signer
            .sign("PUT", &url, &[], b"{\"keys\": 3}")
            .await
            .unwrap();
        let mut request = reqwest::Client::new().put(&url).body("{\"keys\": 3}");
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        assert!(request.send().await.unwrap().status().is_success());
        let err = jwks.read_keys().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.message,
            format!(
                "publish.aws_s3_object.public: s3://{bucket}/.well-known/jwks.json is not a valid JWKS: it has no `keys` list"
            )
        );
    }

    #[tokio::test]
    async fn a_missing_bucket_is_not_found_and_says_so() {
        let endpoint = endpoint();
        let bucket = unique_bucket();
        let jwks = object(&endpoint, &bucket);
        for (err, doing) in [
            (jwks.read_keys().await.unwrap_err(), "read"),
            (jwks.publish(&[key("a")]).await.unwrap_err(), "write"),
        ] {
            assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
            assert!(
                err.message.starts_with(&format!(
                    "publish.aws_s3_object.public: cannot {doing} s3://{bucket}/.well-known/jwks.json (HTTP 404, NoSuchBucket: "
                )),
                "{}",
                err.message
            );
            assert!(
                err.message.ends_with(&format!(
                    "; bucket `{bucket}` does not exist: create it, or correct `bucket`"
                )),
                "{}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable_naming_it() {
        endpoint();
        let jwks = object("http://127.0.0.1:1", "acme-public-keys");
        let err = jwks.read_keys().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable, "{}", err.message);
        assert_eq!(
            err.message,
            "publish.aws_s3_object.public is unavailable: cannot read s3://acme-public-keys/.well-known/jwks.json at http://127.0.0.1:1 (connection refused to 127.0.0.1:1)"
        );
    }

    #[test]
    fn refusals_are_classified_with_advice() {
        let jwks = AwsS3Object::new(
            "publish.aws_s3_object.public".into(),
            "acme-public-keys",
            "jwks.json",
            "eu-west-1",
            None,
        );
        let refusal = |status: u16, code: &str, region: Option<&str>| Refusal {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "said the server".into(),
            region: region.map(str::to_string),
        };
        let err = jwks.refused(&refusal(403, "AccessDenied", None), "write");
        assert_eq!(err.kind, ErrorKind::Denied);
        assert_eq!(
            err.message,
            "publish.aws_s3_object.public: cannot write s3://acme-public-keys/jwks.json (HTTP 403, AccessDenied: said the server); the credentials lack permission: allow s3:PutObject on arn:aws:s3:::acme-public-keys/jwks.json"
        );
        let err = jwks.refused(&refusal(403, "AccessDenied", None), "read");
        assert!(err.message.contains("s3:GetObject") && err.message.contains("s3:ListBucket"));
        let err = jwks.refused(&refusal(403, "SignatureDoesNotMatch", None), "read");
        assert_eq!(err.kind, ErrorKind::Denied);
        assert!(
            err.message.contains("AWS rejected the credentials"),
            "{}",
            err.message
        );
        let err = jwks.refused(
            &refusal(400, "AuthorizationHeaderMalformed", Some("us-east-2")),
            "read",
        );
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message.ends_with(
                "; the bucket is in us-east-2, not eu-west-1: set `region = \"us-east-2\"`"
            ),
            "{}",
            err.message
        );
        let err = jwks.refused(&refusal(503, "SlowDown", None), "write");
        assert_eq!(err.kind, ErrorKind::Unavailable);
        let err = jwks.refused(&refusal(502, "HTTP 502", None), "write");
        assert_eq!(err.kind, ErrorKind::Unavailable);
        let err = jwks.refused(&refusal(400, "InvalidArgument", None), "write");
        assert_eq!(err.kind, ErrorKind::Invalid);
    }

    #[test]
    fn s3_error_documents_are_read_and_nothing_else_is_quoted() {
        let xml = "<?xml version=\"1.0\"?>\n<Error><Code>PermanentRedirect</Code><Message>Use the\n  endpoint &amp; retry</Message><Region>us-east-2</Region></Error>";
        assert_eq!(element(xml, "Code").as_deref(), Some("PermanentRedirect"));
        assert_eq!(
            element(xml, "Message").as_deref(),
            Some("Use the endpoint & retry")
        );
        assert_eq!(element(xml, "Region").as_deref(), Some("us-east-2"));
        assert_eq!(element("<html>Bad gateway</html>", "Code"), None);
    }

    #[test]
    fn urls_are_virtual_hosted_on_aws_and_path_style_through_an_endpoint() {
        let at = |bucket: &str, region: &str, endpoint: Option<&str>| {
            AwsS3Object::new(
                "p".into(),
                bucket,
                ".well-known/jwks.json",
                region,
                endpoint,
            )
            .url(endpoint)
        };
        assert_eq!(
            at("acme-keys", "eu-west-1", None),
            "https://acme-keys.s3.eu-west-1.amazonaws.com/.well-known/jwks.json"
        );
        assert_eq!(
            at("keys.acme.com", "eu-west-1", None),
            "https://s3.eu-west-1.amazonaws.com/keys.acme.com/.well-known/jwks.json"
        );
        assert_eq!(
            at("acme-keys", "cn-north-1", None),
            "https://acme-keys.s3.cn-north-1.amazonaws.com.cn/.well-known/jwks.json"
        );
        assert_eq!(
            at("acme-keys", "auto", Some("http://127.0.0.1:9000/")),
            "http://127.0.0.1:9000/acme-keys/.well-known/jwks.json"
        );
    }

    /// Two publishers of one object would overwrite each other on every apply.
    #[test]
    fn two_publishers_of_one_object_are_refused_at_the_second_key() {
        let block = |name: &str, family: &str, bucket: &str| {
            format!(
                "publish \"aws_s3_object\" \"{name}\" {{\n  secret = secret.{family}\n  bucket = \"{bucket}\"\n  key    = \"jwks.json\"\n  region = \"eu-west-1\"\n}}\n"
            )
        };
        let family = |name: &str| {
            format!(
                "secret \"{name}\" {{\n  owner   = \"team\"\n  store   = store.file.x\n  cadence = \"90d\"\n  generate \"ec\" {{}}\n  version \"v1\" {{}}\n  active = \"v1\"\n}}\n"
            )
        };
        let text = format!(
            "store \"file\" \"x\" {{}}\n{}{}{}{}{}",
            family("a"),
            family("b"),
            block("one", "a", "acme-keys"),
            block("two", "b", "acme-keys"),
            block("three", "b", "other-keys"),
        );
        let (resolved, diags, _) =
            rotor_engine::spec::load(vec![("rotor.hcl".into(), text)], &|_| None);
        let resolved = resolved.unwrap_or_else(|| panic!("{diags:#?}"));
        let Err(diags) = crate::registry::build(&resolved.spec, std::path::Path::new("/spec"))
        else {
            panic!("expected the second writer of s3://acme-keys/jwks.json to be refused");
        };
        let got: Vec<(String, String)> = diags
            .iter()
            .map(|d| {
                let at = resolved.spec.sources.locate(d.span.as_ref().unwrap());
                (d.summary.clone(), at)
            })
            .collect();
        assert_eq!(
            got,
            [(
                "publish.aws_s3_object.two writes s3://acme-keys/jwks.json, which publish.aws_s3_object.one (at rotor.hcl:18:1) writes too".to_string(),
                "rotor.hcl:27:12".to_string()
            )]
        );
    }

    #[test]
    fn from_spec_reports_missing_and_bad_settings_at_their_attribute() {
        let full = [
            ("bucket", "acme-public-keys"),
            ("key", ".well-known/jwks.json"),
            ("region", "eu-west-1"),
            ("endpoint", "http://127.0.0.1:9000/"),
            ("cache_control", "max-age=300"),
        ];
        let s = AwsS3Object::from_spec(&spec(&full)).unwrap();
        assert_eq!(s.address(), "publish.aws_s3_object.public");
        assert_eq!(s.target(), "s3://acme-public-keys/.well-known/jwks.json");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s.cache_control.as_deref(), Some("max-age=300"));

        let err = AwsS3Object::from_spec(&spec(&[])).unwrap_err();
        assert_eq!(
            (err.message.as_str(), err.span.clone()),
            (
                "publish \"aws_s3_object\" needs a `bucket` setting",
                span(0)
            )
        );
        assert_eq!(
            err.hint.as_deref(),
            Some("add `bucket = \"acme-public-keys\"`")
        );
        let err = AwsS3Object::from_spec(&spec(&full[..2])).unwrap_err();
        assert_eq!(
            err.message,
            "publish \"aws_s3_object\" needs a `region` setting"
        );

        // Each bad value is reported at its own attribute.
        for (at, value, message) in [
            (
                0,
                "Acme_Keys",
                "`bucket` of an aws_s3_object publisher is not an S3 bucket name: `Acme_Keys`",
            ),
            (
                0,
                "acme-keys/jwks",
                "`bucket` of an aws_s3_object publisher is not an S3 bucket name: `acme-keys/jwks`",
            ),
            (1, "", "`key` of an aws_s3_object publisher is empty"),
            (
                1,
                "/.well-known/jwks.json",
                "`key` of an aws_s3_object publisher starts with `/`: S3 would keep the slash, and the URL would have `//`",
            ),
            (
                2,
                "EU West",
                "`region` of an aws_s3_object publisher is not a region name: `EU West`",
            ),
            (
                3,
                "127.0.0.1:9000",
                "`endpoint` of an aws_s3_object publisher is not an http:// or https:// URL: `127.0.0.1:9000`",
            ),
            (
                4,
                " ",
                "`cache_control` of an aws_s3_object publisher must be a non-empty header value of printable ASCII",
            ),
        ] {
            let mut settings = full;
            settings[at].1 = value;
            let err = AwsS3Object::from_spec(&spec(&settings)).unwrap_err();
            assert_eq!(
                (err.message.as_str(), err.span.clone()),
                (message, span(10 * (at + 1))),
                "{value}"
            );
        }
        let mut settings = full;
        settings[1].1 = "/.well-known/jwks.json";
        let err = AwsS3Object::from_spec(&spec(&settings)).unwrap_err();
        assert_eq!(
            err.hint.as_deref(),
            Some("write `key = \".well-known/jwks.json\"`")
        );

        let mut typo = full.to_vec();
        typo.push(("cache_contol", "no-cache"));
        let err = AwsS3Object::from_spec(&spec(&typo)).unwrap_err();
        assert_eq!(err.span, span(60));
        assert_eq!(err.hint.as_deref(), Some("did you mean `cache_control`?"));
    }
}
