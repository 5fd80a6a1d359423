//! Apply: run a plan's steps against the providers, recording each one in
//! state the moment it completes.
//!
//! Every step is idempotent against state: a step whose effect is already
//! recorded is skipped, so running the same plan again (after a crash, or in
//! `--wait` rounds) resumes where the last run stopped and creates nothing
//! twice. A gate that is not open yet leaves the step *waiting*; steps after
//! it wait too, everything independent still runs, and the apply ends cleanly.

use crate::StateBackend;
use crate::plan::{Action, Step, gate_id};
use crate::provider::{FirmGround, Ground, ListedKey, NewVersion, ProbeRequest, Providers};
use crate::safety::{self, evidence_in_term};
use crate::secret::SecretValue;
use crate::spec::{Family, ProbePhase, Resolved};
use crate::state::{
    Baseline, Event, Evidence, FamilyState, Measure, Outcome, Phase, State, StateError,
    VersionState,
};
use crate::time::Timestamp;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Ran now.
    Done(String),
    /// Its effect was already recorded.
    AlreadyDone,
    /// A gate is not open yet.
    Waiting {
        /// Which gate.
        gate: String,
        /// When a window opens, if it is a window.
        until: Option<Timestamp>,
        /// Why, for people.
        detail: String,
    },
    /// A step it runs after is not done.
    Blocked,
    /// It failed; the family stops here.
    Failed {
        /// What went wrong.
        error: String,
        /// What to do.
        hint: String,
    },
}

impl StepOutcome {
    fn is_done(&self) -> bool {
        matches!(self, StepOutcome::Done(_) | StepOutcome::AlreadyDone)
    }
}

/// One family's result.
#[derive(Debug, Clone)]
pub struct FamilyReport {
    /// Family name.
    pub family: String,
    /// Per step id.
    pub outcomes: Vec<(usize, StepOutcome)>,
}

/// The result of one apply pass.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Families in plan order.
    pub families: Vec<FamilyReport>,
}

impl ApplyReport {
    /// Every step done.
    pub fn is_complete(&self) -> bool {
        self.families
            .iter()
            .all(|f| f.outcomes.iter().all(|(_, o)| o.is_done()))
    }

    /// Any step failed.
    pub fn failed(&self) -> bool {
        self.families.iter().any(|f| {
            f.outcomes
                .iter()
                .any(|(_, o)| matches!(o, StepOutcome::Failed { .. }))
        })
    }

    /// The earliest time a waiting window opens, if any step waits on one.
    pub fn next_window(&self) -> Option<Timestamp> {
        self.families
            .iter()
            .flat_map(|f| &f.outcomes)
            .filter_map(|(_, o)| match o {
                StepOutcome::Waiting { until, .. } => *until,
                _ => None,
            })
            .min()
    }

    /// Steps that ran now.
    pub fn ran(&self) -> usize {
        self.families
            .iter()
            .flat_map(|f| &f.outcomes)
            .filter(|(_, o)| matches!(o, StepOutcome::Done(_)))
            .count()
    }
}

/// Progress reports, for the CLI to render.
pub trait Hook: Send + Sync {
    /// A step finished (or was found waiting, blocked or failed).
    fn step(&self, family: &str, step: &Step, outcome: &StepOutcome);
}

/// A hook that reports nothing.
pub struct Silent;

impl Hook for Silent {
    fn step(&self, _: &str, _: &Step, _: &StepOutcome) {}
}

/// Settings of one apply pass.
#[derive(Clone)]
pub struct ApplyOptions {
    /// Families applied at once.
    pub parallelism: usize,
    /// When the `--wait` run began; probes failing past their `within` from
    /// here fail the family. `None` outside `--wait`: a failing probe waits.
    pub deadline_base: Option<Timestamp>,
    /// Checked right before every promote, revoke and destroy.
    pub ground: std::sync::Arc<dyn Ground>,
    /// Take over families a store marks as another state's (`--adopt`):
    /// the recovery of a lost state on stores that keep an owner marker.
    pub adopt: bool,
    /// The families this apply leased, when it leased some: fresh plans
    /// made while it runs cover these alone.
    pub scope: Option<BTreeSet<String>>,
}

impl ApplyOptions {
    /// `parallelism` families at once, no `--wait`, ground that never moves.
    pub fn new(parallelism: usize) -> ApplyOptions {
        ApplyOptions {
            parallelism,
            deadline_base: None,
            ground: std::sync::Arc::new(FirmGround),
            adopt: false,
            scope: None,
        }
    }
}

/// State shared by the families of one apply. Every change is to one
/// family's record and saves that record alone, so a step costs the same
/// however many families the state holds.
pub struct Recorder<'a> {
    state: Mutex<State>,
    backend: &'a dyn StateBackend,
    /// Who runs this apply, for the history.
    actor: String,
}

impl<'a> Recorder<'a> {
    /// Wraps a loaded state and where to save it.
    pub fn new(state: State, backend: &'a dyn StateBackend) -> Self {
        Recorder {
            state: Mutex::new(state),
            backend,
            actor: "rotor".into(),
        }
    }

