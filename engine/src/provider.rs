//! The traits through which the engine touches the outside world.
//!
//! The engine owns these traits and knows no network, file system or wall
//! clock of its own; `rotor-providers` implements them against real systems,
//! and `rotor_engine::testing` (tests and the `testing` feature only) has
//! in-memory fakes for unit and property tests.

use crate::jwk::Jwk;
use crate::names::{ConsumerName, FamilyName, VersionId};
use crate::secret::SecretValue;
use crate::spec::{Generate, ProbePhase};
use crate::state::{ApprovalRecord, Event, FamilyState, Lease, LeaseHolder, State, StateError};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::sync::Arc;

/// What went wrong in a provider. Messages never contain material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ProviderError {
    /// What kind of failure, for deciding whether a retry can help.
    pub kind: ErrorKind,
    /// A message for people: what failed, on what, and why.
    pub message: String,
}

/// Broad classes of provider failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The system could not be reached or timed out; a retry may work.
    Unavailable,
    /// The credentials lack permission.
    Denied,
    /// A concurrent writer changed the same thing.
    Conflict,
    /// The thing asked for does not exist.
    NotFound,
    /// Settings or data are wrong.
    Invalid,
}

impl ProviderError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
        }
    }
}

/// A version as a store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVersion {
    /// The id rotor wrote it under (or took it in as, by `rotor import`).
    pub id: VersionId,
    /// Fingerprint, as recorded when it was written: what
    /// [`Generated::fingerprint`] was.
    pub fingerprint: String,
    /// Whether it is in the family's key set (not disabled).
    pub enabled: bool,
    /// The RFC 7638 thumbprint of its public key ([`Jwk::thumbprint`]),
    /// for key pairs; `None` for random secrets and stores without public keys.
    pub thumbprint: Option<String>,
}

/// What a store holds for one family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveFamily {
    /// Every version, enabled or disabled, in id order.
    pub versions: Vec<LiveVersion>,
    /// The primary, if one is set.
    pub primary: Option<VersionId>,
}

/// A public key of one version, as published in a JWKS.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKey {
    /// The version it belongs to.
    pub version: VersionId,
    /// `kid`: the version id, as rotor writes versions.
    pub kid: String,
    /// JOSE algorithm (`RS256`, `ES256`).
    pub algorithm: String,
    /// The key (`kty`, `n`, `e` or `crv`, `x`, `y`).
    pub jwk: Jwk,
}

/// Newly generated material, straight from a generator to the stores.
#[derive(Debug)]
pub struct Generated {
    /// The material, wrapped so that it cannot be printed or serialised.
    pub material: SecretValue,
    /// A JOSE algorithm (`RS256`, `ES256`, `HS256`), or `password` for a
    /// login; recorded in state as [`crate::state::VersionState::algorithm`].
    pub algorithm: String,
    /// The public key, for asymmetric keys.
    pub public_jwk: Option<Jwk>,
    /// `sha256:…` of the public key (asymmetric) or a hash prefix of the material (random).
    pub fingerprint: String,
}

/// A version to write.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// The declared version id.
    pub id: &'a VersionId,
    /// `kid`: apply passes the version id.
    pub kid: &'a str,
    /// What was generated.
    pub generated: &'a Generated,
}

