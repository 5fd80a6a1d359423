//! The `aws_secretsmanager` store: material in AWS Secrets Manager, with
//! rotor's phases mapped onto staging labels.
//!
//! ```hcl
//! store "aws_secretsmanager" "main" {
//!   region   = "us-east-1"
//!   endpoint = "http://127.0.0.1:5000"   # optional: a local emulator, a VPC endpoint
//!   prefix   = "rotor/"                  # optional: secret names are <prefix><family>
//!   format   = "envelope"                # or "raw": SecretString is the material itself
//! }
//! ```
//!
//! Credentials come from the standard AWS chain: `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), `AWS_PROFILE` and the
//! shared config files (including `credential_process`), web identity
//! (EKS, GitHub Actions OIDC), ECS and EC2 instance roles. SSO profiles are
//! not built in (they would pull two more SDK crates): use
//! `credential_process = aws configure export-credentials --profile NAME --format process`
//! in a profile, or export the variables. `AWS_ENDPOINT_URL` is honoured when
//! the spec sets no `endpoint`.
//!
//! # Layout
//!
//! One secret per family, named `<prefix><family>`, and **one AWS secret
//! version per rotor version**. A version's `SecretString` is a small JSON
//! envelope:
//!
//! ```json
//! { "rotor_version": "2026-11", "kid": "2026-11", "alg": "RS256",
//!   "fingerprint": "sha256:…", "jwk": { "kty": "RSA", "n": "…", "e": "AQAB" },
//!   "material": "-----BEGIN PRIVATE KEY-----…" }
//! ```
//!
//! `material` is the version's material as the generator encoded it (PKCS#8
//! PEM for key pairs, the encoded string for random secrets); `jwk` is absent
//! for random secrets. A service reads the current material with
//! `GetSecretValue` (the default stage, `AWSCURRENT`) and takes `material`
//! from the JSON, e.g. `aws secretsmanager get-secret-value --secret-id
//! rotor/NAME --query SecretString --output text | jq -r .material`.
//! The version's `VersionId` is derived from the family and the rotor version
//! id (a UUID-shaped hash), so writing the same id twice is refused by AWS
//! itself, even after the first one was destroyed, for as long as AWS keeps it.
//!
//! With `format = "raw"` a version's `SecretString` is the material itself,
//! as readers of secrets written by other tools already parse it (`aws
//! secretsmanager get-secret-value --query SecretString`); what the envelope
//! would say is derived from the value on read (the fingerprint, and the
//! public JWK of a PKCS#8 key), at the cost of reading each live version's
//! value on refresh. A raw store can take a secret another tool wrote in
//! place (`rotor import FAMILY`): its `AWSCURRENT` version becomes the rotor
//! version and primary, its `AWSPREVIOUS` (if asked) the one before, by
//! labels alone — readers see no change until the first rotation moves
//! `AWSCURRENT`, and `AWSPREVIOUS` then holds the value before it, as AWS's
//! own rotation does.
//!
//! # Staging labels
//!
//! A label is attached to at most one version of a secret. rotor uses:
//!
//! | label | on | meaning |
//! |---|---|---|
//! | `rotor:<id>` | each enabled rotor version | the version is rotor version `<id>`, in the key set |
//! | `rotor-disabled:<id>` | each disabled rotor version | rotor version `<id>`, revoked but restorable |
//! | `AWSPENDING` | the newest version not promoted yet | staged for promotion, as AWS rotation does it |
//! | `AWSCURRENT` | the primary | what `GetSecretValue` returns by default |
//! | `AWSPREVIOUS` | the version promoted before | set by AWS itself whenever `AWSCURRENT` moves |
//! | `rotor-primary` | the version rotor promoted last | tells rotor's promotes from AWS's first-version default |
//!
//! A version with no `rotor:`/`rotor-disabled:` label is not rotor's: `read`
//! ignores it (a value written by hand or another tool), except that an
//! `AWSPENDING` on such a version is an error (below).
//!
//! - `put` writes the version with `PutSecretValue` and the labels
//!   `AWSPENDING` and `rotor:<id>` in the same call, creating the secret
//!   first if it does not exist. AWS attaches `AWSCURRENT` to a secret's very
//!   first version by itself; until rotor promotes a version (`rotor-primary`
//!   exists) `read` reports no primary.
//! - `set_primary` removes `AWSPENDING` from the version, moves `AWSCURRENT` to
//!   it (AWS moves `AWSPREVIOUS` to the version that lost `AWSCURRENT`), then
//!   moves `rotor-primary`. `read` reports the rotor version holding
//!   `AWSCURRENT` as the primary: that is what consumers get.
//! - `disable` refuses the holder of `AWSCURRENT`, removes `AWSPENDING`,
//!   `AWSPREVIOUS` and `rotor-primary` from the version (a consumer that also
//!   accepts `AWSPREVIOUS` stops accepting it), then swaps `rotor:<id>` for
//!   `rotor-disabled:<id>`. `enable` swaps them back (it does not restore
//!   `AWSPREVIOUS`).
//! - `destroy` (of a disabled version) removes every label from it, so AWS
//!   considers the version *deprecated*. **The material is not gone at
//!   once**: Secrets Manager has no call that deletes one version. A
//!   deprecated version can still be read by its `VersionId` until AWS
//!   removes it, which it does only once the secret has more than 100
//!   versions, and never for a version less than 24 hours old. rotor reports
//!   the version as destroyed (it is in no key set and has no label); to
//!   really erase material, delete the whole secret.
//! - `read_material` returns the `material` of an enabled or disabled
//!   version (for a probe that needs it, or to copy the version into another
//!   store of the family); a destroyed one is [`ErrorKind::NotFound`].
//!
//! Each step that changes several labels orders them so that an interrupted
//! call leaves a state `read` reports as *not done yet* (a version that still
//! has `rotor:<id>` is enabled, one that still has any rotor label is not
//! destroyed), and the next apply repeats the step.
//!
//! **Limits.** AWS allows at most 20 staging labels on one version. rotor
//! puts at most four on one version (`rotor:<id>`, `rotor-primary`,
//! `AWSCURRENT` and, for a moment during a promote, `AWSPENDING`) and keeps a
//! single label of its own per version at rest, so even a family with many
//! live versions holds few labels. AWS removes unlabelled versions once a
//! secret has more than 100 versions (never those under 24 hours old);
//! rotor's live versions always carry a label, so they are never removed,
//! while destroyed ones (and values written outside rotor) eventually are.
//!
//! # Someone else's `AWSPENDING`
//!
//! AWS's own rotation (a rotation Lambda) stages its new value as
//! `AWSPENDING`, and refuses to start another rotation while one is pending.
//! An `AWSPENDING` on a version without a rotor label means another tool is
//! rotating this secret (or gave up half-way): `read` and `put` report it as a
//! [`ErrorKind::Conflict`] naming the version and the command that clears it,
//! rather than moving the label away from under that tool.
//!
//! # Concurrency
//!
//! Secrets Manager has no check-and-set for labels. Writes of one family
//! through one store value are serialised in process (one lock per family),
//! runs of rotor on one family are kept apart by the family's lease in the
//! state, and each step re-reads the labels first and names the version it
//! removes a label from (`RemoveFromVersionId`), so a label moved by someone
//! else in between fails the call (reported as [`ErrorKind::Conflict`]) instead
//! of being silently taken.
//!
//! # Errors
//!
//! A server that cannot be reached is [`ErrorKind::Unavailable`] naming the
//! endpoint; `AccessDeniedException` and rejected credentials are
//! [`ErrorKind::Denied`] naming the secret and the missing permission; a
//! missing secret on read is an empty family. Material never appears in an
//! error or a `Debug` output (the SDK redacts `SecretString` in its own).

