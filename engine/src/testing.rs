//! In-memory fakes of every provider trait, and a fake clock, for engine unit
//! and property tests. Never used by the `rotor` binary: compiled for tests
//! or with the `testing` feature only. One fake per trait, side by side
//! (about 620 lines), so a test author sees every fake at once.
//!
//! Every store operation is appended to a shared [`EventLog`] with the fake
//! clock's time, so a test can check the promise from the outside, without
//! trusting the engine's own state.

use crate::jwk::Jwk;
use crate::names::{FamilyName, VersionId};
use crate::provider::*;
use crate::secret::SecretValue;
use crate::spec::{Generate, ProbePhase};
use crate::state::{State, StateError};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A clock that moves only when told.
#[derive(Debug, Default)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    /// Starts at `t`.
    pub fn at(t: Timestamp) -> Arc<FakeClock> {
        Arc::new(FakeClock(AtomicI64::new(t.0)))
    }

    /// Moves forward.
    pub fn advance(&self, d: crate::Duration) {
        self.0.fetch_add(d.0, Ordering::SeqCst);
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// What happened to a store, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A version was written.
    Put(String, String, Timestamp),
    /// A version became primary.
    Primary(String, String, Timestamp),
    /// A version was disabled.
    Disable(String, String, Timestamp),
    /// A version was enabled again.
    Enable(String, String, Timestamp),
    /// A version was destroyed.
    Destroy(String, String, Timestamp),
    /// A publisher was rewritten with these keys.
    Publish(String, Vec<ListedKey>, Timestamp),
}

impl Event {
    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Put(_, _, t)
            | Event::Primary(_, _, t)
            | Event::Disable(_, _, t)
            | Event::Enable(_, _, t)
            | Event::Destroy(_, _, t)
            | Event::Publish(_, _, t) => *t,
        }
    }
}

/// A shared, ordered log of events.
pub type EventLog = Arc<Mutex<Vec<Event>>>;

#[derive(Debug, Clone)]
struct FakeVersion {
    material: Vec<u8>,
    fingerprint: String,
    /// The store's record: whether the version is enabled.
    enabled: bool,
    /// What readers see: whether the key set lists it. Written after the
    /// record, so that a crash between the two leaves them apart until the
    /// next operation repairs it (as the file store's metadata and
    /// `keyset.json` can be).
    listed: bool,
    public: Option<Jwk>,
    algorithm: String,
}

/// A family's versions and its primary, written in two places readers read
/// (as the file store's `keyset.json` and `primary` file).
#[derive(Debug, Default)]
struct FakeFamily {
    versions: BTreeMap<VersionId, FakeVersion>,
    primary: Option<VersionId>,
    served: Option<VersionId>,
}

/// An in-memory store.
pub struct FakeStore {
    address: String,
    families: Mutex<BTreeMap<FamilyName, FakeFamily>>,
    clock: Arc<dyn Clock>,
    log: EventLog,
    /// When set, every write fails with `Unavailable`.
    pub down: AtomicBool,
    /// Internal writes left before the store "crashes": the operation stops
    /// after that write, with an error, as a killed process would.
    /// `u64::MAX` never.
    pub crash_in: AtomicU64,
    /// The thumbprint of every key ever written, by (family, version): what
    /// a version's key is, for an oracle, even after it was destroyed.
    pub keys: Mutex<BTreeMap<(String, String), String>>,
}

impl FakeStore {
    /// A new, empty store.
    pub fn new(address: &str, clock: Arc<dyn Clock>, log: EventLog) -> Arc<FakeStore> {
        Arc::new(FakeStore {
            address: address.into(),
            families: Mutex::new(BTreeMap::new()),
            clock,
            log,
            down: AtomicBool::new(false),
            crash_in: AtomicU64::new(u64::MAX),
            keys: Mutex::new(BTreeMap::new()),
        })
    }

    /// The primary readers of a family see now.
    pub fn served_primary(&self, family: &str) -> Option<String> {
        self.families
            .lock()
            .unwrap()
            .get(family)
            .and_then(|f| f.served.as_ref().map(VersionId::to_string))
    }

    /// Whether readers of the store's key set see the version now.
    pub fn lists(&self, family: &str, version: &str) -> bool {
        self.families
            .lock()
            .unwrap()
            .get(family)
            .and_then(|f| f.versions.get(version))
            .is_some_and(|v| v.listed)
    }