/// Where material lives.
#[async_trait]
pub trait Store: Send + Sync {
    /// `store.file.local`.
    fn address(&self) -> &str;
    /// Every version of a family and the primary.
    async fn read(&self, family: &FamilyName) -> Result<LiveFamily, ProviderError>;
    /// The longest version id this store can hold, in bytes, and why (said
    /// to the user when a declared id is longer); `None` when it has no limit
    /// of its own. `validate` and `rotate --version` refuse longer ids, so
    /// that an apply never fails on one halfway.
    fn id_limit(&self) -> Option<(usize, &'static str)> {
        None
    }
    /// Writes a new, enabled, non-primary version. Writing a version that
    /// exists is an error (`Conflict`): material is never replaced.
    async fn put(&self, family: &FamilyName, version: &NewVersion<'_>)
    -> Result<(), ProviderError>;
    /// Makes a version the primary.
    async fn set_primary(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError>;
    /// Takes a version out of the key set, restorably.
    async fn disable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError>;
    /// Puts a disabled version back into the key set.
    async fn enable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError>;
    /// Destroys a disabled version's material.
    async fn destroy(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError>;
    /// Public keys of the enabled versions (empty for symmetric families).
    async fn public_keys(&self, family: &FamilyName) -> Result<Vec<PublicKey>, ProviderError>;
    /// The lineage of the state that manages `family` in this store, where
    /// the store can keep such a marker (`None` when it cannot, or when no
    /// rotor has claimed the family yet). A second state (another lineage)
    /// on one store is found this way instead of adopting what another
    /// state manages.
    async fn owner(&self, family: &FamilyName) -> Result<Option<String>, ProviderError> {
        let _ = family;
        Ok(None)
    }
    /// Marks `family` in this store as managed by the state of `lineage`.
    async fn claim(&self, family: &FamilyName, lineage: &str) -> Result<(), ProviderError> {
        let _ = (family, lineage);
        Ok(())
    }
    /// The material of one version, as it was written: for a probe that must
    /// make a credential with it, and for copying a version into another store
    /// of the family. A store that keeps no readable copy (a database keeps only
    /// a password verifier) keeps this default, which says so.
    async fn read_material(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<SecretValue, ProviderError> {
        let _ = (family, id);
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("{} keeps no readable copy of material", self.address()),
        ))
    }
    /// `rotor import` in place: takes the value readers use today, written
    /// by another tool, as rotor version `id` and the primary (and, where
    /// the store keeps the value before it, that one as `previous`), without
    /// changing what readers get. Returns the ids taken. A store whose
    /// layout is rotor's own has nothing to take and keeps this default.
    async fn import(
        &self,
        family: &FamilyName,
        id: &VersionId,
        previous: Option<&VersionId>,
    ) -> Result<Vec<VersionId>, ProviderError> {
        let _ = (family, id, previous);
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{} has no value of another tool's to take in place: give the value with `rotor import FAMILY --file PATH`",
                self.address()
            ),
        ))
    }
}

/// A key as a publisher lists it: its kid and which key it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedKey {
    /// The `kid` it is listed under.
    pub kid: String,
    /// The RFC 7638 thumbprint of the key listed under that kid.
    pub thumbprint: String,
}

impl ListedKey {
    /// The listing of a public key.
    pub fn of(key: &PublicKey) -> ListedKey {
        ListedKey {
            kid: key.kid.clone(),
            thumbprint: key.jwk.thumbprint(),
        }
    }
}

/// A derived public artifact, such as a JWKS document.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// `publish.jwks.public`.
    fn address(&self) -> &str;
    /// The keys currently published, by kid and thumbprint; `None` when
    /// nothing has been published yet.
    async fn read_keys(&self) -> Result<Option<Vec<ListedKey>>, ProviderError>;
    /// Replaces the published set with these keys, atomically.
    async fn publish(&self, keys: &[PublicKey]) -> Result<(), ProviderError>;
}

/// What a probe is asked.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    /// The family (secret) name.
    pub family: FamilyName,
    /// Version id under test: the new version for accept and emit, the old one
    /// for drain and guard.
    pub version: VersionId,
    /// Its kid, as state records it.
    pub kid: String,
    /// Its algorithm as state records it (`RS256`, `ES256`, `HS256`,
    /// `password`).
    pub algorithm: String,
    /// The thumbprint of its public key as the store holds it, for key
    /// pairs: a probe that reads a key set checks that the kid carries this key.
    pub thumbprint: Option<String>,
    /// Accept, emit, drain or guard.
    pub phase: ProbePhase,
    /// The consumer whose `verify` block this is.
    pub consumer: ConsumerName,
    /// The version's material, read from a store of the family, only for a
    /// probe whose [`Probe::needs_material`] is true. Never put it in a result.
    pub material: Option<Arc<SecretValue>>,
    /// For a guard: the value [`Probe::measure`] gave when the rotation started.
    pub baseline: Option<f64>,
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Whether `detail` quotes text from outside rotor (a command's output,
    /// a response, a server's message). Quoted text is redacted against the
    /// material of every live version of the family before it is shown or
    /// kept, which reads that material from a store; a detail rotor wrote
    /// itself (`exit 0`) is not.
    pub quotes: bool,
    /// Whether the consumer was shown to accept or emit the version.
    pub passed: bool,
    /// A short reason for people (exit status, last line of output). Never material.
    pub detail: String,
}

