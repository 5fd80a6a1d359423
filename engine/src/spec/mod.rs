//! The spec: what a team declares in its `.hcl` files, typed and located.
//!
//! [`parse_files`] turns the files of a directory into a [`Spec`] and
//! diagnostics; [`load`] also resolves it (references checked, the resource
//! graph built) and applies the rules from the field. Every value keeps the [`Span`] it came from, so each
//! later error can point at the line that causes it.
//!
//! About 600 lines, most of them the docs of the spec's nineteen types,
//! kept together so that the spec's shape reads in one file; how it is
//! parsed, resolved and checked lives in the submodules.

mod parse;
mod resolve;
mod rules;

pub use parse::{EnvLookup, Parsed, parse_files};
pub use resolve::{Family, ResourceGraph, ResourceId, Window, files_hash};

use crate::diagnostics::{Diagnostics, SourceMap, Span};
use crate::names::{ConsumerName, FamilyName, VersionId};
use crate::time::{Duration, Timestamp};

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// An evaluated attribute value, as far as rotor's small expression language goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string, after `env()` calls and template escapes.
    String(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(Vec<Located<Value>>),
    /// A reference such as `store.file.local`.
    Ref(Reference),
}

/// A block's provider settings by attribute name, in source order.
///
/// A small list rather than a map: blocks have a handful of settings, and a
/// spec can have tens of thousands of blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings(Vec<(String, Located<Value>)>);

impl Settings {
    /// A setting by name.
    pub fn get(&self, key: &str) -> Option<&Located<Value>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets a setting, returning the one it replaces.
    pub fn insert(&mut self, key: String, value: Located<Value>) -> Option<Located<Value>> {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Removes a setting.
    pub fn remove(&mut self, key: &str) -> Option<Located<Value>> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// Whether a setting is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes every setting.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Settings in source order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Located<Value>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Names in source order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Settings {
    type Item = (&'a String, &'a Located<Value>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Located<Value>)>,
        fn(&'a (String, Located<Value>)) -> (&'a String, &'a Located<Value>),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// What a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    /// `store.KIND.NAME`
    Store,
    /// `secret.NAME`
    Secret,
    /// `publish.KIND.NAME`
    Publish,
    /// `consumer.NAME`
    Consumer,
}

impl RefKind {
    /// The keyword that starts the reference.
    pub fn keyword(self) -> &'static str {
        match self {
            RefKind::Store => "store",
            RefKind::Secret => "secret",
            RefKind::Publish => "publish",
            RefKind::Consumer => "consumer",
        }
    }
}

/// A reference as written: `store.file.local` is `Store` with path `["file", "local"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// What kind of thing it names.
    pub kind: RefKind,
    /// The labels after the keyword.
    pub path: Vec<String>,
    /// Where it was written.
    pub span: Span,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.kind.keyword(), self.path.join("."))
    }
}

/// A `store "KIND" "NAME"` block. Its settings are kept generic: each store kind
/// is a provider that reads its own settings, so adding one does not touch the engine.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    /// `file`, `vault`, …
    pub kind: String,
    /// The block's second label.
    pub name: String,
    /// Settings, by attribute name.
    pub settings: Settings,
    /// The whole block.
    pub span: Span,
}

impl StoreSpec {
    /// `store.file.local`.
    pub fn address(&self) -> String {
        format!("store.{}.{}", self.kind, self.name)
    }
}

/// How new material is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generate {
    /// An RSA key pair; signs RS256.
    Rsa {
        /// 2048, 3072 or 4096.
        bits: u32,
    },
    /// An EC key pair on P-256; signs ES256.
    Ec {
        /// Always `P-256` for now.
        curve: Curve,
    },
    /// A random secret (HMAC key, password, API key).
    Random {
        /// Bytes of randomness.
        length: u32,
        /// How the bytes are written: `base64url`, `base64`, `hex`.
        encoding: Encoding,
    },
    /// A database login for the alternating-users strategy: the material is
    /// `{"username": …, "password": …}`, the user name taking turns through
    /// `usernames` version by version, the password `length` random bytes in
    /// base64url.
    Login {
        /// The login roles, used in turn (usually two: `app_a`, `app_b`).
        usernames: Vec<String>,
        /// Bytes of randomness in the password.
        length: u32,
    },
}

