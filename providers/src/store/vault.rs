//! The `vault` store: material in a Vault or OpenBao KV v2 secrets engine.
//!
//! ```hcl
//! store "vault" "main" {
//!   address   = env("VAULT_ADDR")    # http://127.0.0.1:8200
//!   token     = env("VAULT_TOKEN")
//!   mount     = "secret"             # the KV v2 mount; this is the default
//!   path      = "rotor"              # where families live under the mount
//!   namespace = "team-a"             # optional (Vault Enterprise / OpenBao namespaces)
//!   current_field  = "password"      # optional: the primary's material, as readers read it
//!   previous_field = "password_previous"  # optional: the other value to accept
//! }
//! ```
//!
//! # Layout
//!
//! One KV v2 secret per family, at `<mount>/data/<path>/<family>`, holding
//! one JSON document (the secret's `data`):
//!
//! ```json
//! {
//!   "primary": "2026-11",
//!   "versions": {
//!     "2026-08": { "kid": "2026-08", "alg": "RS256", "fingerprint": "sha256:…",
//!                  "enabled": false, "destroyed": true, "kv_version": 1 },
//!     "2026-11": { "kid": "2026-11", "alg": "RS256", "fingerprint": "sha256:…",
//!                  "enabled": true, "material": "-----BEGIN PRIVATE KEY-----…",
//!                  "jwk": { "kty": "RSA", "n": "…", "e": "AQAB" }, "kv_version": 3 }
//!   }
//! }
//! ```
//!
//! `material` is the version's material as the generator encoded it (PKCS#8
//! PEM for key pairs, the encoded string for random secrets): this is the
//! store, consumers read their material from here. `jwk` holds the public
//! key's JWK members and is absent for random secrets. `kv_version` is the
//! KV version that first held the material, used by `destroy`.
//!
//! # Fields for readers
//!
//! Readers that cannot parse the document read plain fields beside it:
//! with `current_field`, every write also sets that field to the primary's
//! material (`vault kv get -field=password …` keeps working); with
//! `previous_field`, that field holds the other value a two-value reader
//! must still accept — the version being rotated in before its promote, the
//! version rotated out after it — and is removed once there is none. Every
//! other field in the secret is kept as it is. With `current_field`, a
//! secret another tool wrote can be taken in place (`rotor import FAMILY`):
//! its `current_field` becomes the rotor version and primary (and its
//! `previous_field`, if asked, the version before), and readers see no
//! change until the first rotation's promote.
//!
//! # Concurrency
//!
//! Every write is a read-modify-write with check-and-set: `options.cas` is the
//! KV version that was read (`0` when the secret does not exist yet), so two
//! writers can never lose each other's update. A CAS mismatch is reported as
//! [`ErrorKind::Conflict`]; the next apply re-reads and carries on. Writes made
//! through one store value are also serialised in process, so parallel tasks of
//! one apply do not conflict with each other.
//!
//! # Lifecycle
//!
//! - `put` adds an enabled, non-primary version. An id already in the
//!   document, tombstones included, is refused: material is never replaced and
//!   ids are never reused.
//! - `set_primary` needs an enabled version; `disable` refuses the primary and
//!   sets `enabled: false` (restorable with `enable`).
//! - `destroy` (of a disabled version only) removes the version's `material`
//!   from the document and keeps a tombstone (`destroyed: true, purged: true`,
//!   no material) in one write, then destroys the older KV versions that held
//!   it. Every `destroy` of a tombstone destroys those KV versions again, and
//!   the engine asks for the destroy until it has recorded it, so a crash
//!   between the two writes is finished by the next apply. (A tombstone
//!   written by an earlier release without `purged` is listed as disabled
//!   until a destroy purges its history and marks it.)
//!   **Old KV versions still hold the material**: KV v2 keeps history until its
//!   own `delete_version_after` or an explicit destroy. So after writing the
//!   tombstone, `destroy` calls `POST <mount>/destroy/<path>/<family>` with every
//!   older KV version from the one that first held the material, so it is
//!   really gone. (Older versions hold only history: the latest version always
//!   carries every live version's material.)
//!
//! # Errors
//!
//! A server that cannot be reached is [`ErrorKind::Unavailable`] naming the
//! address and why, in the probes' words (`connection refused to
//! 127.0.0.1:8200`, `TLS: certificate not trusted`: `crate::net`); 403 is
//! [`ErrorKind::Denied`], another status a server error (`Unavailable`) or
//! a request it refused (`Invalid`); a 404 on read is an empty family.
//! The token never appears in errors or `Debug` output.