use super::family_locks::FamilyLocks;
use crate::config::{ConfigError, Settings};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use rotor_engine::provider::{
    ErrorKind, LiveFamily, LiveVersion, NewVersion, ProviderError, PublicKey, Store,
};
use rotor_engine::spec::StoreSpec;
use rotor_engine::{FamilyName, Jwk, SecretValue, VersionId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;

/// AWS's label for the value consumers read by default.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// AWS's label for the value being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// AWS's label for the value that was current before.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// Marks the version rotor promoted last.
pub const ROTOR_PRIMARY: &str = "rotor-primary";
const ENABLED_PREFIX: &str = "rotor:";
const DISABLED_PREFIX: &str = "rotor-disabled:";

/// A store in AWS Secrets Manager; see the [module docs](self).
pub struct AwsSecretsManagerStore {
    address: String,
    region: String,
    endpoint: Option<String>,
    prefix: String,
    /// `format = "raw"`: the material is the `SecretString` itself.
    raw: bool,
    /// Built on first use: loading the AWS configuration is async.
    client: tokio::sync::OnceCell<Client>,
    /// Serialises this process's writes of one family (see [`FamilyLocks`]).
    write: FamilyLocks,
}

impl fmt::Debug for AwsSecretsManagerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecretsManagerStore")
            .field("address", &self.address)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A version's `SecretString`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct Envelope {
    rotor_version: VersionId,
    kid: String,
    alg: String,
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwk: Option<Jwk>,
    /// The material. `read` and `public_keys` receive it too (Secrets Manager
    /// keeps no per-version metadata besides labels) and drop it at once; only
    /// `read_material` hands it on, inside a `SecretValue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<String>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("rotor_version", &self.rotor_version)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("fingerprint", &self.fingerprint)
            .field("material", &self.material.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// One AWS version of the secret and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AwsVersion {
    version_id: String,
    stages: Vec<String>,
}

impl AwsVersion {
    fn has(&self, label: &str) -> bool {
        self.stages.iter().any(|s| s == label)
    }

    /// The rotor version this is, and whether it is enabled. A version with
    /// both labels (an interrupted enable or disable) counts as disabled.
    fn rotor(&self) -> Option<(&str, bool)> {
        let disabled = self
            .stages
            .iter()
            .find_map(|s| s.strip_prefix(DISABLED_PREFIX));
        let enabled = self
            .stages
            .iter()
            .find_map(|s| s.strip_prefix(ENABLED_PREFIX));
        match (enabled, disabled) {
            (_, Some(id)) => Some((id, false)),
            (Some(id), None) => Some((id, true)),
            (None, None) => None,
        }
    }
}

/// Every version of the secret (deprecated ones included), as listed once.
#[derive(Debug, Clone, Default)]
struct Labels {
    /// `false` when the secret does not exist.
    exists: bool,
    versions: Vec<AwsVersion>,
}

impl Labels {
    fn holder(&self, label: &str) -> Option<&AwsVersion> {
        self.versions.iter().find(|v| v.has(label))
    }

    fn find(&self, id: &VersionId) -> Option<(&AwsVersion, bool)> {
        self.versions.iter().find_map(|v| {
            v.rotor()
                .filter(|(i, _)| *i == id.as_str())
                .map(|(_, e)| (v, e))
        })
    }

    /// Rotor versions: (id, enabled, AWS version), in id order.
    fn rotor_versions(&self) -> Vec<(&str, bool, &AwsVersion)> {
        let mut out: Vec<_> = self
            .versions
            .iter()
            .filter_map(|v| v.rotor().map(|(id, e)| (id, e, v)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// The primary: the rotor version holding `AWSCURRENT`, once rotor has promoted one.
    fn primary(&self) -> Option<&str> {
        self.holder(ROTOR_PRIMARY)?;
        let (id, _) = self.holder(AWSCURRENT)?.rotor()?;
        Some(id)
    }
}

impl AwsSecretsManagerStore {
    /// A store in `region`, talking to `endpoint` when given.
    pub fn new(
        address: String,
        region: &str,
        endpoint: Option<&str>,
        prefix: &str,
    ) -> AwsSecretsManagerStore {
        AwsSecretsManagerStore {
            address,
            region: region.to_string(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            prefix: prefix.to_string(),
            raw: false,
            client: tokio::sync::OnceCell::new(),
            write: FamilyLocks::default(),
        }
    }

    /// Reads a `store "aws_secretsmanager"` block.
    pub fn from_spec(spec: &StoreSpec) -> Result<AwsSecretsManagerStore, ConfigError> {
        let settings = Settings::of("store", &spec.kind, &spec.settings, &spec.span);
        settings.only(&["region", "endpoint", "prefix", "format"], &[])?;
        let raw = match settings.string("format")? {
            None | Some(("envelope", _)) => false,
            Some(("raw", _)) => true,
            Some((other, span)) => {
                return Err(ConfigError::new(
                    format!("`format` of an aws_secretsmanager store is `envelope` or `raw`, not `{other}`"),
                    span,
                )
                .hint("\"raw\" keeps SecretString the material itself, as readers of an existing secret parse it"));
            }
        };
        let (region, region_span) = settings.required_string("region", "\"us-east-1\"")?;
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError::new(
                format!("`region` of an aws_secretsmanager store is not a region name: `{region}`"),
                region_span,
            )
            .hint("for example \"us-east-1\" or \"eu-west-1\"; is AWS_REGION set?"));
        }
        let endpoint = match settings.string("endpoint")? {
            Some((e, span)) if !(e.starts_with("http://") || e.starts_with("https://")) => {
                return Err(ConfigError::new(
                    "`endpoint` of an aws_secretsmanager store must start with http:// or https://",
                    span,
                )
                .hint("for example \"http://127.0.0.1:5000\" for a local emulator"));
            }
            other => other.map(|(e, _)| e),
        };
        let prefix = match settings.string("prefix")? {
            Some((p, span)) => {
                if !p.chars().all(name_char) {
                    return Err(ConfigError::new(
                        format!("`prefix` of an aws_secretsmanager store has a character AWS does not allow in secret names: `{p}`"),
                        span,
                    )
                    .hint("secret names take letters, digits and / _ + = . @ -"));
                }
                p
            }
            None => "",
        };
        let mut store = AwsSecretsManagerStore::new(spec.address(), region, endpoint, prefix);
        store.raw = raw;
        Ok(store)
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(self.region.clone()))
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(5))
                            .operation_attempt_timeout(Duration::from_secs(20))
                            .operation_timeout(Duration::from_secs(60))
                            .build(),
                    )
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
                if let Some(endpoint) = &self.endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
                Client::new(&loader.load().await)
            })
            .await
    }

    /// The AWS secret name of a family.
    fn secret_name(&self, family: &FamilyName) -> String {
        format!("{}{family}", self.prefix)
    }

    /// Where requests go, for messages.
    fn endpoint_description(&self) -> String {
        match (&self.endpoint, std::env::var("AWS_ENDPOINT_URL")) {
            (Some(e), _) => e.clone(),
            (None, Ok(e)) if !e.is_empty() => format!("{e} (AWS_ENDPOINT_URL)"),
            _ => format!("Secrets Manager in {}", self.region),
        }
    }

    /// Turns an SDK error into a provider error naming the secret and what to do.
    fn error<E>(&self, err: SdkError<E>, doing: &str, secret: &str) -> ProviderError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let at = self.endpoint_description();
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("unknown error");
                let said = e.message().unwrap_or("");
                let detail = if said.is_empty() {
                    code.to_string()
                } else {
                    format!("{code}: {said}")
                };
                let (kind, advice) = match code {
                    "AccessDeniedException" | "AccessDenied" => (
                        ErrorKind::Denied,
                        format!("the credentials lack permission: allow secretsmanager:{} on it", action(doing)),
                    ),
                    "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "InvalidClientTokenId"
                    | "IncompleteSignature" => (
                        ErrorKind::Denied,
                        "AWS rejected the credentials: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the session token".to_string(),
                    ),
                    "ResourceNotFoundException" => {
                        (ErrorKind::NotFound, "it does not exist".to_string())
                    }
                    "ResourceExistsException" => (
                        ErrorKind::Conflict,
                        "a version with this id already exists; material is never replaced".to_string(),
                    ),
                    "ThrottlingException" | "InternalServiceError" | "ServiceUnavailable"
                    | "RequestTimeout" => (
                        ErrorKind::Unavailable,
                        "AWS is throttling or failing; run again later".to_string(),
                    ),
                    "InvalidRequestException" => (
                        ErrorKind::Invalid,
                        "if the secret is scheduled for deletion, restore it with `aws secretsmanager restore-secret --secret-id NAME`".replace("NAME", secret),
                    ),
                    _ => (ErrorKind::Invalid, String::new()),
                };
                let advice = if advice.is_empty() {
                    String::new()
                } else {
                    format!("; {advice}")
                };
                ProviderError::new(
                    kind,
                    format!(
                        "{}: cannot {doing} secret `{secret}` ({detail}){advice}",
                        self.address
                    ),
                )
            }
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => ProviderError::new(
                ErrorKind::Unavailable,
                format!(
                    "{} is unavailable: cannot {doing} secret `{secret}` at {at} ({})",
                    self.address,
                    if d.is_timeout() {
                        "timed out"
                    } else {
                        "connection refused or unreachable"
                    }
                ),
            ),
            SdkError::TimeoutError(_) => ProviderError::new(
                ErrorKind::Unavailable,
                format!(
                    "{} is unavailable: cannot {doing} secret `{secret}` at {at} (timed out)",
                    self.address
                ),
            ),
            _ => {
                // Credentials that cannot be found or loaded end up here, as do
                // answers that are not from Secrets Manager.
                let text = causes(&err);
                if text.contains("credentials") || text.contains("identity") {
                    ProviderError::new(
                        ErrorKind::Denied,
                        format!(
                            "{}: cannot {doing} secret `{secret}`: no usable AWS credentials ({text}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
                            self.address
                        ),
                    )
                } else {
                    ProviderError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "{} is unavailable: cannot {doing} secret `{secret}` at {at} ({text})",
                            self.address
                        ),
                    )
                }
            }
        }
    }

    /// The labelled versions of the family's secret (one `DescribeSecret`).
    async fn labels(&self, family: &FamilyName) -> Result<Labels, ProviderError> {
        check_name("family", family.as_str())?;
        let secret = self.secret_name(family);
        let described = self
            .client()
            .await
            .describe_secret()
            .secret_id(&secret)
            .send()
            .await;
        let described = match described {
            Ok(d) => d,
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("ResourceNotFoundException") =>
            {
                return Ok(Labels::default());
            }
            Err(e) => return Err(self.error(e, "describe", &secret)),
        };
        if described.deleted_date().is_some() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: secret `{secret}` is scheduled for deletion; restore it with `aws secretsmanager restore-secret --secret-id {secret}`, or point the store elsewhere",
                    self.address
                ),
            ));
        }
        if described.rotation_enabled() == Some(true) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: secret `{secret}` has automatic rotation turned on (a rotation Lambda); two rotators would fight over its AWSPENDING label. Turn it off with `aws secretsmanager cancel-rotate-secret --secret-id {secret}`, or point the store elsewhere",
                    self.address
                ),
            ));
        }
        let mut labels = Labels {
            exists: true,
            versions: Vec::new(),
        };
        for (version_id, stages) in described.version_ids_to_stages().into_iter().flatten() {
            // AWS lists only labelled versions; an emulator may list deprecated ones too.
            if stages.is_empty() {
                continue;
            }
            labels.versions.push(AwsVersion {
                version_id: version_id.clone(),
                stages: stages.clone(),
            });
        }
        self.check_pending(family, &labels)?;
        Ok(labels)
    }

    /// Refuses an `AWSPENDING` on a version rotor did not write.
    fn check_pending(&self, family: &FamilyName, labels: &Labels) -> Result<(), ProviderError> {
        let Some(pending) = labels.holder(AWSPENDING) else {
            return Ok(());
        };
        if pending.rotor().is_some() {
            return Ok(());
        }
        let secret = self.secret_name(family);
        Err(ProviderError::new(
            ErrorKind::Conflict,
            format!(
                "{}: secret `{secret}` has AWSPENDING on version {vid}, which rotor did not write: another tool (an AWS rotation Lambda?) is rotating it or left a rotation unfinished, and AWS allows one AWSPENDING per secret. Finish or cancel that rotation; if it is abandoned, clear the label with `aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage AWSPENDING --remove-from-version-id {vid}`",
                self.address,
                vid = pending.version_id
            ),
        ))
    }

    /// A version's envelope, read by its `VersionId`.
    async fn envelope(
        &self,
        family: &FamilyName,
        id: &str,
        version_id: &str,
    ) -> Result<Envelope, ProviderError> {
        let secret = self.secret_name(family);
        let out = self
            .client()
            .await
            .get_secret_value()
            .secret_id(&secret)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| self.error(e, "read a version of", &secret))?;
        if self.raw {
            let value = out.secret_string().unwrap_or_default();
            // What the envelope would say, derived from the value; the
            // error names the version, never the value.
            let described = crate::generate::describe(value.as_bytes()).map_err(|e| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{}: version {version_id} of secret `{secret}` (rotor version `{id}`): {}",
                        self.address, e.message
                    ),
                )
            })?;
            return Ok(Envelope {
                rotor_version: id.into(),
                kid: id.to_string(),
                alg: described.algorithm,
                fingerprint: described.fingerprint,
                jwk: described.public_jwk,
                material: Some(value.to_string()),
            });
        }
        let envelope: Option<Envelope> = out
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok());
        match envelope {
            Some(e) if e.rotor_version == id => Ok(e),
            // Never echo the value: it may be material in another format.
            _ => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: version {version_id} of secret `{secret}` carries the label of rotor version `{id}` but its value is not rotor's JSON envelope for `{id}`; was the label moved by hand?",
                    self.address
                ),
            )),
        }
    }

    /// Adds `label` to `to` and/or removes it from `from`.
    async fn stage(
        &self,
        family: &FamilyName,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), ProviderError> {
        let secret = self.secret_name(family);
        self.client()
            .await
            .update_secret_version_stage()
            .secret_id(&secret)
            .version_stage(label)
            .set_move_to_version_id(to.map(str::to_string))
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let mut err = self.error(e, &format!("move label {label} on"), &secret);
                if err.kind == ErrorKind::Invalid {
                    // The label is not where rotor just saw it: someone moved it.
                    err.kind = ErrorKind::Conflict;
                    err.message.push_str(
                        "; the labels changed since rotor read them: run again to re-read",
                    );
                }
                err
            })
    }

    /// Removes `label` from `version` if it holds it.
    async fn unstage(
        &self,
        family: &FamilyName,
        label: &str,
        version: &AwsVersion,
    ) -> Result<(), ProviderError> {
        if version.has(label) {
            self.stage(family, label, None, Some(&version.version_id))
                .await?;
        }
        Ok(())
    }

    /// Attaches `label` to `version`, taking it from whichever version holds it.
    async fn move_label(
        &self,
        family: &FamilyName,
        labels: &Labels,
        label: &str,
        version: &AwsVersion,
    ) -> Result<(), ProviderError> {
        if version.has(label) {
            return Ok(());
        }
        let from = labels.holder(label).map(|h| h.version_id.as_str());
        self.stage(family, label, Some(&version.version_id), from)
            .await
    }

    fn missing(&self, family: &FamilyName, id: &VersionId) -> ProviderError {
        ProviderError::new(
            ErrorKind::NotFound,
            format!(
                "{} has no version `{id}` of `{family}` (no label rotor:{id} or rotor-disabled:{id} on secret `{}`)",
                self.address,
                self.secret_name(family)
            ),
        )
    }

    /// Loads the labels and finds a live rotor version.
    async fn find(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<(Labels, AwsVersion, bool), ProviderError> {
        check_name("version id", id.as_str())?;
        let labels = self.labels(family).await?;
        let (version, enabled) = labels
            .find(id)
            .map(|(v, e)| (v.clone(), e))
            .ok_or_else(|| self.missing(family, id))?;
        Ok((labels, version, enabled))
    }

    /// Whether AWS still keeps a version, labels or not.
    async fn deprecated(
        &self,
        family: &FamilyName,
        version_id: &str,
    ) -> Result<bool, ProviderError> {
        let secret = self.secret_name(family);
        let client = self.client().await;
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_secret_version_ids()
                .secret_id(&secret)
                .include_deprecated(true)
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.error(e, "list the versions of", &secret))?;
            if page
                .versions()
                .iter()
                .any(|v| v.version_id() == Some(version_id))
            {
                return Ok(true);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(false),
            }
        }
    }

    /// Checks that another tool's version holds a value rotor can keep.
    async fn envelope_of_foreign(
        &self,
        family: &FamilyName,
        version_id: &str,
    ) -> Result<(), ProviderError> {
        self.envelope(family, "imported", version_id)
            .await
            .map(|_| ())
    }

    async fn create_secret(&self, family: &FamilyName) -> Result<(), ProviderError> {
        let secret = self.secret_name(family);
        let created = self
            .client()
            .await
            .create_secret()
            .name(&secret)
            .description(format!(
                "rotor family `{family}`: one version per rotor version, labelled rotor:<id>; read the `material` field of AWSCURRENT"
            ))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Created in between by a concurrent writer: carry on.
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("ResourceExistsException") => {
                Ok(())
            }
            Err(e) => Err(self.error(e, "create", &secret)),
        }
    }
}