impl Generate {
    /// The algorithm a version of this kind records: a JOSE one (`RS256`,
    /// `ES256`, `HS256`), or `password` for a login.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Generate::Rsa { .. } => "RS256",
            Generate::Ec { .. } => "ES256",
            Generate::Random { .. } => "HS256",
            Generate::Login { .. } => "password",
        }
    }

    /// Whether versions have a public part that can be published.
    pub fn is_asymmetric(&self) -> bool {
        matches!(self, Generate::Rsa { .. } | Generate::Ec { .. })
    }
}

impl std::fmt::Display for Generate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Generate::Rsa { bits } => write!(f, "rsa {bits}"),
            Generate::Ec { curve } => write!(f, "ec {curve}"),
            Generate::Random { length, encoding } => write!(f, "random {length} bytes {encoding}"),
            Generate::Login { usernames, length } => {
                write!(f, "login {} ({length} bytes)", usernames.join("/"))
            }
        }
    }
}

/// The curve of an EC key pair (`curve = "P-256"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256; signs ES256.
    P256,
}

impl Curve {
    /// Every curve there is, in the order a hint lists them.
    pub const ALL: [Curve; 1] = [Curve::P256];

    /// The name the spec and JOSE (`crv`) use: `P-256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
        }
    }

    /// The curve named `name` (as [`Curve::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Curve> {
        Curve::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the bytes of a random secret are written (`encoding = "hex"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// URL-safe base64 without padding, the default.
    Base64Url,
    /// Standard base64, padded.
    Base64,
    /// Lower-case hex.
    Hex,
}

impl Encoding {
    /// Every encoding there is, in the order a hint lists them.
    pub const ALL: [Encoding; 3] = [Encoding::Base64Url, Encoding::Base64, Encoding::Hex];

    /// The name the spec uses: `base64url`, `base64`, `hex`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64Url => "base64url",
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
        }
    }

    /// The encoding named `name` (as [`Encoding::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `version "ID" {}` block.
#[derive(Debug, Clone)]
pub struct VersionSpec {
    /// The version id; also the `kid`.
    pub id: VersionId,
    /// The block.
    pub span: Span,
}

/// A `secret "NAME"` block: one family.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    /// The family name.
    pub name: FamilyName,
    /// Free text.
    pub description: Option<String>,
    /// Team or person accountable.
    pub owner: Option<String>,
    /// Where material lives (one or more stores).
    pub stores: Vec<Reference>,
    /// How long after the active version's promote the next rotation is
    /// due; `None`: never due (flagged by the inventory).
    pub cadence: Option<Located<Duration>>,
    /// When a person should review the family.
    pub review_by: Option<Located<Timestamp>>,
    /// How long the previous version is held after promote; defaults to the floor.
    pub overlap: Option<Located<Duration>>,
    /// How long a revoked (disabled) version is kept restorable before it is destroyed.
    pub destroy_after: Located<Duration>,
    /// How material is made.
    pub generate: Option<Located<Generate>>,
    /// Declared versions, in order.
    pub versions: Vec<VersionSpec>,
    /// The version emitters should use: the planner's target primary.
    /// `None` only with an error reported (a family with versions must set it).
    pub active: Option<Located<VersionId>>,
    /// Notes on rolling back (for the runbook).
    pub rollback: Option<String>,
    /// The `secret "NAME"` header.
    pub span: Span,
}

impl SecretSpec {
    /// `secret.NAME`.
    pub fn address(&self) -> String {
        format!("secret.{}", self.name)
    }

    /// Whether a version id is declared.
    pub fn declares(&self, id: &VersionId) -> bool {
        self.versions.iter().any(|v| v.id == *id)
    }
}

/// A `publish "jwks" "NAME"` block.
#[derive(Debug, Clone)]
pub struct PublishSpec {
    /// `jwks`.
    pub kind: String,
    /// The block's second label.
    pub name: String,
    /// The family it publishes; `None` only with an error reported (the
    /// attribute is required).
    pub secret: Option<Reference>,
    /// Other settings (`path`, …), read by the publisher provider.
    pub settings: Settings,
    /// The block header.
    pub span: Span,
}