use super::family_locks::FamilyLocks;
use crate::config::{ConfigError, Settings};
use crate::net;
use async_trait::async_trait;
use rotor_engine::provider::{
    ErrorKind, LiveFamily, LiveVersion, NewVersion, ProviderError, PublicKey, Store,
};
use rotor_engine::spec::StoreSpec;
use rotor_engine::{FamilyName, Jwk, SecretValue, VersionId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The KV v2 mount when the spec does not say.
pub const DEFAULT_MOUNT: &str = "secret";

/// A store in a KV v2 engine; see the [module docs](self).
pub struct VaultStore {
    address: String,
    /// Server URL without a trailing slash.
    url: String,
    token: SecretValue,
    namespace: Option<String>,
    mount: String,
    path: String,
    /// The field mirroring the primary's material, for readers.
    current_field: Option<String>,
    /// The field holding the other value to accept.
    previous_field: Option<String>,
    client: reqwest::Client,
    /// Serialises this process's writes of one family (see [`FamilyLocks`]).
    write: FamilyLocks,
    /// Each family's document as this store value last read or wrote it,
    /// with its KV version: a write starts from it instead of reading again.
    /// Check-and-set keeps that safe: when someone else wrote since, the
    /// write fails, and it is made again from a fresh read.
    seen: std::sync::Mutex<BTreeMap<FamilyName, (Document, u64)>>,
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultStore")
            .field("address", &self.address)
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("namespace", &self.namespace)
            .field("mount", &self.mount)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The family's document, the KV secret's `data`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
struct Document {
    primary: Option<VersionId>,
    #[serde(default)]
    versions: BTreeMap<VersionId, DocVersion>,
    /// Fields rotor does not know, kept as they are on every write.
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl fmt::Debug for Document {
    /// Other fields are named, never shown: a reader field holds material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("primary", &self.primary)
            .field("versions", &self.versions)
            .field("other", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One version in the document.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct DocVersion {
    kid: String,
    alg: String,
    fingerprint: String,
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwk: Option<Jwk>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    destroyed: bool,
    /// `read` no longer lists the version. Written with the tombstone; a
    /// tombstone without it (an earlier release's) is listed, disabled,
    /// until a destroy has purged its history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    purged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kv_version: Option<u64>,
}

impl fmt::Debug for DocVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocVersion")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("fingerprint", &self.fingerprint)
            .field("enabled", &self.enabled)
            .field("material", &self.material.as_ref().map(|_| "<redacted>"))
            .field("destroyed", &self.destroyed)
            .field("kv_version", &self.kv_version)
            .finish()
    }
}

/// A document as read, with the KV version to check-and-set against.
struct Current {
    doc: Document,
    /// `0` when the secret does not exist.
    kv_version: u64,
}

impl VaultStore {
    /// A store talking to `url`.
    pub fn new(
        address: String,
        url: &str,
        token: SecretValue,
        namespace: Option<String>,
        mount: &str,
        path: &str,
    ) -> VaultStore {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with default TLS settings");
        VaultStore {
            address,
            url: url.trim_end_matches('/').to_string(),
            token,
            namespace,
            mount: mount.trim_matches('/').to_string(),
            path: path.trim_matches('/').to_string(),
            current_field: None,
            previous_field: None,
            client,
            write: FamilyLocks::default(),
            seen: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Reads a `store "vault"` block.
    pub fn from_spec(spec: &StoreSpec) -> Result<VaultStore, ConfigError> {
        let settings = Settings::of("store", &spec.kind, &spec.settings, &spec.span);
        settings.only(
            &[
                "address",
                "token",
                "mount",
                "path",
                "namespace",
                "current_field",
                "previous_field",
            ],
            &[],
        )?;
        let mut fields = [None, None];
        for (slot, key) in fields.iter_mut().zip(["current_field", "previous_field"]) {
            if let Some((name, span)) = settings.string(key)? {
                if name.is_empty() || name == "primary" || name == "versions" {
                    return Err(ConfigError::new(
                        format!("`{key}` cannot be `{name}`: rotor's document uses `primary` and `versions`"),
                        span,
                    )
                    .hint("name the field your readers read, such as \"password\" or \"current\""));
                }
                *slot = Some(name.to_string());
            }
        }
        if fields[0].is_some() && fields[0] == fields[1] {
            let (_, span) = settings.string("previous_field")?.expect("set");
            return Err(ConfigError::new(
                "`previous_field` must differ from `current_field`",
                span,
            ));
        }
        let (url, url_span) = settings.required_string("address", "env(\"VAULT_ADDR\")")?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(
                "`address` of a vault store must start with http:// or https://",
                url_span,
            )
            .hint("for example \"http://127.0.0.1:8200\""));
        }
        let (token, token_span) = settings.required_string("token", "env(\"VAULT_TOKEN\")")?;
        if token.is_empty() {
            return Err(
                ConfigError::new("`token` of a vault store is empty", token_span)
                    .hint("is VAULT_TOKEN set?"),
            );
        }
        let mount = settings
            .string("mount")?
            .map(|(m, _)| m)
            .unwrap_or(DEFAULT_MOUNT);
        let (path, _) = settings.required_string("path", "\"rotor\"")?;
        let namespace = settings.string("namespace")?.map(|(n, _)| n.to_string());
        let mut store = VaultStore::new(
            spec.address(),
            url,
            SecretValue::new(token.as_bytes().to_vec()),
            namespace,
            mount,
            path,
        );
        let [current, previous] = fields;
        store.current_field = current;
        store.previous_field = previous;
        Ok(store)
    }

    /// Sets the reader fields from the document (see the module docs).
    fn mirror(&self, doc: &mut Document) {
        let material = |id: &str| {
            doc.versions
                .get(id)
                .filter(|v| v.enabled && !v.destroyed)
                .and_then(|v| v.material.clone())
        };
        let primary = doc.primary.as_ref().and_then(|p| material(p.as_str()));
        // The other value to accept: the newest enabled version besides the primary.
        let other = doc
            .versions
            .iter()
            .filter(|(id, v)| {
                v.enabled
                    && !v.destroyed
                    && v.material.is_some()
                    && Some(*id) != doc.primary.as_ref()
            })
            .max_by_key(|(id, v)| (v.kv_version, (*id).clone()))
            .and_then(|(_, v)| v.material.clone());
        if let (Some(field), Some(m)) = (&self.current_field, primary) {
            doc.other.insert(field.clone(), Value::String(m));
        }
        if let Some(field) = &self.previous_field {
            match other {
                Some(m) => {
                    doc.other.insert(field.clone(), Value::String(m));
                }
                None => {
                    doc.other.remove(field);
                }
            }
        }
    }

    /// `<path>/<family>`, for messages.
    fn secret_path(&self, family: &FamilyName) -> String {
        format!("{}/{}/{family}", self.mount, self.path)
    }

    fn url(&self, kind: &str, family: &FamilyName) -> String {
        format!(
            "{}/v1/{}/{kind}/{}/{family}",
            self.url, self.mount, self.path
        )
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let token = String::from_utf8_lossy(self.token.expose()).into_owned();
        let mut req = self
            .client
            .request(method, url)
            .header("X-Vault-Token", token);
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        req
    }

    /// Sends, mapping transport failures and 403 to errors; other statuses are returned.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        family: &FamilyName,
        doing: &str,
    ) -> Result<(reqwest::StatusCode, Value), ProviderError> {
        let resp = req.send().await.map_err(|e| {
            // Two limits (connecting, the whole request): "timed out" names neither.
            let failure = net::Failure::of(&e, &self.url, None);
            ProviderError::new(
                failure.kind,
                format!(
                    "{} is unavailable: cannot {doing} at {} ({})",
                    self.address, self.url, failure.message
                ),
            )
        })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if net::status_kind(status) == ErrorKind::Denied {
            return Err(ProviderError::new(
                ErrorKind::Denied,
                format!(
                    "{}: the token lacks permission on {}: check its policy",
                    self.address,
                    self.secret_path(family)
                ),
            ));
        }
        Ok((status, body))
    }

    fn unexpected(
        &self,
        doing: &str,
        family: &FamilyName,
        status: reqwest::StatusCode,
        body: &Value,
    ) -> ProviderError {
        let errors = body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        ProviderError::new(
            net::status_kind(status),
            format!(
                "{}: cannot {doing} {}: HTTP {status}{}",
                self.address,
                self.secret_path(family),
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(": {errors}")
                }
            ),
        )
    }

    /// The document to write over: as last seen, else read now. `true`
    /// when it came from what was seen (a check-and-set failure then means
    /// "read again", not "someone is racing us").
    async fn for_write(
        &self,
        family: &FamilyName,
        attempt: usize,
    ) -> Result<(Current, bool), ProviderError> {
        if attempt == 0
            && let Some((doc, kv_version)) = self.seen.lock().expect("seen").get(family).cloned()
        {
            return Ok((Current { doc, kv_version }, true));
        }
        Ok((self.load(family).await?, false))
    }

    fn remember(&self, family: &FamilyName, doc: &Document, kv_version: u64) {
        self.seen
            .lock()
            .expect("seen")
            .insert(family.clone(), (doc.clone(), kv_version));
    }

    fn forget(&self, family: &FamilyName) {
        self.seen.lock().expect("seen").remove(family);
    }

    async fn load(&self, family: &FamilyName) -> Result<Current, ProviderError> {
        let current = self.load_uncached(family).await?;
        self.remember(family, &current.doc, current.kv_version);
        Ok(current)
    }

    async fn load_uncached(&self, family: &FamilyName) -> Result<Current, ProviderError> {
        check_name("family", family.as_str())?;
        let req = self.request(reqwest::Method::GET, &self.url("data", family));
        let (status, body) = self.send(req, family, "read").await?;
        let kv_version = body["data"]["metadata"]["version"].as_u64().unwrap_or(0);
        if status == reqwest::StatusCode::NOT_FOUND {
            // Absent, or its latest KV version deleted: an empty family either way,
            // with the KV version (if any) to check-and-set against.
            return Ok(Current {
                doc: Document::default(),
                kv_version,
            });
        }
        if !status.is_success() {
            return Err(self.unexpected("read", family, status, &body));
        }
        let data = body["data"]["data"].clone();
        let doc = if data.is_null() {
            Document::default()
        } else {
            serde_json::from_value(data).map_err(|e| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{}: {} is not a rotor document: {e}",
                        self.address,
                        self.secret_path(family)
                    ),
                )
            })?
        };
        Ok(Current { doc, kv_version })
    }

    /// Writes the document with check-and-set; returns the new KV version.
    async fn save(&self, family: &FamilyName, current: &Current) -> Result<u64, ProviderError> {
        let mut doc = current.doc.clone();
        self.mirror(&mut doc);
        let req = self
            .request(reqwest::Method::POST, &self.url("data", family))
            .json(&json!({ "options": { "cas": current.kv_version }, "data": doc }));
        let sent = self.send(req, family, "write").await;
        let (status, body) = match sent {
            Ok(answer) => answer,
            Err(e) => {
                // Whether it was written is unknown: read before the next write.
                self.forget(family);
                return Err(e);
            }
        };
        if status.is_success() {
            let kv_version = body["data"]["version"]
                .as_u64()
                .unwrap_or(current.kv_version + 1);
            self.remember(family, &current.doc, kv_version);
            return Ok(kv_version);
        }
        self.forget(family);
        let text = body.to_string();
        if text.contains("check-and-set") {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: {} was changed by another writer since rotor read it (check-and-set on KV version {} failed); nothing was written, run again to re-read it",
                    self.address,
                    self.secret_path(family),
                    current.kv_version
                ),
            ));
        }
        Err(self.unexpected("write", family, status, &body))
    }

    fn missing(&self, family: &FamilyName, id: &VersionId) -> ProviderError {
        ProviderError::new(
            ErrorKind::NotFound,
            format!("{} has no version `{id}` of `{family}`", self.address),
        )
    }

    /// Loads, applies `change` to a live version, and saves.
    async fn modify(
        &self,
        family: &FamilyName,
        id: &VersionId,
        change: impl Fn(&mut Document) -> Result<bool, ProviderError>,
    ) -> Result<(), ProviderError> {
        let _guard = self.write.lock(family).await;
        for attempt in 0.. {
            let (mut current, seen) = self.for_write(family, attempt).await?;
            if current.doc.versions.get(id).is_none_or(|v| v.destroyed) {
                if seen {
                    continue; // what was seen may be stale: read it
                }
                return Err(self.missing(family, id));
            }
            if !change(&mut current.doc)? {
                return Ok(());
            }
            match self.save(family, &current).await {
                Err(e) if seen && is_cas(&e) => continue,
                other => return other.map(|_| ()),
            }
        }
        unreachable!("the second attempt reads afresh and returns")
    }
}