    /// Counts one internal write; `Err` when the store is to crash after it.
    fn wrote(&self) -> Result<(), ProviderError> {
        let left = self.crash_in.load(Ordering::SeqCst);
        if left == u64::MAX {
            return Ok(());
        }
        self.crash_in
            .store(left.saturating_sub(1), Ordering::SeqCst);
        if left <= 1 {
            self.crash_in.store(u64::MAX, Ordering::SeqCst);
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!("{} crashed between two writes", self.address),
            ));
        }
        Ok(())
    }

    /// Crash recovery, before every read and write: what readers see is
    /// rewritten from the record.
    fn repair(&self, family: &FamilyName, f: &mut FakeFamily) {
        let now = self.clock.now();
        for (id, v) in f.versions.iter_mut() {
            if v.listed != v.enabled {
                v.listed = v.enabled;
                self.event(if v.enabled {
                    Event::Enable(family.to_string(), id.to_string(), now)
                } else {
                    Event::Disable(family.to_string(), id.to_string(), now)
                });
            }
        }
        f.served = f.primary.clone();
    }

    fn event(&self, e: Event) {
        self.log.lock().unwrap().push(e);
    }

    fn check_up(&self) -> Result<(), ProviderError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!("{} is down", self.address),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FakeStore {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read(&self, family: &FamilyName) -> Result<LiveFamily, ProviderError> {
        let mut fams = self.families.lock().unwrap();
        let Some(f) = fams.get_mut(family) else {
            return Ok(LiveFamily::default());
        };
        self.repair(family, f);
        Ok(LiveFamily {
            versions: f
                .versions
                .iter()
                .map(|(id, v)| LiveVersion {
                    id: id.clone(),
                    fingerprint: v.fingerprint.clone(),
                    enabled: v.enabled,
                    thumbprint: v.public.as_ref().map(Jwk::thumbprint),
                })
                .collect(),
            primary: f.primary.clone(),
        })
    }

    async fn put(
        &self,
        family: &FamilyName,
        version: &NewVersion<'_>,
    ) -> Result<(), ProviderError> {
        self.check_up()?;
        let mut fams = self.families.lock().unwrap();
        let f = fams.entry(family.clone()).or_default();
        self.repair(family, f);
        if f.versions.contains_key(version.id) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("{} exists", version.id),
            ));
        }
        if let Some(jwk) = &version.generated.public_jwk {
            self.keys.lock().unwrap().insert(
                (family.to_string(), version.id.to_string()),
                jwk.thumbprint(),
            );
        }
        f.versions.insert(
            version.id.clone(),
            FakeVersion {
                material: version.generated.material.expose().to_vec(),
                fingerprint: version.generated.fingerprint.clone(),
                enabled: true,
                listed: false,
                public: version.generated.public_jwk.clone(),
                algorithm: version.generated.algorithm.clone(),
            },
        );
        self.wrote()?;
        f.versions.get_mut(version.id).expect("just written").listed = true;
        self.event(Event::Put(
            family.to_string(),
            version.id.to_string(),
            self.clock.now(),
        ));
        Ok(())
    }

    async fn set_primary(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.check_up()?;
        let mut fams = self.families.lock().unwrap();
        let f = fams.entry(family.clone()).or_default();
        self.repair(family, f);
        match f.versions.get(id) {
            None => {
                return Err(ProviderError::new(
                    ErrorKind::NotFound,
                    format!("no version {id}"),
                ));
            }
            Some(v) if !v.enabled => {
                return Err(ProviderError::new(ErrorKind::Invalid, "disabled"));
            }
            Some(_) => {}
        }
        if f.primary.as_ref() == Some(id) && f.served.as_ref() == Some(id) {
            return Ok(());
        }
        // Both are what readers see (as the file store's `keyset.json` and
        // `primary`): the first write is when emitters may take it up.
        if f.primary.as_ref() != Some(id) {
            f.primary = Some(id.clone());
            self.event(Event::Primary(
                family.to_string(),
                id.to_string(),
                self.clock.now(),
            ));
        }
        self.wrote()?;
        f.served = Some(id.clone());
        Ok(())
    }

    async fn disable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.set_enabled(family, id, false)
    }

    async fn enable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.set_enabled(family, id, true)
    }

    async fn destroy(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.check_up()?;
        {
            let mut fams = self.families.lock().unwrap();
            let f = fams.entry(family.clone()).or_default();
            self.repair(family, f);
            match f.versions.get(id) {
                Some(v) if !v.enabled => {
                    f.versions.remove(id);
                }
                // As the real stores: what is gone is not found.
                None => {
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        format!("no version {id}"),
                    ));
                }
                _ => {
                    return Err(ProviderError::new(
                        ErrorKind::Invalid,
                        "destroy needs a disabled version",
                    ));
                }
            }
        }
        self.event(Event::Destroy(
            family.to_string(),
            id.to_string(),
            self.clock.now(),
        ));
        Ok(())
    }

    async fn public_keys(&self, family: &FamilyName) -> Result<Vec<PublicKey>, ProviderError> {
        let mut fams = self.families.lock().unwrap();
        let Some(f) = fams.get_mut(family) else {
            return Ok(Vec::new());
        };
        self.repair(family, f);
        Ok(f.versions
            .iter()
            .filter(|(_, v)| v.enabled)
            .filter_map(|(id, v)| {
                Some(PublicKey {
                    version: id.clone(),
                    kid: id.to_string(),
                    algorithm: v.algorithm.clone(),
                    jwk: v.public.clone()?,
                })
            })
            .collect())
    }

    async fn read_material(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<SecretValue, ProviderError> {
        self.check_up()?;
        let fams = self.families.lock().unwrap();
        fams.get(family)
            .and_then(|f| f.versions.get(id))
            .map(|v| SecretValue::new(v.material.clone()))
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("no {id}")))
    }
}