    /// Names who runs the apply in the history it appends.
    pub fn with_actor(mut self, actor: &str) -> Self {
        self.actor = actor.to_string();
        self
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> State {
        self.state.lock().expect("state lock").clone()
    }

    /// A copy of the state holding one family only: what a step of that
    /// family reads, without copying every other family's record.
    pub fn family_view(&self, name: &str) -> State {
        let guard = self.state.lock().expect("state lock");
        let mut view = State::new(guard.lineage.clone());
        view.serial = guard.serial;
        if let Some(f) = guard.families.get(name) {
            view.families.insert(name.to_string(), f.clone());
        }
        view
    }

    /// Takes in approvals recorded since (a person ran `rotor approve` while
    /// this apply waits). They are saved with the family's next change.
    pub fn take_approvals(&self) -> Result<usize, StateError> {
        let records = self.backend.approvals()?;
        Ok(self
            .state
            .lock()
            .expect("state lock")
            .merge_approvals(&records))
    }

    /// The state, consumed.
    pub fn into_state(self) -> State {
        self.state.into_inner().expect("state lock")
    }

    /// Changes one family's record and saves it at once; on a failed save
    /// nothing changes. The save runs outside the shared lock, so families
    /// save in parallel; a family's own steps run one after another.
    pub async fn record(
        &self,
        family: &str,
        change: impl FnOnce(&mut FamilyState),
    ) -> Result<(), StateError> {
        let (lineage, mut record) = {
            let guard = self.state.lock().expect("state lock");
            (
                guard.lineage.clone(),
                guard.families.get(family).cloned().unwrap_or_default(),
            )
        };
        change(&mut record);
        record.serial += 1;
        self.backend
            .save_family_soon(lineage, family.to_string(), record.clone())
            .await?;
        let mut guard = self.state.lock().expect("state lock");
        guard.families.insert(family.to_string(), record);
        guard.serial += 1;
        Ok(())
    }

    /// Appends a step's end to the history. The history is for people: a
    /// failure to append is not a failure of the step, whose effect is
    /// already recorded in the family's record.
    async fn event(&self, family: &str, step: &Step, outcome: &StepOutcome, at: Timestamp) {
        let (outcome, detail) = match outcome {
            StepOutcome::Done(detail) => ("done", detail.clone()),
            StepOutcome::Failed { error, .. } => ("failed", error.clone()),
            _ => return,
        };
        let event = Event {
            at,
            family: family.to_string(),
            what: format!("{} {}", step.action.verb(), step.action.target()),
            outcome: outcome.to_string(),
            actor: self.actor.clone(),
            detail,
        };
        let _ = self.backend.append_event_soon(event).await;
    }
}

/// Runs a plan once. Safe to run again: done steps are skipped.
pub async fn apply(
    resolved: &Resolved,
    plan: &crate::safety::CheckedPlan,
    providers: &Providers,
    recorder: &Recorder<'_>,
    hook: &dyn Hook,
    options: &ApplyOptions,
) -> ApplyReport {
    let jobs = plan
        .families
        .iter()
        .filter(|f| f.blocked.is_none())
        .filter_map(|fp| {
            let family = resolved.family_by_name(&fp.family)?;
            Some(async move {
                let mut outcomes: Vec<(usize, StepOutcome)> = Vec::new();
                let mut done: BTreeSet<usize> = BTreeSet::new();
                let mut failed = false;
                for step in &fp.steps {
                    let outcome = if failed || step.after.iter().any(|a| !done.contains(a)) {
                        StepOutcome::Blocked
                    } else {
                        let ctx = Ctx {
                            r: resolved,
                            family,
                            name: &fp.family,
                            providers,
                            recorder,
                            options,
                        };
                        ctx.run(step).await
                    };
                    if outcome.is_done() {
                        done.insert(step.id);
                    }
                    if matches!(outcome, StepOutcome::Failed { .. }) {
                        failed = true;
                    }
                    recorder
                        .event(&fp.family, step, &outcome, providers.clock.now())
                        .await;
                    hook.step(&fp.family, step, &outcome);
                    outcomes.push((step.id, outcome));
                }
                FamilyReport {
                    family: fp.family.clone(),
                    outcomes,
                }
            })
        });
    let mut families: Vec<FamilyReport> = futures_util::stream::iter(jobs)
        .buffer_unordered(options.parallelism.max(1))
        .collect()
        .await;
    let order: Vec<&str> = plan.families.iter().map(|f| f.family.as_str()).collect();
    families.sort_by_key(|f| order.iter().position(|n| *n == f.family));
    ApplyReport { families }
}

struct Ctx<'a> {
    r: &'a Resolved,
    family: &'a Family,
    name: &'a str,
    providers: &'a Providers,
    recorder: &'a Recorder<'a>,
    options: &'a ApplyOptions,
}

/// How a step reached its end.
enum Done {
    /// It ran now; what it did, for people.
    Now(String),
    /// Its effect was already recorded.
    Already,
}

/// Why a step stopped short of its end: what `?` carries out of a step and
/// its helpers. [`Ctx::run`] turns it into the public [`StepOutcome`].
enum StepError {
    /// A gate is not open yet: the step, and every step after it, waits.
    Waiting {
        /// Which gate.
        gate: String,
        /// When a window opens, if it is a window.
        until: Option<Timestamp>,
        /// Why, for people.
        detail: String,
    },
    /// It failed; the family stops here.
    Failed {
        /// What went wrong.
        error: String,
        /// What to do.
        hint: String,
    },
}

fn failed(error: impl Into<String>, hint: impl Into<String>) -> StepError {
    StepError::Failed {
        error: error.into(),
        hint: hint.into(),
    }
}

fn waiting(
    gate: impl Into<String>,
    until: Option<Timestamp>,
    detail: impl Into<String>,
) -> StepError {
    StepError::Waiting {
        gate: gate.into(),
        until,
        detail: detail.into(),
    }
}

const RESUME: &str =
    "fix the cause and run `rotor apply` again: it resumes from the last recorded step";