impl VaultStore {
    /// `put`, over `current`.
    async fn put_on(
        &self,
        family: &FamilyName,
        version: &NewVersion<'_>,
        mut current: Current,
    ) -> Result<(), ProviderError> {
        let id = version.id;
        if current.doc.versions.contains_key(id) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} already has a version `{id}` of `{family}`; material is never replaced",
                    self.address
                ),
            ));
        }
        let generated = version.generated;
        let material = std::str::from_utf8(generated.material.expose())
            .map_err(|_| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!("version `{id}` of `{family}`: material is not text; a vault store keeps text only"),
                )
            })?
            .to_string();
        current.doc.versions.insert(
            id.clone(),
            DocVersion {
                kid: version.kid.to_string(),
                alg: generated.algorithm.clone(),
                fingerprint: generated.fingerprint.clone(),
                enabled: true,
                material: Some(material),
                jwk: generated.public_jwk.clone(),
                destroyed: false,
                purged: false,
                kv_version: Some(current.kv_version + 1),
            },
        );
        self.save(family, &current).await.map(|_| ())
    }

    async fn set_primary_now(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<(), ProviderError> {
        let address = self.address.clone();
        self.modify(family, id, |doc| {
            if !doc.versions[id].enabled {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` of `{family}` in {address} is disabled and cannot be the primary; enable it first"
                    ),
                ));
            }
            if doc.primary.as_ref() == Some(id) {
                return Ok(false);
            }
            doc.primary = Some(id.clone());
            Ok(true)
        })
        .await
    }

    async fn disable_now(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let address = self.address.clone();
        self.modify(family, id, |doc| {
            if doc.primary.as_ref() == Some(id) {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` is the primary of `{family}` in {address} and cannot be disabled; promote another version first"
                    ),
                ));
            }
            let v = doc.versions.get_mut(id).expect("checked by modify");
            let changed = v.enabled;
            v.enabled = false;
            Ok(changed)
        })
        .await
    }

    async fn enable_now(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.modify(family, id, |doc| {
            let v = doc.versions.get_mut(id).expect("checked by modify");
            let changed = !v.enabled;
            v.enabled = true;
            Ok(changed)
        })
        .await
    }

    /// `destroy`, over `current`.
    async fn destroy_on(
        &self,
        family: &FamilyName,
        id: &VersionId,
        mut current: Current,
    ) -> Result<(), ProviderError> {
        let Some(v) = current.doc.versions.get_mut(id) else {
            return Err(self.missing(family, id));
        };
        if v.enabled && !v.destroyed {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} is still enabled; disable it before destroying it",
                    self.address
                ),
            ));
        }
        let first = v.kv_version.unwrap_or(1).max(1);
        // A tombstone from an earlier release lists the version until its
        // history is purged, and is marked once it is.
        let unmarked = v.destroyed && !v.purged;
        if !v.destroyed {
            // One write takes the material out and the version off `read`;
            // the history is purged next. Every call purges it again, so a
            // crash between the two is finished by the next destroy, which
            // the engine asks for until it has recorded the version destroyed.
            v.material = None;
            v.destroyed = true;
            v.purged = true;
            current.kv_version = self.save(family, &current).await?;
        }
        // Every KV version from the one that first held the material to the
        // one before the tombstone (or later: versions past the tombstone
        // hold other versions' material, which the latest still holds).
        if current.kv_version > first {
            let versions: Vec<u64> = (first..current.kv_version).collect();
            let req = self
                .request(reqwest::Method::POST, &self.url("destroy", family))
                .json(&json!({ "versions": versions }));
            let (status, body) = self.send(req, family, "destroy old KV versions of").await?;
            if !status.is_success() {
                return Err(self.unexpected("destroy old KV versions of", family, status, &body));
            }
        }
        if unmarked {
            if let Some(v) = current.doc.versions.get_mut(id) {
                v.purged = true;
            }
            self.save(family, &current).await?;
        }
        Ok(())
    }
}