impl FakeStore {
    /// Disable or enable: the record, then what readers see.
    fn set_enabled(
        &self,
        family: &FamilyName,
        id: &VersionId,
        enabled: bool,
    ) -> Result<(), ProviderError> {
        self.check_up()?;
        let mut fams = self.families.lock().unwrap();
        let f = fams.entry(family.clone()).or_default();
        self.repair(family, f);
        if !enabled && f.primary.as_ref() == Some(id) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                "cannot disable the primary",
            ));
        }
        let v = f
            .versions
            .get_mut(id)
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("no version {id}")))?;
        if v.enabled == enabled && v.listed == enabled {
            return Ok(());
        }
        v.enabled = enabled;
        self.wrote()?;
        v.listed = enabled;
        let now = self.clock.now();
        self.event(if enabled {
            Event::Enable(family.to_string(), id.to_string(), now)
        } else {
            Event::Disable(family.to_string(), id.to_string(), now)
        });
        Ok(())
    }
}

/// An in-memory publisher.
pub struct FakePublisher {
    address: String,
    keys: Mutex<Option<Vec<ListedKey>>>,
    clock: Arc<dyn Clock>,
    log: EventLog,
    /// When set, every write fails with `Unavailable`.
    pub down: AtomicBool,
}

impl FakePublisher {
    /// A publisher that has published nothing.
    pub fn new(address: &str, clock: Arc<dyn Clock>, log: EventLog) -> Arc<FakePublisher> {
        Arc::new(FakePublisher {
            address: address.into(),
            keys: Mutex::new(None),
            clock,
            log,
            down: AtomicBool::new(false),
        })
    }

    /// The kids published now.
    pub fn kids(&self) -> Option<Vec<String>> {
        self.keys()
            .map(|keys| keys.into_iter().map(|k| k.kid).collect())
    }

    /// The keys published now.
    pub fn keys(&self) -> Option<Vec<ListedKey>> {
        self.keys.lock().unwrap().clone()
    }

    /// Replaces the document outside rotor (a restore from backup, another
    /// tool), logged like any rewrite so that an oracle sees it.
    pub fn tamper(&self, keys: Option<Vec<ListedKey>>) {
        *self.keys.lock().unwrap() = keys.clone();
        self.log.lock().unwrap().push(Event::Publish(
            self.address.clone(),
            keys.unwrap_or_default(),
            self.clock.now(),
        ));
    }
}

#[async_trait]
impl Publisher for FakePublisher {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read_keys(&self) -> Result<Option<Vec<ListedKey>>, ProviderError> {
        Ok(self.keys())
    }

    async fn publish(&self, keys: &[PublicKey]) -> Result<(), ProviderError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!("{} is down", self.address),
            ));
        }
        let listed: Vec<ListedKey> = keys.iter().map(ListedKey::of).collect();
        *self.keys.lock().unwrap() = Some(listed.clone());
        self.log.lock().unwrap().push(Event::Publish(
            self.address.clone(),
            listed,
            self.clock.now(),
        ));
        Ok(())
    }
}