impl Ctx<'_> {
    fn now(&self) -> Timestamp {
        self.providers.clock.now()
    }

    /// The state of this family (with the lineage): a step never reads
    /// another family's record.
    fn state(&self) -> State {
        self.recorder.family_view(self.name)
    }

    fn version(&self, id: &str) -> Option<VersionState> {
        self.state().version(self.name, id).cloned()
    }

    async fn record(&self, change: impl FnOnce(&mut FamilyState)) -> Result<(), StepError> {
        self.recorder
            .record(self.name, change)
            .await
            .map_err(|e| failed(format!("could not save state: {e}"), RESUME))
    }

    /// Changes one version's state and saves it at once.
    async fn record_version(
        &self,
        version: &str,
        change: impl FnOnce(&mut VersionState),
    ) -> Result<(), StepError> {
        self.record(|f| {
            if let Some(v) = f.versions.get_mut(version) {
                change(v);
            }
        })
        .await
    }

    /// Before an irreversible step: the spec and the clock are still what
    /// the plan was made from.
    fn ground(&self) -> Result<(), StepError> {
        self.options.ground.check().map_err(|why| {
            failed(
                why,
                "nothing irreversible ran; everything done so far is recorded: run `rotor plan` again, then `rotor apply`",
            )
        })
    }

    fn stores(&self) -> Vec<(String, std::sync::Arc<dyn crate::Store>)> {
        self.family
            .stores
            .iter()
            .filter_map(|&s| {
                let addr = self.r.spec.stores[s].address();
                self.providers.stores.get(&addr).map(|p| (addr, p.clone()))
            })
            .collect()
    }

    async fn run(&self, step: &Step) -> StepOutcome {
        let result = match &step.action {
            Action::Create { version, .. } => self.create(version).await,
            Action::Restore { version } => self.restore(version).await,
            Action::Publish { publisher, .. } => self.publish(publisher).await,
            Action::AwaitAccept { version, consumer } => {
                self.await_gate(version, consumer, ProbePhase::Accept).await
            }
            Action::Promote { version, .. } => self.promote(version).await,
            Action::AwaitEmit { version, consumer } => {
                self.await_gate(version, consumer, ProbePhase::Emit).await
            }
            Action::Hold {
                retiring,
                successor,
            } => self.hold(retiring, successor).await,
            Action::Revoke { version } => self.revoke(version).await,
            Action::Destroy { version } => self.destroy(version).await,
        };
        match result {
            Ok(Done::Now(detail)) => StepOutcome::Done(detail),
            Ok(Done::Already) => StepOutcome::AlreadyDone,
            Err(StepError::Waiting {
                gate,
                until,
                detail,
            }) => StepOutcome::Waiting {
                gate,
                until,
                detail,
            },
            Err(StepError::Failed { error, hint }) => StepOutcome::Failed { error, hint },
        }
    }

    async fn create(&self, version: &str) -> Result<Done, StepError> {
        if self.version(version).is_some() {
            return Ok(Done::Already);
        }
        let secret = &self.r.spec.secrets[self.family.secret];
        let Some(how) = &secret.generate else {
            return Err(failed("no generate block", "add one"));
        };
        let stores = self.stores();
        // A family another state claimed in a store is not taken over
        // unless the user says so: two state files on one store would each
        // believe it manages the family.
        let lineage = self.state().lineage;
        for (addr, store) in &stores {
            let owner = store
                .owner(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            if let Some(owner) = owner.filter(|o| *o != lineage && !self.options.adopt) {
                return Err(failed(
                    format!(
                        "{addr} holds secret.{} for another state (lineage {owner}), not this one ({lineage}): a second state file, or a lost one",
                        self.name
                    ),
                    "if that other state is in use, run rotor with it (--state); if it is gone, take the family over with `rotor apply --adopt`: every live version is then held as in use for a full overlap",
                ));
            }
        }
        let now = self.now();
        // The turn after the active version's, so that a version abandoned
        // before its promote does not shift the alternation onto the live one.
        let ordinal = self.state().family(self.name).map_or(0, |f| {
            f.active
                .as_ref()
                .and_then(|a| f.versions.get(a))
                .and_then(|a| a.ordinal)
                .map_or(f.versions.len(), |o| o + 1)
        });
        if let [(addr, store)] = stores.as_slice() {
            // One store: its put says whether the version is there already
            // (refused as a conflict: material is never replaced), which
            // spares a read. Only then is it read, and adopted below.
            self.record_baselines().await?;
            let generated = self.generate(&how.value, version, ordinal)?;
            let new = NewVersion {
                id: version,
                kid: version,
                generated: &generated,
            };
            match store.put(self.name, &new).await {
                Ok(()) => return self.record_new(version, generated, ordinal, &stores).await,
                Err(e) if e.kind == crate::provider::ErrorKind::Conflict => {}
                Err(e) => {
                    return Err(failed(format!("writing {version} to {addr}: {e}"), RESUME));
                }
            }
        }
        let mut present = Vec::new();
        let mut thumbprint = None;
        // Whether every store that holds it serves it as the primary.
        let mut primary_everywhere = true;
        for (addr, store) in &stores {
            let live = store
                .read(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            if let Some(lv) = live.versions.iter().find(|v| v.id == version) {
                present.push((addr.clone(), lv.fingerprint.clone()));
                thumbprint = thumbprint.or_else(|| lv.thumbprint.clone());
                primary_everywhere &= live.primary.as_deref() == Some(version);
            }
        }
        if !present.is_empty() {
            if present.len() != stores.len() {
                self.complete_partial_write(version, &stores, &present, &how.value)
                    .await?;
            }
            // The stores hold it and state has no history of it: an earlier
            // apply stopped before recording it, the state was lost, or
            // another state file or a person wrote it. Adopt it as possibly
            // in use, so that its revoke waits a full overlap from now; the
            // stores' primary counts as promoted now.
            let fingerprint = present[0].1.clone();
            let mut v = VersionState::created(
                version.into(),
                how.value.algorithm().to_string(),
                fingerprint,
                now,
            );
            v.ordinal = Some(ordinal);
            v.published_at = Some(now);
            v.thumbprint = thumbprint;
            v.adopted_at = Some(now);
            let has_active = self
                .state()
                .family(self.name)
                .is_some_and(|f| f.active.is_some());
            let as_primary = primary_everywhere && !has_active;
            if as_primary {
                v.phase = Phase::Active;
                v.promoted_at = Some(now);
            }
            self.record(|f| {
                f.versions.insert(version.into(), v);
                if as_primary {
                    f.active = Some(version.into());
                }
            })
            .await?;
            self.claim().await?;
            return Ok(Done::Now(if as_primary {
                format!("adopted {version}, already the stores' primary: held as promoted now")
            } else {
                format!("adopted {version}, already in the stores: held as in use from now")
            }));
        }

        self.record_baselines().await?;
        let generated = self.generate(&how.value, version, ordinal)?;
        for (addr, store) in &stores {
            let new = NewVersion {
                id: version,
                kid: version,
                generated: &generated,
            };
            store
                .put(self.name, &new)
                .await
                .map_err(|e| failed(format!("writing {version} to {addr}: {e}"), RESUME))?;
        }
        self.record_new(version, generated, ordinal, &stores).await
    }

    fn generate(
        &self,
        how: &crate::spec::Generate,
        version: &str,
        ordinal: usize,
    ) -> Result<crate::provider::Generated, StepError> {
        self.providers
            .generator
            .generate(how, ordinal)
            .map_err(|e| failed(format!("generating {version}: {e}"), RESUME))
    }

    /// Records a version this apply generated and wrote to every store.
    async fn record_new(
        &self,
        version: &str,
        generated: crate::provider::Generated,
        ordinal: usize,
        stores: &[(String, std::sync::Arc<dyn crate::Store>)],
    ) -> Result<Done, StepError> {
        let now = self.now();
        let fingerprint = generated.fingerprint.clone();
        let algorithm = generated.algorithm.clone();
        let thumbprint = generated.public_jwk.as_ref().map(crate::jwk::thumbprint);
        drop(generated);
        let mut v = VersionState::created(version.into(), algorithm, fingerprint.clone(), now);
        v.ordinal = Some(ordinal);
        // Readers of the stores see it once the last write is done: its
        // accept window counts from then, not from before a slow write.
        v.published_at = Some(self.now());
        v.thumbprint = thumbprint;
        self.record_created(version, v).await?;
        // Claimed once state records the version: a crash before leaves no
        // marker naming a state that was never saved.
        self.claim().await?;
        let stores: Vec<&str> = stores.iter().map(|(a, _)| a.as_str()).collect();
        Ok(Done::Now(format!(
            "created {version} ({fingerprint}) in {}",
            stores.join(", ")
        )))
    }

    /// Marks the family in every store as this state's.
    async fn claim(&self) -> Result<(), StepError> {
        let lineage = self.state().lineage;
        for (addr, store) in self.stores() {
            store.claim(self.name, &lineage).await.map_err(|e| {
                failed(
                    format!("marking secret.{} in {addr}: {e}", self.name),
                    RESUME,
                )
            })?;
        }
        Ok(())
    }

    /// Records a version just written to (or found in) every store.
    async fn record_created(&self, version: &str, v: VersionState) -> Result<(), StepError> {
        self.record(|f| {
            f.versions.insert(version.into(), v);
        })
        .await
    }

    /// An earlier apply wrote `version` to some stores of the family and
    /// stopped: copy it from one that holds it into the others, so that every
    /// store holds the same material. The copies must agree first.
    async fn complete_partial_write(
        &self,
        version: &str,
        stores: &[(String, std::sync::Arc<dyn crate::Store>)],
        present: &[(String, String)],
        how: &crate::spec::Generate,
    ) -> Result<(), StepError> {
        let holders = present
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let fingerprint = &present[0].1;
        if present.iter().any(|(_, f)| f != fingerprint) {
            return Err(failed(
                format!("version {version} differs between {holders}"),
                "the stores hold different material under one id: remove it from all but one store by hand, then run `rotor apply` again",
            ));
        }
        let mut source_error = Vec::new();
        for (addr, _) in present {
            let source = &stores
                .iter()
                .find(|(a, _)| a == addr)
                .expect("present is a subset")
                .1;
            let material = match source.read_material(self.name, version).await {
                Ok(m) => m,
                Err(e) => {
                    source_error.push(format!("{addr}: {e}"));
                    continue;
                }
            };
            let public_jwk = if how.is_asymmetric() {
                let keys = source
                    .public_keys(self.name)
                    .await
                    .map_err(|e| failed(format!("reading public keys from {addr}: {e}"), RESUME))?;
                keys.into_iter()
                    .find(|k| k.version == version)
                    .map(|k| k.jwk)
            } else {
                None
            };
            let copy = crate::provider::Generated {
                material,
                algorithm: how.algorithm().to_string(),
                public_jwk,
                fingerprint: fingerprint.clone(),
            };
            for (target, store) in stores {
                if present.iter().any(|(a, _)| a == target) {
                    continue;
                }
                let new = NewVersion {
                    id: version,
                    kid: version,
                    generated: &copy,
                };
                store.put(self.name, &new).await.map_err(|e| {
                    failed(
                        format!("copying {version} from {addr} to {target}: {e}"),
                        RESUME,
                    )
                })?;
            }
            return Ok(());
        }
        Err(failed(
            format!(
                "version {version} is in {holders} but not in every store of the family, and cannot be copied: {}",
                source_error.join("; ")
            ),
            "an earlier apply stopped between stores; remove the partial version from the stores that hold it, then run `rotor apply` again",
        ))
    }

    async fn restore(&self, version: &str) -> Result<Done, StepError> {
        let Some(v) = self.version(version) else {
            return Ok(Done::Already);
        };
        // Revoked in state, or disabled in a store by a revoke whose record was lost.
        let mut disabled_somewhere = false;
        for (addr, store) in self.stores() {
            let live = store
                .read(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            disabled_somewhere |= live
                .versions
                .iter()
                .any(|lv| lv.id == version && !lv.enabled);
        }
        if v.phase != Phase::Revoked && !(v.phase.is_accepted_set() && disabled_somewhere) {
            return Ok(Done::Already);
        }
        for (addr, store) in self.stores() {
            store
                .enable(self.name, version)
                .await
                .map_err(|e| failed(format!("restoring {version} in {addr}: {e}"), RESUME))?;
        }
        let now = self.now();
        self.record_version(version, |v| v.restore(now)).await?;
        Ok(Done::Now(format!("restored {version}")))
    }

    async fn publish(&self, publisher: &str) -> Result<Done, StepError> {
        let Some(p) = self.providers.publishers.get(publisher) else {
            return Err(failed(
                format!("no provider for {publisher}"),
                "this is a bug in rotor",
            ));
        };
        let Some((addr, store)) = self.stores().into_iter().next() else {
            return Err(failed(
                "the family has no store",
                "add `store = store.KIND.NAME`",
            ));
        };
        let keys = store
            .public_keys(self.name)
            .await
            .map_err(|e| failed(format!("reading public keys from {addr}: {e}"), RESUME))?;
        let want: BTreeSet<ListedKey> = keys.iter().map(ListedKey::of).collect();
        let current: Option<BTreeSet<ListedKey>> = p
            .read_keys()
            .await
            .map_err(|e| failed(format!("reading {publisher}: {e}"), RESUME))?
            .map(|keys| keys.into_iter().collect());
        let same = current.as_ref() == Some(&want);
        // Since when the publisher lists each version's key: from the write
        // if it (re)adds the key (missing, or listed with another key), and
        // from now if state has no record; a listing that was already right
        // keeps its record. Verifiers reading `via` it count from here.
        let listed_before = |k: &ListedKey| current.as_ref().is_some_and(|c| c.contains(k));
        let mut restarted = Vec::new();
        let mut readded = Vec::new();
        let mut unrecorded = Vec::new();
        let state = self.state();
        if let Some(f) = state.family(self.name) {
            for (id, v) in &f.versions {
                if !v.phase.is_accepted_set() {
                    continue;
                }
                let Some(key) = want.iter().find(|k| k.kid == v.kid) else {
                    continue;
                };
                let recorded = v.published.contains_key(publisher);
                if !listed_before(key) {
                    readded.push(id.clone());
                    if recorded {
                        restarted.push(v.kid.clone());
                    }
                } else if !recorded {
                    unrecorded.push(id.clone());
                }
            }
        }
        if !same {
            // The old record goes before the write: should the write land and
            // its record be lost (a crash, a failed save), the next run finds
            // no record and counts from then, never from a publication that a
            // hand edit may have undone in between.
            if !restarted.is_empty() {
                self.record(|f| {
                    for id in &readded {
                        if let Some(v) = f.versions.get_mut(id) {
                            v.published.remove(publisher);
                        }
                    }
                })
                .await?;
            }
            p.publish(&keys)
                .await
                .map_err(|e| failed(format!("writing {publisher}: {e}"), RESUME))?;
        }
        let now = self.now();
        let changes: Vec<(String, Timestamp)> = readded
            .into_iter()
            .chain(unrecorded)
            .map(|id| (id, now))
            .collect();
        if same && changes.is_empty() {
            return Ok(Done::Already);
        }
        if !changes.is_empty() {
            self.record(|f| {
                for (id, at) in &changes {
                    if let Some(v) = f.versions.get_mut(id) {
                        v.published.insert(publisher.to_string(), *at);
                    }
                }
            })
            .await?;
        }
        let kids: Vec<String> = want.into_iter().map(|k| k.kid).collect();
        let restarted = if restarted.is_empty() {
            String::new()
        } else {
            format!(
                "; {} listed anew, so accept windows via {publisher} start again",
                restarted.join(", ")
            )
        };
        Ok(Done::Now(if same {
            format!("{publisher} already lists [{}]", kids.join(", "))
        } else {
            format!("published kids [{}]{restarted}", kids.join(", "))
        }))
    }

    async fn await_gate(
        &self,
        version: &str,
        consumer: &str,
        phase: ProbePhase,
    ) -> Result<Done, StepError> {
        let Some(v) = self.version(version) else {
            return Err(failed(
                format!("{version} is not in state"),
                "this is a bug in rotor",
            ));
        };
        let c = self.r.consumer(consumer).expect("resolved consumer");
        if evidence_in_term(phase, c, &v).is_some() {
            return Ok(Done::Already);
        }
        // The window: a probe reaches one instance; the cache window covers the rest.
        let base = match phase {
            ProbePhase::Accept => safety::accept_since(c, &v),
            ProbePhase::Emit => v.promoted_at,
            ProbePhase::Drain | ProbePhase::Guard => {
                unreachable!("drain and guard run in hold and destroy")
            }
        };
        let Some(base) = base else {
            return Err(waiting(
                format!("{} window", phase.as_str()),
                None,
                format!(
                    "{version} is not {} yet",
                    if phase == ProbePhase::Accept {
                        "published"
                    } else {
                        "promoted"
                    }
                ),
            ));
        };
        let now = self.now();
        // Probes first, so that a failing consumer is found before a long window is waited out.
        let (outcome, kinds) = self.run_probes(version, &v, c, phase, base).await?;
        let opens = base + c.cache();
        if now < opens {
            return Err(waiting(
                format!("{} cache window", c.address()),
                Some(opens),
                format!("{} caches for {}", c.address(), c.cache()),
            ));
        }
        let detail = if kinds.is_empty() {
            format!("no probe; assumed after the {} cache window", c.cache())
        } else {
            let seen: Vec<String> = kinds
                .iter()
                .map(|k| match k.as_str() {
                    "manual" => "manual gate approved".to_string(),
                    other => format!("{other} probe passed"),
                })
                .collect();
            format!("{}; cache window {} elapsed", seen.join(", "), c.cache())
        };
        let evidence = Evidence {
            probe: if kinds.is_empty() {
                "window".into()
            } else {
                kinds.join(",")
            },
            at: now,
            outcome,
            detail: detail.clone(),
        };
        let verifiers: Vec<String> = self
            .family
            .verifiers
            .iter()
            .map(|&i| self.r.spec.consumers[i].name.clone())
            .collect();
        self.record_version(version, |v| {
            v.record_evidence(phase, consumer, evidence, &verifiers);
        })
        .await?;
        Ok(Done::Now(format!(
            "{} {}s {version}: {detail}",
            c.address(),
            phase.as_str()
        )))
    }

    /// Runs the probes of one consumer for one phase of `version`, in order:
    /// manual gates need an approval, other probes must pass (a pass is kept
    /// in `last_attempt`, so that a later poll does not ask again). Stops at
    /// the first gate that is not open: waiting, or failed once its `within`
    /// has run out under `--wait`. Returns the outcome and the probe kinds seen.
    async fn run_probes(
        &self,
        version: &str,
        v: &VersionState,
        c: &crate::spec::ConsumerSpec,
        phase: ProbePhase,
        due: Timestamp,
    ) -> Result<(Outcome, Vec<String>), StepError> {
        let consumer = c.name.as_str();
        let mut kinds = Vec::new();
        let mut outcome = Outcome::Assumed;
        let mut material = None;
        for (index, verify) in c.probes(phase) {
            let gate = gate_id(phase, consumer, index);
            kinds.push(verify.kind.clone());
            if verify.kind == "manual" {
                match safety::approval_in_term(phase, c, v, &gate) {
                    Some(_) => outcome = Outcome::Approved,
                    None => {
                        return Err(waiting(
                            format!("manual approval {gate}"),
                            None,
                            format!(
                                "run `rotor approve {} {version} {gate}` once {} is confirmed",
                                self.name,
                                c.address()
                            ),
                        ));
                    }
                }
                continue;
            }
            if safety::passed_in_term(phase, c, v, &gate) {
                outcome = Outcome::Passed;
                continue;
            }
            let Some(probe) = self.providers.probes.get(&(consumer.to_string(), index)) else {
                return Err(failed(
                    format!(
                        "no provider for the {} probe of {}",
                        verify.kind,
                        c.address()
                    ),
                    "this is a bug in rotor",
                ));
            };
            let mut request = self.probe_request(version, v, consumer, phase);
            if phase == ProbePhase::Guard {
                request.baseline = v.baselines.get(&gate).and_then(|b| b.value.map(|m| m.0));
            }
            if probe.needs_material() {
                // Read once for all of this consumer's probes.
                if material.is_none() {
                    material = Some(self.material(version).await?);
                }
                request.material.clone_from(&material);
            }
            let mut result = probe.check(&request).await;
            drop(request);
            // Output from outside is printed and kept: never with material in it.
            if result.quotes {
                result.detail = self.redacted(&result.detail, material.as_deref()).await;
            }
            let at = self.now();
            let evidence = Evidence {
                probe: verify.kind.clone(),
                at,
                outcome: if result.passed {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                },
                detail: result.detail.clone(),
            };
            self.record_version(version, |v| {
                v.last_attempt.insert(gate.clone(), evidence);
            })
            .await?;
            if !result.passed {
                // `within` counts from when the gate came due, or from the start
                // of this `--wait` run if that is later.
                let deadline = self
                    .options
                    .deadline_base
                    .map(|b| b.max(due) + verify.within);
                let restore = match v.baselines.get(&gate) {
                    Some(b) if phase == ProbePhase::Guard && b.value.is_none() => format!(
                        "no baseline was measured when the rotation started ({}): check the guard's query. {version} is only disabled; if something did break, restore it with `rotor rollback {} --restore` and `rotor apply`",
                        b.detail, self.name
                    ),
                    _ => format!(
                        "{version} is only disabled: restore it now with `rotor rollback {} --restore` and `rotor apply`, then find out what broke",
                        self.name
                    ),
                };
                if deadline.is_some_and(|d| at >= d) {
                    let rollback = match phase {
                        ProbePhase::Accept => format!(
                            "nothing was promoted: the old version is still active everywhere. Fix {} and run `rotor apply` again, or abandon {version} by removing its version block (and pointing `active` back)",
                            c.address()
                        ),
                        ProbePhase::Emit => format!(
                            "the old version is still accepted everywhere: to roll back, point `active` at the previous version and run `rotor apply`; or fix {} and run `rotor apply` again",
                            c.address()
                        ),
                        ProbePhase::Drain => format!(
                            "nothing was revoked: {version} is still accepted everywhere. Find what still uses it (see the probe), then run `rotor apply` again"
                        ),
                        ProbePhase::Guard => restore,
                    };
                    return Err(failed(
                        format!(
                            "{} {} probe of {} did not pass for {version} within {}: {}",
                            phase.as_str(),
                            verify.kind,
                            c.address(),
                            verify.within,
                            result.detail
                        ),
                        rollback,
                    ));
                }
                let detail = if phase == ProbePhase::Guard {
                    format!(
                        "GUARD FAILING after the revoke: {}; {restore}",
                        result.detail
                    )
                } else {
                    format!("not yet: {}", result.detail)
                };
                return Err(waiting(
                    format!("{} probe {gate}", verify.kind),
                    None,
                    detail,
                ));
            }
            outcome = Outcome::Passed;
        }
        Ok((outcome, kinds))
    }

    fn probe_request(
        &self,
        version: &str,
        v: &VersionState,
        consumer: &str,
        phase: ProbePhase,
    ) -> ProbeRequest {
        ProbeRequest {
            family: self.name.into(),
            version: version.into(),
            kid: v.kid.clone(),
            algorithm: v.algorithm.clone(),
            thumbprint: v.thumbprint.clone(),
            phase,
            consumer: consumer.into(),
            material: None,
            baseline: None,
        }
    }

    /// A probe's output with every piece of this family's material rotor
    /// can read taken out, cut to its tail: see [`crate::secret::redact`].
    async fn redacted(&self, text: &str, known: Option<&SecretValue>) -> String {
        if text.is_empty() {
            return String::new();
        }
        let state = self.state();
        let mut held: Vec<SecretValue> = Vec::new();
        let ids = state
            .family(self.name)
            .map(|f| {
                f.versions
                    .iter()
                    .filter(|(_, v)| v.phase != Phase::Destroyed)
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for id in ids {
            for (_, store) in self.stores() {
                if let Ok(m) = store.read_material(self.name, &id).await {
                    held.push(m);
                    break;
                }
            }
        }
        let mut all: Vec<&SecretValue> = held.iter().collect();
        all.extend(known);
        crate::secret::redact(text, &all)
    }

    /// A version's material, from the first store of the family that can give it.
    async fn material(&self, version: &str) -> Result<std::sync::Arc<SecretValue>, StepError> {
        let mut errors = Vec::new();
        for (addr, store) in self.stores() {
            match store.read_material(self.name, version).await {
                Ok(m) => return Ok(std::sync::Arc::new(m)),
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        Err(failed(
            format!(
                "a probe needs the material of {version}, and no store gave it: {}",
                errors.join("; ")
            ),
            RESUME,
        ))
    }

    /// When a rotation starts (a version is created while another is
    /// active), each guard probe measures its value for the active version,
    /// the one the rotation will revoke. A failed measurement is recorded as
    /// such: the guard then says that it had no baseline.
    async fn record_baselines(&self) -> Result<(), StepError> {
        let state = self.state();
        let Some(active) = state.family(self.name).and_then(|f| f.active.clone()) else {
            return Ok(());
        };
        let Some(v) = state.version(self.name, &active) else {
            return Ok(());
        };
        for c in self.family.consumers(self.r) {
            for (index, _) in c.probes(ProbePhase::Guard) {
                let gate = gate_id(ProbePhase::Guard, &c.name, index);
                if v.baselines.get(&gate).is_some_and(|b| b.value.is_some()) {
                    continue;
                }
                let Some(probe) = self.providers.probes.get(&(c.name.clone(), index)) else {
                    continue;
                };
                let request = self.probe_request(&active, v, &c.name, ProbePhase::Guard);
                let (value, detail) = match probe.measure(&request).await {
                    Ok(x) => (Some(Measure(x)), format!("{x}")),
                    Err(e) => (None, e),
                };
                let baseline = Baseline {
                    at: self.now(),
                    value,
                    detail,
                };
                self.record_version(&active, |v| {
                    v.baselines.insert(gate.clone(), baseline);
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn promote(&self, version: &str) -> Result<Done, StepError> {
        let state = self.state();
        // What the stores serve now: a primary other than the one state
        // records (an interrupted promote, a change by hand) may be in use.
        let mut served = Vec::new();
        for (addr, store) in self.stores() {
            let live = store
                .read(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            served.push(live.primary);
        }
        let active = state.family(self.name).and_then(|f| f.active.clone());
        if active.as_deref() == Some(version)
            && served.iter().all(|p| p.as_deref() == Some(version))
        {
            return Ok(Done::Already);
        }
        let now = self.now();
        // A family with no verifiers still has to be fully accepted in name: make it so.
        if self.family.verifiers.is_empty()
            && let Some(v) = state.version(self.name, version)
            && v.phase == Phase::Pending
        {
            self.record_version(version, |v| {
                v.phase = Phase::Accepted;
            })
            .await?;
        }
        if let Err(v) = safety::check_promote(self.r, self.family, &self.state(), version, now) {
            return Err(match v.opens_at {
                Some(t) => waiting("accept window", Some(t), v.reason),
                None => failed(
                    format!("refused: {}", v.reason),
                    "this is the safety checker stopping a promote; run `rotor plan` to see what is missing",
                ),
            });
        }
        self.ground()?;
        // A guard baseline that could not be measured when the rotation
        // started gets another chance while the old version still serves.
        self.record_baselines().await?;
        let in_use: Vec<String> = served
            .into_iter()
            .flatten()
            .filter(|p| p != version && Some(p) != active.as_ref())
            .filter(|p| state.version(self.name, p).is_some())
            .collect();
        if !in_use.is_empty() {
            self.record(|f| {
                for p in &in_use {
                    if let Some(v) = f.versions.get_mut(p) {
                        v.adopted_at = Some(now);
                    }
                }
            })
            .await?;
        }
        for (addr, store) in self.stores() {
            store
                .set_primary(self.name, version)
                .await
                .map_err(|e| failed(format!("promoting {version} in {addr}: {e}"), RESUME))?;
        }
        // Emitters switch once the last store serves it: the overlap, and
        // every window counted from the promote, start then, not before a
        // slow write (found by killing at every fsync: a 100 ms write
        // shortened the overlap readers saw by as much).
        let now = self.now();
        let mut from = None;
        self.record(|f| from = f.promote(version, now)).await?;
        Ok(Done::Now(match from {
            Some(f) => format!("promoted {version} (was {f})"),
            None => format!("promoted {version}"),
        }))
    }

    async fn hold(&self, retiring: &[String], successor: &str) -> Result<Done, StepError> {
        let state = self.state();
        let overlap = self.r.overlap(self.family);
        let hold = self.r.hold_until(self.family);
        let now = self.now();
        let all_drained = retiring.iter().all(|r| {
            state.version(self.name, r).is_none_or(|v| {
                (safety::drained(v, overlap, now) && hold.is_none_or(|(h, _)| h <= now))
                    || !v.phase.is_accepted_set()
            })
        });
        if all_drained {
            return Ok(Done::Already);
        }
        let Some(s) = state.version(self.name, successor) else {
            return Err(waiting(
                "overlap",
                None,
                format!("{successor} is not created yet"),
            ));
        };
        let Some(promoted) = s.promoted_at.filter(|_| {
            state.family(self.name).and_then(|f| f.active.as_deref()) == Some(successor)
        }) else {
            return Err(waiting(
                "overlap",
                None,
                format!("{successor} is not promoted yet"),
            ));
        };
        for &c in &self.family.emitters {
            let c = &self.r.spec.consumers[c];
            if evidence_in_term(ProbePhase::Emit, c, s).is_none() {
                return Err(waiting(
                    "overlap",
                    None,
                    format!("{} has not switched to {successor} yet", c.address()),
                ));
            }
        }
        // A version found live without a history holds from when it was found.
        let start = retiring
            .iter()
            .filter_map(|r| state.version(self.name, r))
            .filter_map(|v| safety::hold_start(self.r, self.family, s, v))
            .max();
        let until = start.map_or(promoted, |a| a.max(promoted)) + overlap;
        if let Some((h, c)) = hold.filter(|(h, _)| *h > until && now < *h) {
            let reason = c.hold_reason.as_ref().map_or("", |r| r.value.as_str());
            return Err(waiting(
                "hold_until",
                Some(h),
                format!(
                    "{} holds {} until {}: {reason}",
                    c.address(),
                    retiring.join(", "),
                    h.human()
                ),
            ));
        }
        if now < until {
            return Err(waiting(
                "overlap",
                Some(until),
                format!(
                    "holding {} for {overlap} after {successor} was promoted",
                    retiring.join(", ")
                ),
            ));
        }
        // Time has passed; traffic made with the retiring versions must be gone too.
        let mut drained = Vec::new();
        for r in retiring {
            let Some(v) = state
                .version(self.name, r)
                .filter(|v| v.phase.is_accepted_set())
            else {
                continue;
            };
            for c in self.family.consumers(self.r) {
                if c.probes(ProbePhase::Drain).next().is_none()
                    || evidence_in_term(ProbePhase::Drain, c, v).is_some()
                {
                    continue;
                }
                let (outcome, kinds) = self.run_probes(r, v, c, ProbePhase::Drain, until).await?;
                let evidence = Evidence {
                    probe: kinds.join(","),
                    at: self.now(),
                    outcome,
                    detail: format!("{} drained of {r}", c.address()),
                };
                self.record_version(r, |v| {
                    v.drain.insert(c.name.clone(), evidence);
                })
                .await?;
                drained.push(c.name.clone());
            }
        }
        self.record(|f| {
            for r in retiring {
                if let Some(v) = f.versions.get_mut(r) {
                    v.drained_at = Some(now);
                }
            }
        })
        .await?;
        let probes = if drained.is_empty() {
            String::new()
        } else {
            format!("; drain probes passed for {}", drained.join(", "))
        };
        Ok(Done::Now(format!(
            "held {} for {overlap}{probes}",
            retiring.join(", ")
        )))
    }

    async fn revoke(&self, version: &str) -> Result<Done, StepError> {
        match self.version(version) {
            Some(v) if v.phase.is_accepted_set() => {}
            _ => return Ok(Done::Already),
        }
        self.ground()?;
        let now = self.now();
        if let Err(v) = safety::check_revoke(self.r, self.family, &self.state(), version, now) {
            return Err(failed(
                format!("refused: {}", v.reason),
                "this is the safety checker stopping a revoke; run `rotor plan` to see what is missing",
            ));
        }
        for (addr, store) in self.stores() {
            store
                .disable(self.name, version)
                .await
                .map_err(|e| failed(format!("disabling {version} in {addr}: {e}"), RESUME))?;
        }
        // Restorable for `destroy_after` from when the last store dropped it.
        let disabled = self.now();
        self.record_version(version, |v| v.revoke(disabled)).await?;
        Ok(Done::Now(format!(
            "revoked {version} (disabled; restorable until destroyed: declare it again to restore)"
        )))
    }

    async fn destroy(&self, version: &str) -> Result<Done, StepError> {
        let Some(v) = self.version(version) else {
            return Ok(Done::Already);
        };
        if v.phase == Phase::Destroyed {
            return Ok(Done::Already);
        }
        let Some(disabled) = v.disabled_at.filter(|_| v.phase == Phase::Revoked) else {
            return Err(waiting(
                "revoke",
                None,
                format!("{version} is not revoked yet"),
            ));
        };
        let grace = self.r.spec.secrets[self.family.secret].destroy_after.value;
        let now = self.now();
        // Guards: nothing got worse since the revoke. They run once every
        // consumer has had its cache window to drop the version, before the
        // grace period ends; a failing guard keeps the version restorable. A
        // version that was never promoted made no traffic to guard.
        let settle = self
            .family
            .consumers(self.r)
            .map(|c| c.cache())
            .max()
            .unwrap_or(crate::time::Duration::ZERO);
        let guard_due = disabled + settle;
        let mut guarded = Vec::new();
        for c in self.family.consumers(self.r) {
            if !v.was_used()
                || c.probes(ProbePhase::Guard).next().is_none()
                || evidence_in_term(ProbePhase::Guard, c, &v).is_some()
            {
                continue;
            }
            if now < guard_due {
                return Err(waiting(
                    "guard",
                    Some(guard_due),
                    format!(
                        "guards run {settle} after the revoke, once every consumer has dropped {version}"
                    ),
                ));
            }
            let (outcome, kinds) = self
                .run_probes(version, &v, c, ProbePhase::Guard, guard_due)
                .await?;
            let evidence = Evidence {
                probe: kinds.join(","),
                at: self.now(),
                outcome,
                detail: format!(
                    "nothing worse at {} after {version} was revoked",
                    c.address()
                ),
            };
            self.record_version(version, |v| {
                v.guarded.insert(c.name.clone(), evidence);
            })
            .await?;
            guarded.push(c.name.clone());
        }
        if now < disabled + grace {
            return Err(waiting(
                "grace period",
                Some(disabled + grace),
                format!("{version} stays restorable for {grace} after its revoke"),
            ));
        }

        self.ground()?;
        for (addr, store) in self.stores() {
            // Destroying what is destroyed already (an apply interrupted
            // before recording so) is done; one the store never had is not
            // found, and there is nothing to destroy there either.
            match store.destroy(self.name, version).await {
                Ok(()) => {}
                Err(e) if e.kind == crate::provider::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(failed(
                        format!("destroying {version} in {addr}: {e}"),
                        RESUME,
                    ));
                }
            }
        }
        self.record_version(version, |v| v.destroy(now)).await?;
        Ok(Done::Now(format!("destroyed {version}")))
    }
}
