//! State: what cannot be observed live. Never material.
//!
//! Per version: its phase, fingerprint, when it was created, published,
//! accepted by each consumer (with the evidence), promoted, retired, disabled
//! and destroyed. The state has a lineage (fixed at creation) and a serial
//! (raised by every save); each family's record carries its own serial and
//! a checksum that detects hand edits, as does a `rotor state pull` document.
//! How apply moves a version through its phases (promote, restore, revoke,
//! destroy) is in `state/transitions.rs`. The file is long by its field docs
//! and tests, not its logic.

use crate::names::{ConsumerName, FamilyName, VersionId};
use crate::plan::GateId;
use crate::spec::ProbePhase;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use std::collections::BTreeMap;

mod transitions;

/// The state format this build writes and reads: kept in each backend's
/// workspace record and in a `rotor state pull` document. A state of any
/// other version is refused ([`StateError::FormatVersion`]).
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// In the store and published, waiting for every verifier to accept it.
    Pending,
    /// Accepted by every verifier; not used by emitters.
    Accepted,
    /// The version emitters use.
    Active,
    /// Was active, superseded; still accepted while tokens drain.
    Retiring,
    /// Disabled: out of every key set, restorable until destroyed.
    Revoked,
    /// Material destroyed.
    Destroyed,
}

impl Phase {
    /// Whether verifiers still accept versions in this phase.
    pub fn is_accepted_set(self) -> bool {
        matches!(
            self,
            Phase::Pending | Phase::Accepted | Phase::Active | Phase::Retiring
        )
    }

    /// The name the state's JSON uses (`retiring`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Accepted => "accepted",
            Phase::Active => "active",
            Phase::Retiring => "retiring",
            Phase::Revoked => "revoked",
            Phase::Destroyed => "destroyed",
        }
    }
}

/// How a gate was satisfied, or why it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A probe passed.
    Passed,
    /// A probe ran and did not pass.
    Failed,
    /// A person approved a manual gate.
    Approved,
    /// No probe: the consumer's cache window alone is taken as acceptance.
    Assumed,
}

impl Outcome {
    /// The name the state's JSON uses (`assumed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Approved => "approved",
            Outcome::Assumed => "assumed",
        }
    }
}

/// One piece of evidence for a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The kinds of the probes that gave it, comma-separated (`command`,
    /// `http,manual`), or `window` when no probe ran and the cache window
    /// alone was taken.
    pub probe: String,
    /// When apply recorded it, after the probes answered. Evidence from
    /// before its phase's term began proves nothing
    /// ([`crate::safety::evidence_in_term`]).
    pub at: Timestamp,
    /// `Failed` only in [`VersionState::last_attempt`]; the per-consumer
    /// evidence maps hold what opened a gate.
    pub outcome: Outcome,
    /// A short reason: an exit status, who approved. Never material.
    pub detail: String,
}

/// A manual approval, recorded by `rotor approve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// When `rotor approve` ran. It counts only if not before its gate's
    /// term began ([`crate::safety::approval_in_term`]).
    pub at: Timestamp,
    /// Who approved: `--actor`, else the CI's actor, else `user@host`.
    pub by: String,
}

/// An approval as `rotor approve` records it, on its own: an approver does
/// not wait for (or lock out) an apply that is running, and a waiting
/// `apply --wait` takes it up on its next poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The family; a record for a family or version the state does not
    /// hold is skipped when merged ([`State::merge_approvals`]).
    pub family: FamilyName,
    /// The version approved.
    pub version: VersionId,
    /// Gate id as [`crate::plan::GateId`] writes it (`accept.api_gateway`).
    pub gate: String,
    /// When and by whom; the newest approval of a gate wins the merge.
    #[serde(flatten)]
    pub approval: Approval,
}