/// A probe whose answer the test sets; counts its calls and keeps what it
/// was asked.
#[derive(Default)]
pub struct FakeProbe {
    /// Whether it passes.
    pub passing: AtomicBool,
    /// How many times it ran.
    pub calls: AtomicU64,
    /// Whether it asks for material.
    pub wants_material: AtomicBool,
    /// What `measure` returns; `None` fails the measurement.
    pub value: Mutex<Option<f64>>,
    /// Every request: phase, version, baseline, and the material if any.
    pub requests: Mutex<Vec<SeenRequest>>,
}

/// What a [`FakeProbe`] was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRequest {
    /// The phase.
    pub phase: ProbePhase,
    /// The version.
    pub version: String,
    /// The baseline it was given.
    pub baseline: Option<f64>,
    /// The material it was given, as text.
    pub material: Option<String>,
}

impl FakeProbe {
    /// A probe that passes or not.
    pub fn new(passing: bool) -> Arc<FakeProbe> {
        Arc::new(FakeProbe {
            passing: AtomicBool::new(passing),
            ..FakeProbe::default()
        })
    }
}

#[async_trait]
impl Probe for FakeProbe {
    fn kind(&self) -> &str {
        "command"
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().unwrap().push(SeenRequest {
            phase: request.phase,
            version: request.version.to_string(),
            baseline: request.baseline,
            material: request
                .material
                .as_ref()
                .map(|m| String::from_utf8_lossy(m.expose()).into_owned()),
        });
        let passed = self.passing.load(Ordering::SeqCst);
        ProbeResult {
            quotes: true,
            passed,
            detail: if passed {
                "exit 0".into()
            } else {
                "exit 1".into()
            },
        }
    }

    fn needs_material(&self) -> bool {
        self.wants_material.load(Ordering::SeqCst)
    }

    async fn measure(&self, _request: &ProbeRequest) -> Result<f64, String> {
        self.value.lock().unwrap().ok_or_else(|| "no value".into())
    }
}

/// Makes fake material: a counter, so every version differs. Keeps the
/// ordinals it was given.
#[derive(Default)]
pub struct FakeGenerator(AtomicU64, pub Mutex<Vec<usize>>);

impl Generator for FakeGenerator {
    fn generate(&self, how: &Generate, ordinal: usize) -> Result<Generated, ProviderError> {
        self.1.lock().unwrap().push(ordinal);
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        // A key per version, unlike any other: what a thumbprint tells apart.
        let jwk = Jwk::Ec {
            crv: "P-256".into(),
            x: format!("fake-x-{n}"),
            y: format!("fake-y-{n}"),
        };
        Ok(Generated {
            material: SecretValue::new(format!("fake-material-{n}").into_bytes()),
            algorithm: how.algorithm().into(),
            public_jwk: how.is_asymmetric().then_some(jwk),
            fingerprint: format!("sha256:fake{n:012}"),
        })
    }
}

/// State kept in memory; counts saves.
#[derive(Default)]
pub struct MemoryState {
    /// The last saved state.
    pub saved: Mutex<Option<State>>,
    /// Approvals recorded on their own.
    pub approvals: Mutex<Vec<crate::state::ApprovalRecord>>,
    /// Fail every save after this many (for crash tests); `u64::MAX` never.
    pub fail_after: AtomicU64,
    saves: AtomicU64,
}

impl MemoryState {
    /// A backend that never fails.
    pub fn new() -> MemoryState {
        MemoryState {
            saved: Mutex::new(None),
            approvals: Mutex::new(Vec::new()),
            fail_after: AtomicU64::new(u64::MAX),
            saves: AtomicU64::new(0),
        }
    }
}

impl StateBackend for MemoryState {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.saved.lock().unwrap().clone())
    }

    fn save(&self, state: &State) -> Result<(), StateError> {
        let n = self.saves.fetch_add(1, Ordering::SeqCst);
        if n >= self.fail_after.load(Ordering::SeqCst) {
            return Err(StateError::Backend("simulated crash".into()));
        }
        // Round-trip through JSON, as a real backend would.
        let back = State::from_json(&state.to_json())?;
        *self.saved.lock().unwrap() = Some(back);
        Ok(())
    }

    fn approvals(&self) -> Result<Vec<crate::state::ApprovalRecord>, StateError> {
        Ok(self.approvals.lock().unwrap().clone())
    }

    fn add_approval(&self, record: &crate::state::ApprovalRecord) -> Result<(), StateError> {
        self.approvals.lock().unwrap().push(record.clone());
        Ok(())
    }
}