/// A write refused by check-and-set.
fn is_cas(e: &ProviderError) -> bool {
    e.kind == ErrorKind::Conflict && e.message.contains("check-and-set")
}

/// Family names and version ids become URL path segments.
fn check_name(what: &str, name: &str) -> Result<(), ProviderError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("{what} `{name}` is not usable as a KV path segment"),
        ))
    }
}

#[async_trait]
impl Store for VaultStore {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read(&self, family: &FamilyName) -> Result<LiveFamily, ProviderError> {
        let current = self.load(family).await?;
        Ok(LiveFamily {
            versions: current
                .doc
                .versions
                .into_iter()
                .filter(|(_, v)| !(v.destroyed && v.purged))
                .map(|(id, v)| LiveVersion {
                    id,
                    thumbprint: v.jwk.as_ref().map(Jwk::thumbprint),
                    fingerprint: v.fingerprint,
                    enabled: v.enabled && !v.destroyed,
                })
                .collect(),
            primary: current.doc.primary,
        })
    }

    async fn put(
        &self,
        family: &FamilyName,
        version: &NewVersion<'_>,
    ) -> Result<(), ProviderError> {
        check_name("version id", version.id.as_str())?;
        let _guard = self.write.lock(family).await;
        for attempt in 0..2 {
            let (current, seen) = self.for_write(family, attempt).await?;
            match self.put_on(family, version, current).await {
                // A version the stale copy showed (or missed) is judged afresh.
                Err(e) if seen && e.kind == ErrorKind::Conflict => continue,
                other => return other,
            }
        }
        unreachable!("the second attempt reads afresh and returns")
    }