impl PublishSpec {
    /// `publish.jwks.NAME`.
    pub fn address(&self) -> String {
        format!("publish.{}.{}", self.kind, self.name)
    }
}

/// Which half of a rotation a probe checks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ProbePhase {
    /// The consumer accepts the version (validates with it).
    Accept,
    /// The consumer emits with the version (signs, connects).
    Emit,
    /// Before the old version is revoked: traffic made with it has drained
    /// (asked about the old version).
    Drain,
    /// After the old version is revoked: nothing got worse than before the
    /// rotation started (asked about the old version, with a baseline).
    Guard,
}

impl ProbePhase {
    /// The name the spec's `on` list, gate ids and the state use (`drain`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProbePhase::Accept => "accept",
            ProbePhase::Emit => "emit",
            ProbePhase::Drain => "drain",
            ProbePhase::Guard => "guard",
        }
    }

    /// The phase named `accept`, `emit`, `drain` or `guard` (as
    /// [`ProbePhase::as_str`] writes it); `None` for any other word.
    pub fn from_name(name: &str) -> Option<ProbePhase> {
        [
            ProbePhase::Accept,
            ProbePhase::Emit,
            ProbePhase::Drain,
            ProbePhase::Guard,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

/// A `verify "KIND" {}` block inside a consumer.
#[derive(Debug, Clone)]
pub struct VerifySpec {
    /// [`VerifySpec::MANUAL`], answered by the engine, or a kind a provider
    /// registers (`command`, `http`, `prometheus`, …).
    pub kind: String,
    /// Which phases it proves; empty means accept and emit, for every role the
    /// consumer has. Drain and guard are only ever named.
    pub on: Vec<ProbePhase>,
    /// The `on = […]` attribute, from `on` to the end of its list; `None`
    /// when the block does not set it. A probe kind that cannot serve one of
    /// the phases refuses it here, not at the block.
    pub on_span: Option<Span>,
    /// How long a `--wait` keeps retrying a failing probe before the gate
    /// fails, from when the gate came due (or the run started, if later);
    /// 10m when not set.
    pub within: Duration,
    /// Kind-specific settings (`command`, `timeout`, …), read by the probe provider.
    pub settings: Settings,
    /// The block header.
    pub span: Span,
}

impl VerifySpec {
    /// The probe kind the engine answers itself, from approvals that
    /// `rotor approve` records; every other kind is a provider's.
    pub const MANUAL: &'static str = "manual";

    /// Whether this is a `verify "manual"` gate: a person's approval.
    pub fn is_manual(&self) -> bool {
        self.kind == Self::MANUAL
    }

    /// Whether this probe proves the given phase.
    pub fn proves(&self, phase: ProbePhase) -> bool {
        match phase {
            ProbePhase::Accept | ProbePhase::Emit => self.on.is_empty() || self.on.contains(&phase),
            ProbePhase::Drain | ProbePhase::Guard => self.on.contains(&phase),
        }
    }
}

/// A `consumer "NAME"` block.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Unique among consumers: the key of its evidence in state and part of
    /// its gate ids (`accept.NAME`).
    pub name: ConsumerName,
    /// Families it validates (a verifier).
    pub accepts: Vec<Reference>,
    /// Families it uses the active version of (an emitter).
    pub emits: Vec<Reference>,
    /// The publisher it reads key sets from, if not the store.
    pub via: Option<Reference>,
    /// How long it keeps what it read before reading again.
    pub cache_ttl: Option<Located<Duration>>,
    /// How long what it emits (a signed token) stays valid.
    pub token_ttl: Option<Located<Duration>>,
    /// How many versions it can hold at once.
    pub max_versions: Option<Located<u32>>,
    /// A written reason that waives the flag-day error for `max_versions = 1`.
    pub flag_day_reason: Option<Located<String>>,
    /// Who or what breaks if this consumer rejects a version (for the runbook).
    pub blast_radius: Option<String>,
    /// A note when the consumer is run by a third party (how to reach them, how they rotate).
    pub third_party: Option<String>,
    /// Old versions this consumer accepts are not revoked before this time
    /// (e.g. a mobile app in the field that caches keys longer than its cache_ttl).
    pub hold_until: Option<Located<Timestamp>>,
    /// Why: required with `hold_until`.
    pub hold_reason: Option<Located<String>>,
    /// Its `verify` blocks in the order written; a block's place here is its
    /// gate id's `#N` and its key in [`crate::Providers::probes`].
    pub verify: Vec<VerifySpec>,
    /// The block header.
    pub span: Span,
}

impl ConsumerSpec {
    /// `consumer.NAME`.
    pub fn address(&self) -> String {
        format!("consumer.{}", self.name)
    }

    /// The cache TTL, zero when not set (an error is reported for that).
    pub fn cache(&self) -> Duration {
        self.cache_ttl.as_ref().map_or(Duration::ZERO, |d| d.value)
    }

    /// The token TTL, zero when not set.
    pub fn token(&self) -> Duration {
        self.token_ttl.as_ref().map_or(Duration::ZERO, |d| d.value)
    }

    /// The probes that prove a phase.
    pub fn probes(&self, phase: ProbePhase) -> impl Iterator<Item = (usize, &VerifySpec)> {
        self.verify
            .iter()
            .enumerate()
            .filter(move |(_, v)| v.proves(phase))
    }
}

/// The `policy {}` block: rules a team sets for all its families.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// No family's cadence may be longer (an inventory check of `rotor validate`).
    pub max_cadence: Option<Located<Duration>>,
    /// The block header.
    pub span: Span,
}