/// A verification probe: one `verify` block.
#[async_trait]
pub trait Probe: Send + Sync {
    /// `command`, `http`, …
    fn kind(&self) -> &str;
    /// Runs once. Unreachable systems and timeouts are a failed result, not an error.
    async fn check(&self, request: &ProbeRequest) -> ProbeResult;
    /// Whether [`ProbeRequest::material`] must be filled (a probe that signs a
    /// token or logs in with the version).
    fn needs_material(&self) -> bool {
        false
    }
    /// Measures the probe's value without judging it: the baseline a guard is
    /// later compared with, recorded when a rotation starts. Probes with no
    /// value keep this default.
    async fn measure(&self, request: &ProbeRequest) -> Result<f64, String> {
        let _ = request;
        Err(format!("a {} probe has no value to measure", self.kind()))
    }
}

/// Makes new material.
pub trait Generator: Send + Sync {
    /// Generates one version's material. `ordinal` counts the versions the
    /// family had before this one (0 for the first); a `login` alternates its
    /// user name with it.
    fn generate(&self, how: &Generate, ordinal: usize) -> Result<Generated, ProviderError>;
}

/// Where state is kept: one record per family (its versions, evidence and
/// approvals, with its own serial), a workspace record (lineage), approvals
/// and events appended on their own, and leases.
///
/// The contract every backend passes (see the providers' conformance suite):
/// - `save_family` writes one family's record and nothing else, atomically,
///   and only when the stored serial is one below the record's (a writer
///   that lost a race gets [`StateError::Conflict`]), and only while this
///   process holds the family's lease where it took one
///   ([`StateError::LeaseLost`] otherwise);
/// - `acquire` leases every family asked for or none, failing fast with
///   [`StateError::Leased`] naming the holder; a lease lapses when its
///   holder stops renewing it;
/// - approvals and events are appended without any lease.
pub trait StateBackend: Send + Sync {
    /// Where, for messages.
    fn describe(&self) -> String;
    /// The whole state (every family's record, approvals merged), or `None`
    /// when there is none yet.
    fn load(&self) -> Result<Option<State>, StateError>;
    /// Replaces the whole state at once (`state push`, migration, tests).
    fn save(&self, state: &State) -> Result<(), StateError>;
    /// Saves one family's record. `family.serial` is the new serial; the
    /// stored one must be one below it (0: the family is new). Creates the
    /// workspace with `lineage` if there is none; refuses another lineage.
    fn save_family(
        &self,
        lineage: &str,
        name: &FamilyName,
        family: &FamilyState,
    ) -> Result<(), StateError> {
        let mut state = self
            .load()?
            .unwrap_or_else(|| State::new(lineage.to_string()));
        if state.lineage != lineage {
            return Err(StateError::Backend(format!(
                "{} holds another state (lineage {})",
                self.describe(),
                state.lineage
            )));
        }
        let stored = state.families.get(name).map_or(0, |f| f.serial);
        if stored + 1 != family.serial {
            return Err(StateError::Conflict {
                family: name.clone(),
                expected: family.serial.saturating_sub(1),
                found: stored,
            });
        }
        state.families.insert(name.clone(), family.clone());
        state.serial += 1;
        self.save(&state)
    }
    /// [`save_family`](Self::save_family) without holding up the caller's
    /// other work: the apply saves from many families at once, and a
    /// backend that waits on a disk or a server does it elsewhere (and may
    /// commit several families' saves together). This default saves here
    /// and now.
    fn save_family_soon(
        &self,
        lineage: String,
        name: FamilyName,
        family: FamilyState,
    ) -> futures_util::future::BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { self.save_family(&lineage, &name, &family) })
    }
    /// Forgets a family's record and its approvals.
    fn remove_family(&self, name: &FamilyName) -> Result<(), StateError> {
        if let Some(mut state) = self.load()? {
            state.families.remove(name);
            state.serial += 1;
            self.save(&state)?;
        }
        Ok(())
    }
    /// Moves a family's record to a new name; refuses a name in use.
    fn rename_family(&self, old: &FamilyName, new: &FamilyName) -> Result<(), StateError> {
        let mut state = self
            .load()?
            .ok_or_else(|| StateError::Backend("there is no state".into()))?;
        if state.families.contains_key(new) {
            return Err(StateError::Backend(format!(
                "the state already has a family {new}"
            )));
        }
        let f = state
            .families
            .remove(old)
            .ok_or_else(|| StateError::Backend(format!("the state has no family {old}")))?;
        // `load` merged the approvals already.
        state.families.insert(new.clone(), f.renamed(old, &[]));
        state.serial += 1;
        self.save(&state)
    }
    /// Approvals recorded on their own since the state was written (see
    /// [`ApprovalRecord`]); a backend that keeps none has none.
    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StateError> {
        Ok(Vec::new())
    }
    /// Records an approval on its own, without a lease.
    fn add_approval(&self, record: &ApprovalRecord) -> Result<(), StateError> {
        let _ = record;
        Err(StateError::Backend(format!(
            "{} keeps no approvals of its own",
            self.describe()
        )))
    }
    /// Leases `families` to `holder`, all or none, and keeps them renewed
    /// until [`release`](Self::release) or the end of the process.
    fn acquire(&self, families: &[FamilyName], holder: &LeaseHolder) -> Result<(), StateError> {
        let _ = (families, holder);
        Ok(())
    }
    /// Gives up every lease this value took.
    fn release(&self) -> Result<(), StateError> {
        Ok(())
    }
    /// The leases held now (lapsed ones included, with their expiry).
    fn leases(&self) -> Result<Vec<Lease>, StateError> {
        Ok(Vec::new())
    }
    /// Breaks a family's lease, whoever holds it; returns what it was.
    fn break_lease(&self, family: &FamilyName) -> Result<Option<Lease>, StateError> {
        let _ = family;
        Ok(None)
    }
    /// Appends to the history.
    fn append_event(&self, event: &Event) -> Result<(), StateError> {
        let _ = event;
        Ok(())
    }
    /// [`append_event`](Self::append_event), done when it is durable,
    /// without holding up the caller's other work (see `save_family_soon`).
    fn append_event_soon(
        &self,
        event: Event,
    ) -> futures_util::future::BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { self.append_event(&event) })
    }
    /// The history, oldest first; one family's with `Some`.
    fn events(&self, family: Option<&FamilyName>) -> Result<Vec<Event>, StateError> {
        let _ = family;
        Ok(Vec::new())
    }
}