    async fn set_primary(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.set_primary_now(family, id).await
    }

    async fn disable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.disable_now(family, id).await
    }

    async fn enable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.enable_now(family, id).await
    }

    async fn destroy(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        check_name("version id", id.as_str())?;
        let _guard = self.write.lock(family).await;
        for attempt in 0..2 {
            let (current, seen) = self.for_write(family, attempt).await?;
            match self.destroy_on(family, id, current).await {
                Err(e) if seen && (is_cas(&e) || e.kind == ErrorKind::NotFound) => continue,
                other => return other,
            }
        }
        unreachable!("the second attempt reads afresh and returns")
    }
    async fn import(
        &self,
        family: &FamilyName,
        id: &VersionId,
        previous: Option<&VersionId>,
    ) -> Result<Vec<VersionId>, ProviderError> {
        check_name("version id", id.as_str())?;
        let Some(field) = self.current_field.clone() else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: taking {} in place needs `current_field` on the store (the field readers read today)",
                    self.address,
                    self.secret_path(family)
                ),
            ));
        };
        let _guard = self.write.lock(family).await;
        let mut current = self.load(family).await?;
        // Again after an interrupted import (the save is one write): done.
        if current.doc.primary.as_ref() == Some(id) {
            let mut taken = vec![id.clone()];
            taken.extend(
                previous
                    .filter(|p| current.doc.versions.contains_key(*p))
                    .cloned(),
            );
            return Ok(taken);
        }
        if !current.doc.versions.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{}: {} already holds rotor versions: nothing to import",
                    self.address,
                    self.secret_path(family)
                ),
            ));
        }
        let take = |name: &str, doc: &Document| -> Result<Option<DocVersion>, ProviderError> {
            let Some(value) = doc.other.get(name) else {
                return Ok(None);
            };
            let text = value.as_str().ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{}: field `{name}` of {} is not a string",
                        self.address,
                        self.secret_path(family)
                    ),
                )
            })?;
            let d = crate::generate::describe(text.as_bytes()).map_err(|e| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{}: field `{name}` of {}: {}",
                        self.address,
                        self.secret_path(family),
                        e.message
                    ),
                )
            })?;
            Ok(Some(DocVersion {
                kid: String::new(),
                alg: d.algorithm,
                fingerprint: d.fingerprint,
                enabled: true,
                material: Some(text.to_string()),
                jwk: d.public_jwk,
                destroyed: false,
                purged: false,
                // Every KV version so far may hold it: a destroy purges them all.
                kv_version: Some(1),
            }))
        };
        let Some(mut now) = take(&field, &current.doc)? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "{}: {} has no field `{field}` to import",
                    self.address,
                    self.secret_path(family)
                ),
            ));
        };
        now.kid = id.to_string();
        let mut taken = vec![id.clone()];
        if let (Some(previous), Some(prev_field)) = (previous, &self.previous_field) {
            check_name("version id", previous.as_str())?;
            if let Some(mut before) = take(prev_field, &current.doc)?
                && before.fingerprint != now.fingerprint
            {
                before.kid = previous.to_string();
                current.doc.versions.insert(previous.clone(), before);
                taken.push(previous.clone());
            }
        }
        current.doc.versions.insert(id.clone(), now);
        current.doc.primary = Some(id.clone());
        self.save(family, &current).await?;
        Ok(taken)
    }

    async fn read_material(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<SecretValue, ProviderError> {
        let current = self.load(family).await?;
        match current
            .doc
            .versions
            .get(id)
            .and_then(|v| v.material.as_ref())
        {
            Some(m) => Ok(SecretValue::new(m.as_bytes().to_vec())),
            None => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "{} holds no material for version `{id}` of `{family}` at {}",
                    self.address,
                    self.secret_path(family)
                ),
            )),
        }
    }

    async fn public_keys(&self, family: &FamilyName) -> Result<Vec<PublicKey>, ProviderError> {
        let current = self.load(family).await?;
        Ok(current
            .doc
            .versions
            .into_iter()
            .filter(|(_, v)| v.enabled && !v.destroyed)
            .filter_map(|(id, v)| {
                Some(PublicKey {
                    jwk: v.jwk?,
                    version: id,
                    kid: v.kid,
                    algorithm: v.alg,
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
        crate::config::tests::store_spec("vault", "main", settings)
    }

    #[test]
    fn document_round_trips_and_keeps_tombstones_without_material() {
        let text = r#"{
          "primary": "b",
          "versions": {
            "a": { "kid": "a", "alg": "HS256", "fingerprint": "sha256:aa",
                   "enabled": false, "destroyed": true, "kv_version": 1 },
            "b": { "kid": "b", "alg": "ES256", "fingerprint": "sha256:bb",
                   "enabled": true, "material": "canary-material",
                   "jwk": { "kty": "EC", "crv": "P-256", "x": "xx", "y": "yy" },
                   "kv_version": 2 }
          }
        }"#;
        let doc: Document = serde_json::from_str(text).unwrap();
        assert_eq!(doc.primary.as_ref().map(|v| v.as_str()), Some("b"));
        assert!(doc.versions["a"].destroyed && doc.versions["a"].material.is_none());
        assert_eq!(
            doc.versions["b"].jwk.as_ref().unwrap().member("crv"),
            Some("P-256")
        );
        let back = serde_json::to_value(&doc).unwrap();
        assert!(back["versions"]["a"].get("material").is_none());
        assert!(back["versions"]["a"].get("jwk").is_none());
        assert_eq!(back["versions"]["b"]["material"], "canary-material");
        assert_eq!(serde_json::from_value::<Document>(back).unwrap(), doc);
        assert!(!format!("{doc:?}").contains("canary-material"));

        let empty: Document = serde_json::from_str(r#"{"primary": null}"#).unwrap();
        assert_eq!(empty, Document::default());
        assert_eq!(
            serde_json::to_value(Document::default()).unwrap(),
            json!({ "primary": null, "versions": {} })
        );
    }

    /// `VAULT_ADDR` and `VAULT_TOKEN` of the OpenBao dev server `scripts/test` starts.
    fn server() -> (String, String) {
        let get = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run scripts/test, which starts OpenBao")
            })
        };
        (get("VAULT_ADDR"), get("VAULT_TOKEN"))
    }

    fn live_store() -> VaultStore {
        let (addr, token) = server();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = format!("rotor-unit-{}-{nanos}", std::process::id());
        VaultStore::new(
            "store.vault.main".into(),
            &addr,
            SecretValue::new(token.into_bytes()),
            None,
            "secret",
            &path,
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

    #[tokio::test]
    async fn a_write_between_read_and_write_is_a_conflict_and_nothing_is_lost() {
        let store = live_store();
        let (g1, g2) = (random(), random());
        store
            .put(&"f".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        // rotor reads…
        let stale = store.load(&"f".into()).await.unwrap();
        // …another writer changes the document…
        let mut theirs = store.load(&"f".into()).await.unwrap();
        theirs.doc.other.insert("note".into(), json!("theirs"));
        store.save(&"f".into(), &theirs).await.unwrap();
        // …and rotor's write, based on what it read, is refused.
        let err = store.save(&"f".into(), &stale).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
        assert!(
            err.message.contains("changed by another writer"),
            "{}",
            err.message
        );
        // The next operation re-reads and keeps the other writer's change.
        store
            .put(&"f".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        let now = store.load(&"f".into()).await.unwrap();
        assert_eq!(now.doc.other["note"], "theirs");
        assert_eq!(now.doc.versions.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    /// A write starts from the document as this store value last saw it;
    /// when another writer changed it since, check-and-set refuses that
    /// write and it is made again from a fresh read: theirs is kept, ours
    /// lands, and a version the stale copy knew nothing of is found.
    #[tokio::test]
    async fn writes_from_what_was_seen_are_redone_after_another_writer() {
        let store = live_store();
        let other = VaultStore::new(
            "store.vault.other".into(),
            &store.url,
            SecretValue::new(store.token.expose().to_vec()),
            None,
            &store.mount,
            &store.path,
        );
        let (g1, g2, g3) = (random(), random(), random());
        store
            .put(&"f".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        other
            .put(&"f".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        other.set_primary(&"f".into(), &"b".into()).await.unwrap();
        // `store` saw only `a`: its next writes are redone over the fresh document.
        store
            .put(&"f".into(), &new_version(&"c".into(), &g3))
            .await
            .unwrap();
        store.disable(&"f".into(), &"a".into()).await.unwrap();
        let live = other.read(&"f".into()).await.unwrap();
        let ids: Vec<(&str, bool)> = live
            .versions
            .iter()
            .map(|v| (v.id.as_str(), v.enabled))
            .collect();
        assert_eq!(ids, [("a", false), ("b", true), ("c", true)]);
        assert_eq!(live.primary.as_ref().map(|v| v.as_str()), Some("b"));
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

    /// A destroy leaves a tombstone in the document: the id stays known
    /// (so it is never written again) and the material is gone from it.
    #[tokio::test]
    async fn a_destroyed_version_is_a_tombstone_without_material() {
        let store = live_store();
        let (g1, g2) = (random(), random());
        store
            .put(&"f".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        store
            .put(&"f".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        store.set_primary(&"f".into(), &"b".into()).await.unwrap();
        store.disable(&"f".into(), &"a".into()).await.unwrap();
        store.destroy(&"f".into(), &"a".into()).await.unwrap();
        let now = store.load(&"f".into()).await.unwrap();
        assert!(now.doc.versions["a"].material.is_none());
    }

    /// A tombstone an earlier release wrote (without `purged`) is listed,
    /// disabled, until a destroy has purged the KV history that held it.
    #[tokio::test]
    async fn an_interrupted_destroy_still_purges_the_history() {
        let store = live_store();
        let (g1, g2) = (random(), random());
        store
            .put(&"f".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        store
            .put(&"f".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        store.set_primary(&"f".into(), &"b".into()).await.unwrap();
        store.disable(&"f".into(), &"a".into()).await.unwrap();
        // The tombstone alone, as a crash right after writing it would leave it.
        let mut current = store.load(&"f".into()).await.unwrap();
        let first = current.doc.versions["a"].kv_version.unwrap();
        let a = current.doc.versions.get_mut("a").unwrap();
        a.material = None;
        a.destroyed = true;
        store.save(&"f".into(), &current).await.unwrap();
        let listed = store.read(&"f".into()).await.unwrap();
        assert!(
            listed.versions.iter().any(|v| v.id == "a" && !v.enabled),
            "{listed:?}"
        );
        store.destroy(&"f".into(), &"a".into()).await.unwrap();
        assert!(
            store
                .read(&"f".into())
                .await
                .unwrap()
                .versions
                .iter()
                .all(|v| v.id != "a")
        );
        // The KV version that first held a's material is destroyed.
        let url = format!("{}?version={first}", store.url("data", &"f".into()));
        let (_, body) = store
            .send(
                store.request(reqwest::Method::GET, &url),
                &"f".into(),
                "read",
            )
            .await
            .unwrap();
        assert_eq!(body["data"]["metadata"]["destroyed"], true, "{body}");
        store.destroy(&"f".into(), &"a".into()).await.unwrap(); // idempotent
    }

    /// A crash between the tombstone (which takes the version off `read`)
    /// and the purge: the engine has not recorded the destroy, asks again,
    /// and the history that held the material is destroyed then.
    #[tokio::test]
    async fn a_destroy_asked_again_after_the_tombstone_purges_the_history() {
        let store = live_store();
        let (g1, g2) = (random(), random());
        store
            .put(&"g".into(), &new_version(&"a".into(), &g1))
            .await
            .unwrap();
        store
            .put(&"g".into(), &new_version(&"b".into(), &g2))
            .await
            .unwrap();
        store.set_primary(&"g".into(), &"b".into()).await.unwrap();
        store.disable(&"g".into(), &"a".into()).await.unwrap();
        let mut current = store.load(&"g".into()).await.unwrap();
        let first = current.doc.versions["a"].kv_version.unwrap();
        let a = current.doc.versions.get_mut("a").unwrap();
        a.material = None;
        a.destroyed = true;
        a.purged = true;
        store.save(&"g".into(), &current).await.unwrap();
        let history = || async {
            let url = format!("{}?version={first}", store.url("data", &"g".into()));
            let (_, body) = store
                .send(
                    store.request(reqwest::Method::GET, &url),
                    &"g".into(),
                    "read",
                )
                .await
                .unwrap();
            body
        };
        let before = history().await;
        assert_eq!(
            before["data"]["data"]["versions"]["a"]["material"].as_str(),
            std::str::from_utf8(g1.material.expose()).ok(),
            "the crash left the material in KV version {first}"
        );
        assert!(
            store
                .read(&"g".into())
                .await
                .unwrap()
                .versions
                .iter()
                .all(|v| v.id != "a")
        );
        store.destroy(&"g".into(), &"a".into()).await.unwrap();
        let after = history().await;
        assert_eq!(after["data"]["metadata"]["destroyed"], true, "{after}");
        assert!(after["data"]["data"].is_null(), "{after}");
        // b's material is still served by the latest version.
        assert_eq!(
            store
                .read_material(&"g".into(), &"b".into())
                .await
                .unwrap()
                .expose(),
            g2.material.expose()
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let s = VaultStore::from_spec(&spec(&[
            ("address", "http://127.0.0.1:8200/"),
            ("token", "hvs.canary-token-1234"),
            ("path", "rotor"),
        ]))
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("canary-token"), "{debug}");
        assert!(debug.contains("<redacted>"));
        assert_eq!(s.address(), "store.vault.main");
        assert_eq!(
            s.url("data", &"k".into()),
            "http://127.0.0.1:8200/v1/secret/data/rotor/k"
        );
    }

    #[test]
    fn from_spec_reports_missing_and_bad_settings() {
        let err = VaultStore::from_spec(&spec(&[("token", "t"), ("path", "p")])).unwrap_err();
        assert_eq!(err.message, "store \"vault\" needs a `address` setting");
        let err = VaultStore::from_spec(&spec(&[
            ("address", "127.0.0.1:8200"),
            ("token", "t"),
            ("path", "p"),
        ]))
        .unwrap_err();
        assert_eq!(err.span, span(10));
        let err = VaultStore::from_spec(&spec(&[
            ("address", "http://x"),
            ("token", "secret-token"),
            ("path", "p"),
            ("mont", "kv"),
        ]))
        .unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `mount`?"));
        assert!(!err.to_string().contains("secret-token"));
    }

    #[test]
    fn names_must_be_path_segments() {
        for bad in ["", "../x", "a/b", ".h", "a b", "a?b"] {
            assert!(check_name("family", bad).is_err(), "{bad}");
        }
        check_name("family", "session_signing_key").unwrap();
        check_name("version id", "2026-11").unwrap();
    }
}
