//! Apply: run a plan's steps against the providers, recording each one in
//! state the moment it completes.
//!
//! Every step is idempotent against state: a step whose effect is already
//! recorded is skipped, so running the same plan again (after a crash, or in
//! `--wait` rounds) resumes where the last run stopped and creates nothing
//! twice. A gate that is not open yet leaves the step *waiting*; steps after
//! it wait too, everything independent still runs, and the apply ends cleanly.
//!
//! This file holds the public surface (outcomes, reports, options, the
//! [`Recorder`], [`apply`]) and `Ctx`, one family's view while its steps
//! run. The steps themselves are `impl Ctx` blocks by what they do to a
//! version: `create.rs` puts one into the stores (create, restore), `gates.rs`
//! waits on consumers (publish, accept and emit gates, probes), `retire.rs`
//! moves one out of service (promote, hold, revoke, destroy). What a step
//! changes in a version's record is a method on the state types
//! (`state/transitions.rs`).

mod create;
mod gates;
mod retire;

use crate::names::{FamilyName, VersionId};
use crate::plan::{Action, Step};
use crate::provider::{FirmGround, Ground, Providers};
use crate::spec::{Family, ProbePhase, Resolved};
use crate::state::{Event, FamilyState, State, StateError, VersionState};
use crate::time::Timestamp;
use crate::{StateBackend, Store};
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Ran now; what it did, for people.
    Done(String),
    /// Its effect was already recorded.
    AlreadyDone,
    /// A gate is not open yet.
    Waiting {
        /// What it waits on, for people: a window (`overlap`,
        /// `consumer.api cache window`), `manual approval accept.api`,
        /// `command probe emit.issuer`.
        gate: String,
        /// When a window opens, if it is a window; `None` when a probe, an
        /// approval or another step opens it.
        until: Option<Timestamp>,
        /// Why, for people.
        detail: String,
    },
    /// Not run: a step it runs after is not done, an earlier step of the
    /// family failed, or the apply is stopping ([`ApplyOptions::stop`]).
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
    pub family: FamilyName,
    /// Every step of the family's plan, in plan order, with its id.
    pub outcomes: Vec<(usize, StepOutcome)>,
}

/// The result of one apply pass.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// The families run, in plan order; a blocked or undeclared family has
    /// no report.
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
    fn step(&self, family: &FamilyName, step: &Step, outcome: &StepOutcome);
    /// A step is about to run (its predecessors are done).
    fn started(&self, family: &FamilyName, step: &Step) {
        let _ = (family, step);
    }
}

/// A hook that reports nothing.
pub struct Silent;

impl Hook for Silent {
    fn step(&self, _: &FamilyName, _: &Step, _: &StepOutcome) {}
}

/// Settings of one apply pass.
#[derive(Clone)]
pub struct ApplyOptions {
    /// How many families run at once (0 counts as 1); a family's own steps
    /// run one after another.
    pub parallelism: usize,
    /// When the `--wait` run began; probes failing past their `within` from
    /// here fail the family. `None` outside `--wait`: a failing probe waits.
    pub deadline_base: Option<Timestamp>,
    /// Checked right before every promote, revoke and destroy.
    pub ground: Arc<dyn Ground>,
    /// Take over families a store marks as another state's (`--adopt`):
    /// the recovery of a lost state on stores that keep an owner marker.
    pub adopt: bool,
    /// The families this apply leased, when it leased some: fresh plans
    /// made while it runs cover these alone.
    pub scope: Option<BTreeSet<FamilyName>>,
    /// Set when the user asked the apply to stop (Ctrl-C): from then on no
    /// step starts (each is reported [`StepOutcome::Blocked`]), while the
    /// steps already running finish and are recorded. `None`: never.
    pub stop: Option<Arc<AtomicBool>>,
}

impl ApplyOptions {
    /// `parallelism` families at once, no `--wait`, ground that never moves.
    pub fn new(parallelism: usize) -> ApplyOptions {
        ApplyOptions {
            parallelism,
            deadline_base: None,
            ground: Arc::new(FirmGround),
            adopt: false,
            scope: None,
            stop: None,
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
    pub fn family_view(&self, name: &FamilyName) -> State {
        let guard = self.state.lock().expect("state lock");
        let mut view = State::new(guard.lineage.clone());
        view.serial = guard.serial;
        if let Some(f) = guard.families.get(name) {
            view.families.insert(name.clone(), f.clone());
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
        family: &FamilyName,
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
            .save_family_soon(lineage, family.clone(), record.clone())
            .await?;
        let mut guard = self.state.lock().expect("state lock");
        guard.families.insert(family.clone(), record);
        guard.serial += 1;
        Ok(())
    }

    /// Hands the step's history line to the backend; `None` for a step that
    /// neither ran nor failed. The returned future says when it is written.
    /// A step does not wait for it (the history is not what the checker
    /// judges from): the family's pass does, at its end, and ignores a
    /// failure to append, since the history is for people and the step's
    /// effect is already in the family's record.
    fn event(
        &self,
        family: &FamilyName,
        step: &Step,
        outcome: &StepOutcome,
        at: Timestamp,
    ) -> Option<futures_util::future::BoxFuture<'a, Result<(), StateError>>> {
        let (outcome, detail) = match outcome {
            StepOutcome::Done(detail) => ("done", detail.clone()),
            StepOutcome::Failed { error, .. } => ("failed", error.clone()),
            _ => return None,
        };
        let event = Event {
            at,
            family: family.clone(),
            what: format!("{} {}", step.action.verb(), step.action.target()),
            outcome: outcome.to_string(),
            actor: self.actor.clone(),
            detail,
        };
        Some(self.backend.append_event_soon(event))
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
                let mut lines = Vec::new();
                for step in &fp.steps {
                    let stopping = options
                        .stop
                        .as_ref()
                        .is_some_and(|s| s.load(Ordering::SeqCst));
                    let outcome =
                        if failed || stopping || step.after.iter().any(|a| !done.contains(a)) {
                            StepOutcome::Blocked
                        } else {
                            hook.started(&fp.family, step);
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
                    lines.extend(recorder.event(&fp.family, step, &outcome, providers.clock.now()));
                    hook.step(&fp.family, step, &outcome);
                    outcomes.push((step.id, outcome));
                }
                for line in lines {
                    let _ = line.await;
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
    let order: Vec<&FamilyName> = plan.families.iter().map(|f| &f.family).collect();
    families.sort_by_key(|f| order.iter().position(|n| **n == f.family));
    ApplyReport { families }
}

/// One family while its steps run: what a step reads (the spec, the
/// providers, this family's record) and where it records what it did.
struct Ctx<'a> {
    r: &'a Resolved,
    family: &'a Family,
    name: &'a FamilyName,
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
    /// The fields are [`StepOutcome::Waiting`]'s.
    Waiting {
        gate: String,
        until: Option<Timestamp>,
        detail: String,
    },
    /// It failed; the family stops here. The fields are
    /// [`StepOutcome::Failed`]'s.
    Failed { error: String, hint: String },
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

    fn version(&self, id: &VersionId) -> Option<VersionState> {
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
        version: &VersionId,
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

    fn stores(&self) -> Vec<(String, Arc<dyn Store>)> {
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
}