/// One version of a family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionState {
    /// Where it stands: [`Phase::Pending`] when written (or `Active` when
    /// adopted as the stores' primary), then moved by the transitions in
    /// `state/transitions.rs`.
    pub phase: Phase,
    /// The `kid` it is written and published under: the version id.
    pub kid: String,
    /// As the generator reported it: a JOSE algorithm (`RS256`, `ES256`,
    /// `HS256`), or `password` for a login.
    pub algorithm: String,
    /// `sha256:` and a prefix of a hash of the public key or material. Never the material.
    pub fingerprint: String,
    /// The RFC 7638 thumbprint of its public key, for key pairs: what a
    /// publisher must list under its kid. Absent for random secrets and in
    /// states from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// Its turn among the family's versions, as given to the generator (a
    /// `login` takes its user name from it). Absent in states from before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<usize>,
    /// When apply recorded it: after the stores answered the write, or
    /// when it was found there without a history (adopted).
    pub created_at: Timestamp,
    /// When it last entered its stores' key sets: written, restored, or
    /// found there without a history (adopted). A verifier that reads the
    /// store directly (no `via`) counts its accept window from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Timestamp>,
    /// Per publisher address: since when that publisher has listed this
    /// version's key (the right key, by thumbprint) without a break. A
    /// rewrite that (re)adds the key restarts it; a verifier reading `via`
    /// that publisher counts its accept window from here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub published: BTreeMap<String, Timestamp>,
    /// When rotor found it live in a store without a history (lost state,
    /// another state, a store changed by hand). Such a version may be in
    /// use: revoking it waits a full overlap from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted_at: Option<Timestamp>,
    /// Acceptance evidence, by consumer name; once every verifier has some,
    /// a pending version becomes [`Phase::Accepted`]. Cleared by a restore.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accepted: BTreeMap<ConsumerName, Evidence>,
    /// When it last became the primary (after the last store served it);
    /// each promote starts a new term, so emit evidence counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<Timestamp>,
    /// Emission evidence, by consumer name; cleared by every promote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub emitted: BTreeMap<ConsumerName, Evidence>,
    /// When a successor was promoted over it; cleared if it is promoted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
    /// When a hold step found the overlap (and any drain probes) complete.
    /// [`crate::safety::drained`] counts it only if it is at least the
    /// overlap in force after the version went out of use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_at: Option<Timestamp>,
    /// When the last store disabled it; `destroy_after` and the guards'
    /// settle time count from here. Cleared by a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
    /// When the last store destroyed its material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyed_at: Option<Timestamp>,
    /// Manual approvals, by gate id (`accept.CONSUMER`, `emit.CONSUMER`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<String, Approval>,
    /// The last probe attempt per gate id, passed or failed: a failed one
    /// explains a wait, a passed one in the current term spares asking again
    /// ([`crate::safety::passed_in_term`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_attempt: BTreeMap<String, Evidence>,
    /// Drain evidence (before this version's revoke), by consumer name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drain: BTreeMap<ConsumerName, Evidence>,
    /// Guard evidence (after this version's revoke), by consumer name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guarded: BTreeMap<ConsumerName, Evidence>,
    /// What each guard probe measured when the rotation away from this
    /// version started, by gate id (`guard.CONSUMER`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baselines: BTreeMap<String, Baseline>,
}

/// A guard's value measured when a rotation started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// When apply measured it, in the create step that began the rotation.
    pub at: Timestamp,
    /// The value; `None` when the measurement failed (a later create step
    /// measures again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Measure>,
    /// The value as text, or why there is none.
    pub detail: String,
}

/// A measured number (a metric's value). Compared by bits, so that state
/// stays `Eq`; measurements are never NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Measure(pub f64);

impl Eq for Measure {}

impl VersionState {
    /// A version just written to its stores.
    pub fn created(kid: String, algorithm: String, fingerprint: String, at: Timestamp) -> Self {
        VersionState {
            phase: Phase::Pending,
            kid,
            algorithm,
            fingerprint,
            thumbprint: None,
            ordinal: None,
            created_at: at,
            published_at: None,
            published: BTreeMap::new(),
            adopted_at: None,
            accepted: BTreeMap::new(),
            promoted_at: None,
            emitted: BTreeMap::new(),
            retired_at: None,
            drained_at: None,
            disabled_at: None,
            destroyed_at: None,
            approvals: BTreeMap::new(),
            last_attempt: BTreeMap::new(),
            drain: BTreeMap::new(),
            guarded: BTreeMap::new(),
            baselines: BTreeMap::new(),
        }
    }

    /// Whether emitters may have used it: it was promoted, or it was found
    /// live without a history. Such a version is only revoked after a hold.
    pub fn was_used(&self) -> bool {
        self.promoted_at.is_some() || self.adopted_at.is_some()
    }