/// The `state "KIND" {}` block: where rotor keeps its state (`local`, the
/// default, or `postgres`). Its settings are read by the providers.
#[derive(Debug, Clone)]
pub struct StateSpec {
    /// `local` or `postgres`.
    pub kind: String,
    /// Settings, by attribute name.
    pub settings: Settings,
    /// The block header.
    pub span: Span,
}

/// Everything declared in one directory of `.hcl` files.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The files, for rendering diagnostics.
    pub sources: SourceMap,
    /// `store` blocks.
    pub stores: Vec<StoreSpec>,
    /// `secret` blocks.
    pub secrets: Vec<SecretSpec>,
    /// `publish` blocks.
    pub publishers: Vec<PublishSpec>,
    /// `consumer` blocks.
    pub consumers: Vec<ConsumerSpec>,
    /// The `policy` block, if any.
    pub policy: Option<PolicySpec>,
    /// The `state` block, if any.
    pub state: Option<StateSpec>,
}

/// A spec checked end to end: references resolved, rules applied.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The spec.
    pub spec: Spec,
    /// Per family, who and what it touches; parallel to `spec.secrets`.
    pub families: Vec<Family>,
    /// The resource graph.
    pub graph: ResourceGraph,
    /// A hash of every file's bytes, to tell when a saved plan's spec changed.
    pub hash: String,
    /// Index into `families` and `spec.secrets`, by family name.
    pub family_index: std::collections::HashMap<FamilyName, usize>,
    /// Index into `spec.consumers`, by consumer name.
    pub consumer_index: std::collections::HashMap<ConsumerName, usize>,
}

/// Parses and resolves the files of a spec. Returns the resolved spec when
/// there are no errors; diagnostics (warnings included) and the sources, to
/// render them, always.
pub fn load(
    files: Vec<(std::path::PathBuf, String)>,
    env: &EnvLookup<'_>,
) -> (Option<Resolved>, Diagnostics, SourceMap) {
    let Parsed {
        spec,
        mut diags,
        unparsed,
    } = parse_files(files, env);
    let sources = spec.sources.clone();
    // A file that does not parse is missing all its blocks: references to them
    // would only add noise. Otherwise every check runs, so that one run reports
    // every error (rules see what could be resolved).
    if unparsed > 0 {
        diags.sort();
        return (None, diags, sources);
    }
    let resolved = resolve::resolve(spec, &mut diags);
    rules::check(&resolved, &mut diags);
    diags.sort();
    let resolved = Some(resolved).filter(|_| !diags.has_errors());
    (resolved, diags, sources)
}