/// The time, from outside: the engine reads no wall clock of its own.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> Timestamp;
}

/// What an apply re-checks right before each irreversible step (promote,
/// revoke, destroy): that the ground it planned on still holds. The CLI's
/// checks that the spec on disk still hashes to what was planned and that
/// the wall clock has not jumped against the monotonic clock.
pub trait Ground: Send + Sync {
    /// `Err` with a message for people when the apply must stop.
    fn check(&self) -> Result<(), String>;
}

/// Ground that never moves, for tests and read-only uses.
pub struct FirmGround;

impl Ground for FirmGround {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Everything apply needs from the outside, keyed by spec address.
#[derive(Clone)]
pub struct Providers {
    /// Stores by address (`store.file.local`).
    pub stores: std::collections::BTreeMap<String, Arc<dyn Store>>,
    /// Publishers by address (`publish.jwks.public`).
    pub publishers: std::collections::BTreeMap<String, Arc<dyn Publisher>>,
    /// Probes by (consumer name, index of the verify block). Manual gates have none.
    pub probes: std::collections::BTreeMap<(ConsumerName, usize), Arc<dyn Probe>>,
    /// Makes the material of every create step.
    pub generator: Arc<dyn Generator>,
    /// Every time apply stamps in state comes from here.
    pub clock: Arc<dyn Clock>,
}