    /// Every time recorded for this version, for the check that a state
    /// holds no time in the future.
    pub fn timestamps(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let single = [
            Some(self.created_at),
            self.published_at,
            self.adopted_at,
            self.promoted_at,
            self.retired_at,
            self.drained_at,
            self.disabled_at,
            self.destroyed_at,
        ];
        let evidence = [&self.accepted, &self.emitted, &self.drain, &self.guarded]
            .into_iter()
            .flat_map(|m| m.values())
            .chain(self.last_attempt.values())
            .map(|e| e.at);
        single
            .into_iter()
            .flatten()
            .chain(self.published.values().copied())
            .chain(self.approvals.values().map(|a| a.at))
            .chain(self.baselines.values().map(|b| b.at))
            .chain(evidence)
    }

    /// The evidence map for a phase.
    pub fn evidence(&self, phase: ProbePhase) -> &BTreeMap<ConsumerName, Evidence> {
        match phase {
            ProbePhase::Accept => &self.accepted,
            ProbePhase::Emit => &self.emitted,
            ProbePhase::Drain => &self.drain,
            ProbePhase::Guard => &self.guarded,
        }
    }

    // The maps below are keyed by the gate's text, as the state has
    // always written it; these read them by the typed id.

    /// The approval of a manual gate, from whichever term it was given in
    /// ([`crate::safety::approval_in_term`] says whether it counts).
    pub fn approval_of(&self, gate: &GateId) -> Option<&Approval> {
        self.approvals.get(&gate.to_string())
    }

    /// The last recorded attempt of a probe's gate.
    pub fn last_attempt_of(&self, gate: &GateId) -> Option<&Evidence> {
        self.last_attempt.get(&gate.to_string())
    }

    /// What a guard probe measured when the rotation away from this version started.
    pub fn baseline_of(&self, gate: &GateId) -> Option<&Baseline> {
        self.baselines.get(&gate.to_string())
    }
}

/// One family's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyState {
    /// Raised on every save of this family's record: a saved plan records
    /// it for each family it touches and is stale once any of them moved,
    /// and a save is refused unless it raises the stored one by exactly one
    /// (another writer got there first). 0 for a family never saved.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub serial: u64,
    /// The primary emitters use, as rotor last promoted it (or adopted it
    /// as the stores' primary); `None` before the first promote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<VersionId>,
    /// Every version recorded, by version id; destroyed ones stay.
    #[serde(default)]
    pub versions: BTreeMap<VersionId, VersionState>,
}