/// An error and its sources, one line and short: the SDK's own rendering
/// includes whole debug dumps of responses.
pub(crate) fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let mut line = parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// The IAM action behind an operation, for `AccessDenied` advice.
fn action(doing: &str) -> &'static str {
    if doing.starts_with("list") {
        "ListSecretVersionIds"
    } else if doing.starts_with("read") {
        "GetSecretValue"
    } else if doing.starts_with("create") {
        "CreateSecret"
    } else if doing.starts_with("write") {
        "PutSecretValue"
    } else {
        "UpdateSecretVersionStage"
    }
}

/// A character AWS allows in a secret name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
}

/// Family names become part of the secret name, version ids part of labels.
/// The longest name or id: a staging label is at most 256 characters, and
/// rotor's own labels put a prefix before the id.
const NAME_LIMIT: usize = 200;

fn check_name(what: &str, name: &str) -> Result<(), ProviderError> {
    let ok = !name.is_empty() && name.len() <= NAME_LIMIT && name.chars().all(name_char);
    if ok {
        Ok(())
    } else {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{what} `{name}` is not usable in an AWS secret name or staging label (letters, digits and / _ + = . @ -, at most {NAME_LIMIT}; it has {})",
                name.len()
            ),
        ))
    }
}

/// The `VersionId` (`ClientRequestToken`) of a rotor version: UUID-shaped,
/// derived from the family and the id, so the same id always maps to the
/// same AWS version and AWS refuses to write it twice.
fn version_id(family: &FamilyName, id: &VersionId) -> String {
    let hash = Sha256::digest(format!("rotor\0{family}\0{id}").as_bytes());
    let hex = rotor_engine::state::hex(&hash[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[async_trait]
impl Store for AwsSecretsManagerStore {
    fn address(&self) -> &str {
        &self.address
    }

    fn id_limit(&self) -> Option<(usize, &'static str)> {
        Some((NAME_LIMIT, "AWS staging labels carry the version id"))
    }

    async fn read(&self, family: &FamilyName) -> Result<LiveFamily, ProviderError> {
        let labels = self.labels(family).await?;
        let reads = labels
            .rotor_versions()
            .into_iter()
            .map(|(id, enabled, v)| async move {
                let envelope = self.envelope(family, id, &v.version_id).await?;
                Ok::<_, ProviderError>(LiveVersion {
                    id: id.into(),
                    thumbprint: envelope.jwk.as_ref().map(Jwk::thumbprint),
                    fingerprint: envelope.fingerprint,
                    enabled,
                })
            });
        let versions = futures_util::future::try_join_all(reads).await?;
        Ok(LiveFamily {
            versions,
            primary: labels.primary().map(VersionId::from),
        })
    }

    async fn put(
        &self,
        family: &FamilyName,
        version: &NewVersion<'_>,
    ) -> Result<(), ProviderError> {
        check_name("version id", version.id.as_str())?;
        let _guard = self.write.lock(family).await;
        let labels = self.labels(family).await?;
        let id = version.id;
        let vid = version_id(family, id);
        let secret = self.secret_name(family);
        let exists = || {
            ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} already has (or had, and destroyed) a version `{id}` of `{family}` (AWS version {vid} of secret `{secret}`); material is never replaced and ids are never reused",
                    self.address
                ),
            )
        };
        // A destroyed version keeps its VersionId while AWS keeps it; writing the
        // same material again would be silently ignored by AWS, so look first.
        if labels.find(id).is_some() || (labels.exists && self.deprecated(family, &vid).await?) {
            return Err(exists());
        }
        // A secret whose current value another tool wrote: moving AWSCURRENT to
        // rotor's version would switch every reader at once, to rotor's format.
        if let Some(current) = labels.holder(AWSCURRENT).filter(|v| v.rotor().is_none())
            && labels.rotor_versions().is_empty()
        {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: secret `{secret}` already holds a value rotor did not write (AWSCURRENT on version {}); {}",
                    self.address,
                    current.version_id,
                    if self.raw {
                        "bring it under rotor first with `rotor import FAMILY` (readers keep reading it), or give rotor a secret of its own (a `prefix` on the store)"
                    } else {
                        "taking it over would switch every reader at once. Give rotor a secret of its own (a `prefix` on the store), and move readers to it, or set `format = \"raw\"` and `rotor import FAMILY`"
                    }
                ),
            ));
        }
        let generated = version.generated;
        let material = std::str::from_utf8(generated.material.expose()).map_err(|_| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("version `{id}` of `{family}`: material is not text; an aws_secretsmanager store keeps text only"),
            )
        })?;
        let envelope = Envelope {
            rotor_version: id.clone(),
            kid: version.kid.to_string(),
            alg: generated.algorithm.clone(),
            fingerprint: generated.fingerprint.clone(),
            jwk: generated.public_jwk.clone(),
            material: Some(material.to_string()),
        };
        let value = if self.raw {
            SecretValue::new(material.as_bytes().to_vec())
        } else {
            SecretValue::new(serde_json::to_vec(&envelope).expect("an envelope serialises to JSON"))
        };
        drop(envelope);
        if !labels.exists {
            self.create_secret(family).await?;
        }
        let string = std::str::from_utf8(value.expose()).expect("the value is text");
        self.client()
            .await
            .put_secret_value()
            .secret_id(&secret)
            .client_request_token(&vid)
            .secret_string(string)
            .version_stages(AWSPENDING)
            .version_stages(format!("{ENABLED_PREFIX}{id}"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let mut err = self.error(e, "write a version of", &secret);
                if err.kind == ErrorKind::Conflict {
                    // The derived VersionId exists: a destroyed (deprecated) version.
                    return exists();
                }
                // AWS does not echo values in errors; make sure of it.
                err.message = err.message.replace(string, "<redacted>");
                err
            })
    }

    async fn set_primary(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let _guard = self.write.lock(family).await;
        let (labels, version, enabled) = self.find(family, id).await?;
        if !enabled {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} is disabled and cannot be the primary; enable it first",
                    self.address
                ),
            ));
        }
        self.unstage(family, AWSPENDING, &version).await?;
        self.move_label(family, &labels, AWSCURRENT, &version)
            .await?;
        self.move_label(family, &labels, ROTOR_PRIMARY, &version)
            .await
    }

    async fn disable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let _guard = self.write.lock(family).await;
        let (_, version, enabled) = self.find(family, id).await?;
        if version.has(AWSCURRENT) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} holds AWSCURRENT (consumers read it) and cannot be disabled; promote another version first",
                    self.address
                ),
            ));
        }
        // Out of every key set first; the label swap that records it comes last.
        for label in [AWSPENDING, AWSPREVIOUS, ROTOR_PRIMARY] {
            self.unstage(family, label, &version).await?;
        }
        let disabled = format!("{DISABLED_PREFIX}{id}");
        if !version.has(&disabled) {
            self.stage(family, &disabled, Some(&version.version_id), None)
                .await?;
        }
        if enabled || version.has(&format!("{ENABLED_PREFIX}{id}")) {
            self.unstage(family, &format!("{ENABLED_PREFIX}{id}"), &version)
                .await?;
        }
        Ok(())
    }

    async fn enable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let _guard = self.write.lock(family).await;
        let (_, version, enabled) = self.find(family, id).await?;
        if enabled {
            return Ok(());
        }
        let on = format!("{ENABLED_PREFIX}{id}");
        if !version.has(&on) {
            self.stage(family, &on, Some(&version.version_id), None)
                .await?;
        }
        self.unstage(family, &format!("{DISABLED_PREFIX}{id}"), &version)
            .await
    }

    async fn destroy(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        check_name("version id", id.as_str())?;
        let _guard = self.write.lock(family).await;
        let labels = self.labels(family).await?;
        let Some((version, enabled)) = labels.find(id) else {
            // Already destroyed (a resumed apply may ask again), or never written.
            return if labels.exists && self.deprecated(family, &version_id(family, id)).await? {
                Ok(())
            } else {
                Err(self.missing(family, id))
            };
        };
        if enabled {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} is still enabled; disable it before destroying it",
                    self.address
                ),
            ));
        }
        if version.has(AWSCURRENT) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} holds AWSCURRENT, moved there outside rotor; move AWSCURRENT back to the primary before destroying it",
                    self.address
                ),
            ));
        }
        // Every other label first; the rotor label that lists it goes last.
        let disabled = format!("{DISABLED_PREFIX}{id}");
        for label in version.stages.iter().filter(|s| **s != disabled) {
            self.stage(family, label, None, Some(&version.version_id))
                .await?;
        }
        self.stage(family, &disabled, None, Some(&version.version_id))
            .await
    }

    async fn import(
        &self,
        family: &FamilyName,
        id: &VersionId,
        previous: Option<&VersionId>,
    ) -> Result<Vec<VersionId>, ProviderError> {
        check_name("version id", id.as_str())?;
        if let Some(p) = previous {
            check_name("version id", p.as_str())?;
        }
        let secret = self.secret_name(family);
        if !self.raw {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: taking secret `{secret}` in place needs `format = \"raw\"` on the store: with rotor's envelope, every reader of the secret would switch format at the first rotation",
                    self.address
                ),
            ));
        }
        let _guard = self.write.lock(family).await;
        let labels = self.labels(family).await?;
        self.check_pending(family, &labels)?;
        let Some(current) = labels.holder(AWSCURRENT).cloned() else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "{}: secret `{secret}` has no AWSCURRENT value to import",
                    self.address
                ),
            ));
        };
        // Again after an interrupted import: the same labels, then on.
        match current.rotor() {
            Some((held, _)) if held != id.as_str() => {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}: secret `{secret}`'s AWSCURRENT is already rotor version `{held}`: nothing to import",
                        self.address
                    ),
                ));
            }
            Some(_) => {}
            None => {
                if labels.find(id).is_some() {
                    return Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!(
                            "{}: secret `{secret}` already has a rotor version `{id}`",
                            self.address
                        ),
                    ));
                }
                // The value must be one rotor can keep (text; a key it can read).
                self.envelope_of_foreign(family, &current.version_id)
                    .await?;
                self.stage(
                    family,
                    &format!("{ENABLED_PREFIX}{id}"),
                    Some(&current.version_id),
                    None,
                )
                .await?;
            }
        }
        let mut taken = vec![id.clone()];
        if let Some(previous) = previous
            && let Some(before) = labels.holder(AWSPREVIOUS).cloned()
        {
            if before.rotor().is_none() {
                self.envelope_of_foreign(family, &before.version_id).await?;
                self.stage(
                    family,
                    &format!("{ENABLED_PREFIX}{previous}"),
                    Some(&before.version_id),
                    None,
                )
                .await?;
            }
            taken.push(previous.clone());
        }
        let labels = self.labels(family).await?;
        let current = labels.holder(AWSCURRENT).cloned().expect("just read");
        self.move_label(family, &labels, ROTOR_PRIMARY, &current)
            .await?;
        Ok(taken)
    }

    async fn read_material(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<SecretValue, ProviderError> {
        let (_, version, _) = self.find(family, id).await?;
        let envelope = self
            .envelope(family, id.as_str(), &version.version_id)
            .await?;
        match envelope.material {
            Some(m) => Ok(SecretValue::new(m.into_bytes())),
            None => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: version {} of secret `{}` (rotor version `{id}`) has no `material` in its envelope",
                    self.address,
                    version.version_id,
                    self.secret_name(family)
                ),
            )),
        }
    }

    async fn public_keys(&self, family: &FamilyName) -> Result<Vec<PublicKey>, ProviderError> {
        let labels = self.labels(family).await?;
        let reads = labels
            .rotor_versions()
            .into_iter()
            .filter(|(_, enabled, _)| *enabled)
            .map(|(id, _, v)| self.envelope(family, id, &v.version_id));
        let envelopes = futures_util::future::try_join_all(reads).await?;
        Ok(envelopes
            .into_iter()
            .filter_map(|e| {
                Some(PublicKey {
                    jwk: e.jwk?,
                    version: e.rotor_version,
                    kid: e.kid,
                    algorithm: e.alg,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::span;

    fn spec(settings: &[(&str, &str)]) -> StoreSpec {
        crate::config::tests::store_spec("aws_secretsmanager", "main", settings)
    }

    use crate::config::tests::moto_endpoint as endpoint;

    /// A store whose secrets no other test (or run) uses.
    fn live_store() -> AwsSecretsManagerStore {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        AwsSecretsManagerStore::new(
            "store.aws_secretsmanager.main".into(),
            "us-east-1",
            Some(&endpoint()),
            &format!("rotor-unit-{}-{nanos}/", std::process::id()),
        )
    }

    fn random() -> rotor_engine::provider::Generated {
        use rotor_engine::Generator;
        crate::generate::KeyGenerator
            .generate(
                &rotor_engine::spec::Generate::Random {
                    length: 16,
                    encoding: rotor_engine::spec::Encoding::Hex,
                },
                0,
            )
            .unwrap()
    }

    fn new_version<'a>(
        id: &'a VersionId,
        generated: &'a rotor_engine::provider::Generated,
    ) -> NewVersion<'a> {
        NewVersion {
            id,
            kid: id.as_str(),
            generated,
        }
    }

    /// Each rotor version's labels, sorted, by id; then the labels of versions rotor did not write.
    async fn stages(
        store: &AwsSecretsManagerStore,
        family: &FamilyName,
    ) -> Vec<(String, Vec<String>)> {
        let labels = store.labels(family).await.unwrap();
        let mut out: Vec<(String, Vec<String>)> = labels
            .versions
            .iter()
            .map(|v| {
                let mut s = v.stages.clone();
                s.sort();
                let who = match v.version_id.as_str() {
                    x if x == version_id(family, &"a".into()) => "a".to_string(),
                    x if x == version_id(family, &"b".into()) => "b".to_string(),
                    other => other.to_string(),
                };
                (who, s)
            })
            .collect();
        out.sort();
        out
    }

    fn want(rows: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        rows.iter()
            .map(|(w, s)| (w.to_string(), s.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    async fn subject() -> crate::store::conformance::Subject {
        crate::store::conformance::Subject {
            store: Box::new(live_store()),
            family: "f".into(),
            secret: rotor_engine::spec::Generate::Random {
                length: 16,
                encoding: rotor_engine::spec::Encoding::Hex,
            },
            capabilities: crate::store::conformance::Capabilities {
                key_pairs: true,
                readable_material: true,
                tombstones: true,
            },
            keep_alive: None,
        }
    }

    crate::store::conformance::store_conformance!(subject);

    /// What the conformance suite's lifecycle does to the staging labels.
    #[tokio::test]
    async fn the_staging_labels_follow_the_lifecycle() {
        let store = live_store();
        let (g1, g2) = (random(), random());
        store
            .put(&"f".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        // AWS makes a secret's first version AWSCURRENT by itself; rotor has
        // promoted nothing yet, so there is no primary.
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[("a", &["AWSCURRENT", "AWSPENDING", "rotor:a"])])
        );

        store.set_primary(&"f".into(), &"a".into()).await.unwrap();
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[("a", &["AWSCURRENT", "rotor-primary", "rotor:a"])])
        );
        store
            .put(&"f".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[
                ("a", &["AWSCURRENT", "rotor-primary", "rotor:a"]),
                ("b", &["AWSPENDING", "rotor:b"]),
            ])
        );
        store.set_primary(&"f".into(), &"b".into()).await.unwrap();
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[
                ("a", &["AWSPREVIOUS", "rotor:a"]),
                ("b", &["AWSCURRENT", "rotor-primary", "rotor:b"]),
            ])
        );
        // Rollback and forward again: AWSPREVIOUS follows AWSCURRENT.
        store.set_primary(&"f".into(), &"a".into()).await.unwrap();
        store.set_primary(&"f".into(), &"b".into()).await.unwrap();
        store.disable(&"f".into(), &"a".into()).await.unwrap();
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[
                ("a", &["rotor-disabled:a"]),
                ("b", &["AWSCURRENT", "rotor-primary", "rotor:b"]),
            ])
        );
        store.enable(&"f".into(), &"a".into()).await.unwrap();
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[
                ("a", &["rotor:a"]),
                ("b", &["AWSCURRENT", "rotor-primary", "rotor:b"]),
            ])
        );
        // Each asked twice, as a resumed apply may.
        store.disable(&"f".into(), &"a".into()).await.unwrap();
        store.disable(&"f".into(), &"a".into()).await.unwrap();
        store.destroy(&"f".into(), &"a".into()).await.unwrap();
        store.destroy(&"f".into(), &"a".into()).await.unwrap();
        assert_eq!(
            stages(&store, &"f".into()).await,
            want(&[("b", &["AWSCURRENT", "rotor-primary", "rotor:b"])])
        );
        // AWS keeps the deprecated version (no labels) until it cleans up.
        assert!(
            store
                .deprecated(&"f".into(), &version_id(&"f".into(), &"a".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn public_keys_come_from_the_envelopes_of_enabled_versions() {
        use rotor_engine::Generator;
        let store = live_store();
        let ec = crate::generate::KeyGenerator
            .generate(
                &rotor_engine::spec::Generate::Ec {
                    curve: rotor_engine::spec::Curve::P256,
                },
                0,
            )
            .unwrap();
        let (r1, r2) = (random(), random());
        store
            .put(&"k".into(), &new_version(&"a".into(), &ec))
            .await
            .unwrap();
        store
            .put(&"k".into(), &new_version(&"b".into(), &r1))
            .await
            .unwrap();
        let keys = store.public_keys(&"k".into()).await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!((keys[0].version.as_str(), keys[0].kid.as_str()), ("a", "a"));
        assert_eq!(keys[0].algorithm, "ES256");
        assert_eq!(keys[0].jwk.member("crv"), Some("P-256"));
        // A second pending rotor version takes AWSPENDING over.
        let labels = store.labels(&"k".into()).await.unwrap();
        assert_eq!(
            labels.holder(AWSPENDING).unwrap().version_id,
            version_id(&"k".into(), &"b".into())
        );
        store.set_primary(&"k".into(), &"a".into()).await.unwrap();
        store.disable(&"k".into(), &"b".into()).await.unwrap();
        assert!(
            store
                .labels(&"k".into())
                .await
                .unwrap()
                .holder(AWSPENDING)
                .is_none()
        );
        store
            .put(&"k".into(), &new_version(&"c".into(), &r2))
            .await
            .unwrap();
        assert_eq!(store.public_keys(&"k".into()).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_awspending_left_by_another_tool_is_a_conflict_naming_the_version() {
        let store = live_store();
        let (g1, g2) = (random(), random());
        store
            .put(&"p".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        store.set_primary(&"p".into(), &"a".into()).await.unwrap();
        // Another tool stages a value of its own.
        let secret = store.secret_name(&"p".into());
        let theirs = store
            .client()
            .await
            .put_secret_value()
            .secret_id(&secret)
            .secret_string("{\"password\":\"theirs\"}")
            .version_stages(AWSPENDING)
            .send()
            .await
            .unwrap();
        let vid = theirs.version_id().unwrap().to_string();
        for err in [
            store
                .put(&"p".into(), &new_version(&"b".into(), &g2))
                .await
                .unwrap_err(),
            store.read(&"p".into()).await.unwrap_err(),
        ] {
            assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
            for text in [
                format!(
                    "secret `{secret}` has AWSPENDING on version {vid}, which rotor did not write"
                ),
                format!(
                    "aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage AWSPENDING --remove-from-version-id {vid}"
                ),
            ] {
                assert!(
                    err.message.contains(&text),
                    "{text:?} missing: {}",
                    err.message
                );
            }
        }
        // Once cleared, rotor carries on; the other tool's value is left alone.
        store
            .stage(&"p".into(), AWSPENDING, None, Some(&vid))
            .await
            .unwrap();
        store
            .put(&"p".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        let live = store.read(&"p".into()).await.unwrap();
        assert_eq!(live.versions.len(), 2);
        assert_eq!(live.primary.as_ref().map(|v| v.as_str()), Some("a"));
    }

    #[tokio::test]
    async fn a_secret_another_tool_serves_is_not_taken_over() {
        let store = live_store();
        let secret = store.secret_name(&"theirs".into());
        let made = store
            .client()
            .await
            .create_secret()
            .name(&secret)
            .secret_string("{\"password\":\"theirs\"}")
            .send()
            .await
            .unwrap();
        let err = store
            .put(&"theirs".into(), &new_version(&"a".into(), &random()))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
        let vid = made.version_id().unwrap();
        assert!(
            err.message.contains(&format!(
                "secret `{secret}` already holds a value rotor did not write (AWSCURRENT on version {vid})"
            )),
            "{}",
            err.message
        );
        assert!(!err.message.contains("theirs\""), "{}", err.message);
        assert!(
            store
                .read(&"theirs".into())
                .await
                .unwrap()
                .versions
                .is_empty()
        );
    }

    #[tokio::test]
    async fn an_awscurrent_moved_outside_rotor_is_no_primary() {
        let store = live_store();
        let g1 = random();
        store
            .put(&"d".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        store.set_primary(&"d".into(), &"a".into()).await.unwrap();
        // Someone writes a value by hand and makes it AWSCURRENT. (Moving the
        // label rather than a plain put: moto then drops every other label of
        // the old version, which AWS does not.)
        let secret = store.secret_name(&"d".into());
        let theirs = store
            .client()
            .await
            .put_secret_value()
            .secret_id(&secret)
            .secret_string("by hand")
            .version_stages("by-hand")
            .send()
            .await
            .unwrap();
        store
            .stage(
                &"d".into(),
                AWSCURRENT,
                theirs.version_id(),
                Some(&version_id(&"d".into(), &"a".into())),
            )
            .await
            .unwrap();
        let live = store.read(&"d".into()).await.unwrap();
        assert_eq!(live.primary, None, "{live:?}");
        assert_eq!(live.versions.len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable_naming_it() {
        endpoint();
        let store = AwsSecretsManagerStore::new(
            "store.aws_secretsmanager.main".into(),
            "us-east-1",
            Some("http://127.0.0.1:1"),
            "rotor/",
        );
        let err = store.read(&"f".into()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable, "{}", err.message);
        assert!(
            err.message.starts_with(
                "store.aws_secretsmanager.main is unavailable: cannot describe secret `rotor/f` at http://127.0.0.1:1"
            ),
            "{}",
            err.message
        );
    }

    #[test]
    fn envelope_debug_redacts_the_material() {
        let e = Envelope {
            rotor_version: "a".into(),
            kid: "a".into(),
            alg: "HS256".into(),
            fingerprint: "sha256:aa".into(),
            jwk: None,
            material: Some("canary-material".into()),
        };
        let debug = format!("{e:?}");
        assert!(!debug.contains("canary-material") && debug.contains("<redacted>"));
        let json = serde_json::to_value(&e).unwrap();
        assert!(json.get("jwk").is_none());
        assert_eq!(serde_json::from_value::<Envelope>(json).unwrap(), e);
    }

    #[test]
    fn labels_tell_enabled_disabled_and_foreign_versions_apart() {
        let v = |id: &str, stages: &[&str]| AwsVersion {
            version_id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
        };
        let labels = Labels {
            exists: true,
            versions: vec![
                v("1", &["rotor:a", "AWSCURRENT"]),
                v("2", &["rotor:b", "rotor-disabled:b"]),
                v("3", &["AWSPREVIOUS"]),
                v("4", &[]),
            ],
        };
        assert_eq!(
            labels
                .rotor_versions()
                .iter()
                .map(|(id, e, _)| (*id, *e))
                .collect::<Vec<_>>(),
            [("a", true), ("b", false)]
        );
        assert_eq!(labels.primary(), None, "rotor promoted nothing yet");
        let mut promoted = labels.clone();
        promoted.versions[0].stages.push(ROTOR_PRIMARY.into());
        assert_eq!(promoted.primary(), Some("a"));
        assert_eq!(
            version_id(&"f".into(), &"a".into()).len(),
            36,
            "a UUID-shaped ClientRequestToken (32 to 64 characters)"
        );
        assert_ne!(
            version_id(&"f".into(), &"a".into()),
            version_id(&"g".into(), &"a".into())
        );
    }

    #[test]
    fn from_spec_reports_missing_and_bad_settings() {
        let err = AwsSecretsManagerStore::from_spec(&spec(&[])).unwrap_err();
        assert_eq!(
            err.message,
            "store \"aws_secretsmanager\" needs a `region` setting"
        );
        let err = AwsSecretsManagerStore::from_spec(&spec(&[
            ("region", "us-east-1"),
            ("endpoint", "127.0.0.1:5000"),
        ]))
        .unwrap_err();
        assert_eq!(err.span, span(20));
        let err = AwsSecretsManagerStore::from_spec(&spec(&[
            ("region", "us-east-1"),
            ("prefix", "a b/"),
        ]))
        .unwrap_err();
        assert!(err.message.contains("`prefix`"), "{}", err.message);
        let err = AwsSecretsManagerStore::from_spec(&spec(&[("region", "US East")])).unwrap_err();
        assert_eq!(err.span, span(10));
        let err = AwsSecretsManagerStore::from_spec(&spec(&[
            ("region", "us-east-1"),
            ("endpont", "http://x"),
        ]))
        .unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `endpoint`?"));
        let s = AwsSecretsManagerStore::from_spec(&spec(&[
            ("region", "eu-west-1"),
            ("endpoint", "http://127.0.0.1:5000/"),
            ("prefix", "team/rotor/"),
        ]))
        .unwrap();
        assert_eq!(s.address(), "store.aws_secretsmanager.main");
        assert_eq!(s.secret_name(&"k".into()), "team/rotor/k");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn names_must_fit_secret_names_and_labels() {
        for bad in ["", "a b", "a?b", "ü", &"x".repeat(201)] {
            assert!(check_name("family", bad).is_err(), "{bad}");
        }
        check_name("family", "session_signing_key").unwrap();
        check_name("version id", "2026-11").unwrap();
    }
}