impl FamilyState {
    /// The versions whose material is still in the stores, as `id (phase)`:
    /// what forgetting or undeclaring the family would leave behind.
    pub fn live_versions(&self) -> Vec<String> {
        self.versions
            .iter()
            .filter(|(_, v)| v.phase != Phase::Destroyed)
            .map(|(id, v)| format!("{id} ({})", v.phase.as_str()))
            .collect()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FamilyState {
    /// The record as a backend stores it: compact JSON and the checksum
    /// that detects an edit made outside rotor (over the name and the JSON,
    /// so a record moved to another name is caught too).
    pub fn to_record(&self, name: &FamilyName) -> (String, String) {
        let body = serde_json::to_string(self).expect("a family state serialises");
        let checksum = record_checksum(name, &body);
        (body, checksum)
    }

    /// Reads a stored record, checking its checksum.
    pub fn from_record(
        name: &FamilyName,
        body: &str,
        checksum: &str,
    ) -> Result<FamilyState, StateError> {
        if record_checksum(name, body) != checksum {
            return Err(StateError::EditedRecord(name.clone()));
        }
        serde_json::from_str(body).map_err(|e| StateError::Corrupt(format!("family {name}: {e}")))
    }
}

impl FamilyState {
    /// The record under a new name (`state move`): the approvals recorded
    /// on their own for the old name are taken in, since their rows name
    /// the old family, and the serial is raised.
    pub fn renamed(self, old: &FamilyName, approvals: &[ApprovalRecord]) -> FamilyState {
        let mut holder = State::new(String::new());
        holder.families.insert(old.clone(), self);
        holder.merge_approvals(approvals);
        let mut family = holder.families.remove(old).expect("just inserted");
        family.serial += 1;
        family
    }
}

fn record_checksum(name: &FamilyName, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(name.as_str().as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    format!("sha256:{}", hex(&h.finalize()))
}

/// Who holds a lease on a family: enough for a person to find them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// Random per process: a lease is only renewed, released or relied on
    /// by the process that took it.
    pub token: String,
    /// Process id on `host`.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The OS user, or the CI actor where one is set.
    pub who: String,
    /// The command (`rotor apply`).
    pub command: String,
    /// When it was taken.
    pub since: Timestamp,
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The family it covers: a family has at most one lease.
    pub family: FamilyName,
    /// Who holds it.
    pub holder: LeaseHolder,
    /// Last renewed (the backend's clock: the database server's for PostgreSQL).
    pub heartbeat: Timestamp,
    /// Lapses at this time unless renewed.
    pub expires: Timestamp,
}

impl Lease {
    /// `pid N on host H (who, `command`, since T, last heartbeat T)`.
    pub fn describe(&self) -> String {
        let h = &self.holder;
        format!(
            "pid {} on host {} ({}, `{}`, since {}, last heartbeat {})",
            h.pid,
            h.host,
            h.who,
            h.command,
            h.since.human(),
            self.heartbeat.human()
        )
    }
}

/// One line of a family's history: a step that ran, a gate opened by a
/// person, a state command. Appended, never rewritten; never material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When the step ended or the command ran.
    pub at: Timestamp,
    /// The family it concerns; what [`crate::StateBackend::events`] filters
    /// on. Empty for a command on the whole state (`state init`).
    pub family: FamilyName,
    /// What: `create v2`, `promote v2`, `approve v2 accept.api`, `state rm`.
    pub what: String,
    /// How it ended: `done`, `failed`, `approved`, `removed`, ….
    pub outcome: String,
    /// Who ran it (CI actor, or user@host).
    pub actor: String,
    /// Evidence or reason, for people. Never material.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The whole state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_FORMAT_VERSION`] when written; [`State::from_json`] refuses
    /// any other.
    pub format_version: u32,
    /// Fixed when the state is created; a plan or backup from another lineage is refused.
    pub lineage: String,
    /// Raised by every save of any family, never lowered: a backend loads
    /// it as its base plus every family's serial. `rotor state push` refuses
    /// a state older than the one it replaces unless forced.
    pub serial: u64,
    /// Families by name.
    #[serde(default)]
    pub families: BTreeMap<FamilyName, FamilyState>,
    /// `sha256:` of the body with this field empty; detects edits made outside rotor.
    #[serde(default)]
    pub checksum: String,
}

/// Why a state could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// Not JSON, or not our shape.
    #[error("the state is not valid: {0}")]
    Corrupt(String),
    /// Written by a newer rotor.
    #[error(
        "the state has format version {found}; this rotor reads version {STATE_FORMAT_VERSION}"
    )]
    FormatVersion {
        /// What the file says.
        found: u32,
    },
    /// The checksum does not match the body.
    #[error("the state was changed outside rotor (its checksum does not match its contents)")]
    Edited,
    /// One family's record does not match its checksum.
    #[error(
        "the state of family {0} was changed outside rotor (its checksum does not match its contents)"
    )]
    EditedRecord(FamilyName),
    /// Another writer saved the family since it was loaded.
    #[error(
        "the state of family {family} was saved by another rotor since this one read it (serial {expected} expected, {found} found)"
    )]
    Conflict {
        /// The family whose save was refused.
        family: FamilyName,
        /// The serial this writer read.
        expected: u64,
        /// The serial stored now.
        found: u64,
    },
    /// The family is leased by another process.
    #[error("family {family} is being changed by {holder}")]
    Leased {
        /// The family asked for.
        family: FamilyName,
        /// Who holds it, described.
        holder: String,
    },
    /// This process's lease was broken or lapsed.
    #[error(
        "this apply no longer holds the lease on family {0} (it lapsed, or `rotor state unlock --force` broke it): stopped before saving"
    )]
    LeaseLost(FamilyName),
    /// I/O or locking trouble in a backend.
    #[error("{0}")]
    Backend(String),
}

impl StateError {
    /// [`StateError::Leased`], naming the lease's family and holder.
    pub fn leased(lease: &Lease) -> StateError {
        StateError::Leased {
            family: lease.family.clone(),
            holder: lease.describe(),
        }
    }
}

impl State {
    /// An empty state of `lineage`, at serial 0.
    pub fn new(lineage: String) -> State {
        State {
            format_version: STATE_FORMAT_VERSION,
            lineage,
            serial: 0,
            families: BTreeMap::new(),
            checksum: String::new(),
        }
    }

    fn body_hash(&self) -> String {
        let mut body = self.clone();
        body.checksum.clear();
        let bytes = serde_json::to_vec(&body).expect("state serialises");
        let digest = Sha256::digest(&bytes);
        format!("sha256:{}", hex(&digest))
    }

    /// The document `rotor state pull` prints: pretty JSON with the
    /// checksum sealed. The serial is not raised.
    pub fn to_json(&self) -> String {
        let mut sealed = self.clone();
        sealed.checksum = self.body_hash();
        let mut text = serde_json::to_string_pretty(&sealed).expect("state serialises");
        text.push('\n');
        text
    }

    /// Reads a `rotor state pull` document (or an earlier rotor's
    /// `state.json`), refusing another format version or a body that does
    /// not match its checksum.
    pub fn from_json(text: &str) -> Result<State, StateError> {
        let probe: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StateError::Corrupt(e.to_string()))?;
        if let Some(found) = probe.get("format_version").and_then(|v| v.as_u64())
            && found != u64::from(STATE_FORMAT_VERSION)
        {
            return Err(StateError::FormatVersion {
                found: found as u32,
            });
        }
        let state: State =
            serde_json::from_value(probe).map_err(|e| StateError::Corrupt(e.to_string()))?;
        if state.checksum != state.body_hash() {
            return Err(StateError::Edited);
        }
        Ok(state)
    }

    // The lookups below take what the maps' `get` takes: a name, or its
    // text (`state.family("k")`).

    /// The family's state, if any.
    pub fn family<F>(&self, name: &F) -> Option<&FamilyState>
    where
        F: Ord + ?Sized,
        FamilyName: Borrow<F>,
    {
        self.families.get(name)
    }

    /// One version's state, if any.
    pub fn version<F, V>(&self, family: &F, id: &V) -> Option<&VersionState>
    where
        F: Ord + ?Sized,
        V: Ord + ?Sized,
        FamilyName: Borrow<F>,
        VersionId: Borrow<V>,
    {
        self.families.get(family)?.versions.get(id)
    }

    /// Takes in approvals recorded on their own: each one for a version state
    /// holds, newer than the one it has for that gate. Whether it counts is
    /// decided by its time against the gate's term, as for any approval.
    /// Returns how many were new.
    pub fn merge_approvals(&mut self, records: &[ApprovalRecord]) -> usize {
        let mut new = 0;
        for r in records {
            let Some(v) = self
                .families
                .get_mut(&r.family)
                .and_then(|f| f.versions.get_mut(&r.version))
            else {
                continue;
            };
            if v.approvals
                .get(&r.gate)
                .is_none_or(|a| a.at < r.approval.at)
            {
                v.approvals.insert(r.gate.clone(), r.approval.clone());
                new += 1;
            }
        }
        new
    }

    /// The latest time the state records, with its family and version: a
    /// state written while the clock ran ahead (or edited) holds times in
    /// the future, and every window counted from them would be wrong.
    pub fn latest(&self) -> Option<(Timestamp, &FamilyName, &VersionId)> {
        self.families
            .iter()
            .flat_map(|(f, fs)| {
                fs.versions
                    .iter()
                    .flat_map(move |(id, v)| v.timestamps().map(move |t| (t, f, id)))
            })
            .max_by_key(|(t, _, _)| *t)
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_edit_detection() {
        let mut s = State::new("lin-1".into());
        s.serial = 3;
        s.families.entry("k".into()).or_default().versions.insert(
            "v1".into(),
            VersionState::created(
                "v1".into(),
                "RS256".into(),
                "sha256:ab".into(),
                Timestamp(1000),
            ),
        );
        let text = s.to_json();
        let back = State::from_json(&text).unwrap();
        assert_eq!(back.families, s.families);
        let edited = text.replace("\"serial\": 3", "\"serial\": 2");
        assert_eq!(State::from_json(&edited), Err(StateError::Edited));
        let newer = text.replace("\"format_version\": 1", "\"format_version\": 9");
        assert_eq!(
            State::from_json(&newer),
            Err(StateError::FormatVersion { found: 9 })
        );
        assert!(matches!(
            State::from_json("{\"form"),
            Err(StateError::Corrupt(_))
        ));
    }
}
