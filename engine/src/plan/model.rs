//! The plan as data: what apply executes, the checker checks and the
//! renderers show. Nothing here decides what to do; `build` does.

use super::GateId;
use crate::names::{ConsumerName, FamilyName, VersionId};
use crate::spec::{Resolved, Window};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The plan format this build writes; `rotor apply PLANFILE` refuses a saved
/// plan of any other.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// One action. A small closed set; everything rotor does is one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Generate material and write it, non-primary, to every store.
    Create {
        /// The declared version id; also its `kid`.
        version: VersionId,
        /// How (`rsa 2048`).
        generator: String,
        /// Every store of the family, by address; it is written to each.
        stores: Vec<String>,
        /// The stores already hold it (an interrupted apply): record, do not generate.
        adopt: bool,
    },
    /// Put a revoked (disabled) version back into every key set.
    Restore {
        /// The revoked version to enable again.
        version: VersionId,
    },
    /// Rewrite a publisher's document with the family's enabled versions.
    ///
    /// `add`, `remove` and `kids` are what the planner expects, for people
    /// and the safety checker: apply publishes the public keys the first
    /// store holds when the step runs.
    Publish {
        /// Publisher address (`publish.jwks.public`).
        publisher: String,
        /// Kids the publisher lacks, or lists with another key than the store's.
        add: Vec<String>,
        /// Kids it lists that the stores no longer hold and no version is
        /// leaving through.
        remove: Vec<String>,
        /// Every kid listed after the rewrite: the store's enabled key set
        /// and the versions entering now.
        kids: Vec<String>,
    },
    /// Wait for a verifier to accept a version.
    AwaitAccept {
        /// The version to be accepted.
        version: VersionId,
        /// The verifier, by consumer name.
        consumer: ConsumerName,
    },
    /// Make a version the primary that emitters use.
    Promote {
        /// The version to make the primary: the spec's `active`.
        version: VersionId,
        /// The primary it replaces, as state records it; `None` for a first promote.
        from: Option<VersionId>,
        /// Going back to an older, still-accepted version.
        rollback: bool,
    },
    /// Wait for an emitter to use the new primary.
    AwaitEmit {
        /// The new primary.
        version: VersionId,
        /// The emitter, by consumer name.
        consumer: ConsumerName,
    },
    /// Hold the old versions for the overlap after the successor's promote.
    Hold {
        /// The versions going out of use, held until they drain.
        retiring: Vec<VersionId>,
        /// The new primary.
        successor: VersionId,
    },
    /// Disable a version: out of every key set, restorable.
    Revoke {
        /// A version the spec no longer declares.
        version: VersionId,
    },
    /// Destroy a revoked version's material after the grace period.
    Destroy {
        /// A version revoked by an earlier step, or revoked before and no
        /// longer declared.
        version: VersionId,
    },
}

impl Action {
    /// The version the action is about; `None` for a publish or a hold.
    pub fn version(&self) -> Option<&VersionId> {
        match self {
            Action::Create { version, .. }
            | Action::Restore { version }
            | Action::AwaitAccept { version, .. }
            | Action::Promote { version, .. }
            | Action::AwaitEmit { version, .. }
            | Action::Revoke { version }
            | Action::Destroy { version } => Some(version),
            Action::Hold { .. } | Action::Publish { .. } => None,
        }
    }

    /// What the action is about, for one-line progress: a version, a
    /// publisher, or the versions being held.
    pub fn target(&self) -> String {
        match self {
            Action::Publish { publisher, .. } => publisher.clone(),
            Action::Hold { retiring, .. } => retiring.join(", "),
            Action::AwaitAccept { version, consumer } | Action::AwaitEmit { version, consumer } => {
                format!("{version} by consumer.{consumer}")
            }
            other => other
                .version()
                .map(VersionId::to_string)
                .unwrap_or_default(),
        }
    }

    /// A short verb for tables.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create { adopt: true, .. } => "adopt",
            Action::Create { .. } => "create",
            Action::Restore { .. } => "restore",
            Action::Publish { .. } => "publish",
            Action::AwaitAccept { .. } => "accept",
            Action::Promote { rollback: true, .. } => "rollback",
            Action::Promote { .. } => "promote",
            Action::AwaitEmit { .. } => "emit",
            Action::Hold { .. } => "hold",
            Action::Revoke { .. } => "revoke",
            Action::Destroy { .. } => "destroy",
        }
    }
}

/// What kind of gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// A time window.
    Window,
    /// A verification probe.
    Probe,
    /// A person's approval (`rotor approve`).
    Manual,
}

/// Whether a gate is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    /// Satisfied when the plan was made.
    Open,
    /// Not yet; a window shows when it opens.
    Pending,
}

/// A condition a step waits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// What opens it.
    pub kind: GateKind,
    /// `accept window`, `command probe`, `manual approval accept.api_gateway`.
    pub name: String,
    /// As of the plan's `made_at`; apply judges each gate again when the
    /// step runs.
    pub status: GateStatus,
    /// For windows: when it opens (projected when it depends on steps not yet run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<Timestamp>,
    /// Why: `published + 10m (consumer.api_gateway cache_ttl)`, a last probe result.
    pub detail: String,
    /// For a manual gate: the id `rotor approve` takes to open it. Not
    /// written to JSON, where `name` says it; a plan read back from JSON has
    /// none, and only a plan just made is rendered with its approvals.
    #[serde(skip)]
    pub approves: Option<GateId>,
}

/// One step of a family's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based, in topological order.
    pub id: usize,
    /// What it does; flattened into the step's JSON under `action`.
    #[serde(flatten)]
    pub action: Action,
    /// Ids of the steps in the same family that must be done first.
    pub after: Vec<usize>,
    /// What it waits on besides `after`; all must open before it runs.
    pub gates: Vec<Gate>,
    /// Projected earliest start if everything before it ran now and probes passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest: Option<Timestamp>,
    /// Display only: why this step is in the plan.
    pub reason: String,
}

/// One family's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyPlan {
    /// The family (secret) name.
    pub family: FamilyName,
    /// The spec's `active`: the primary the steps lead to.
    pub active: Option<VersionId>,
    /// The overlap in force, as written (`2h`): the spec's `overlap`, else the floor.
    pub overlap: String,
    /// The floor, and which consumer sets it.
    pub overlap_floor: WindowView,
    /// The accept window, and which consumer sets it.
    pub accept_window: WindowView,
    /// Steps in order; empty when the family matches its spec.
    pub steps: Vec<Step>,
    /// Things the reader should know: drift, adopted versions, unmanaged versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Set when the family cannot be planned (drift that needs a person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

/// A window for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowView {
    /// The length as written (`2h`).
    pub length: String,
    /// Why it is this long, for people (`consumer.api caches key sets for
    /// 10m`, `no consumers`).
    pub set_by: String,
}

impl From<Window> for WindowView {
    fn from(w: Window) -> Self {
        WindowView {
            length: w.length.to_string(),
            set_by: w.set_by,
        }
    }
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Versions created (or adopted, or restored).
    pub create: usize,
    /// Promotes, rollbacks included.
    pub promote: usize,
    /// Revokes (disables).
    pub revoke: usize,
    /// Destroys.
    pub destroy: usize,
    /// Publisher rewrites.
    pub publish: usize,
    /// Steps that wait: accept, emit and hold.
    pub wait: usize,
    /// When the last time gate could open, if any is in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gated_until: Option<Timestamp>,
    /// Families that could not be planned.
    pub blocked: usize,
    /// Families the spec no longer declares whose versions are still live.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undeclared: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
/// A plan: plain data. Apply executes it and never re-plans silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT_VERSION`] when made.
    pub format_version: u32,
    /// When it was made: the base of projected times, and the `now` the
    /// safety checker judges its steps at.
    pub made_at: Timestamp,
    /// [`Resolved::hash`] of the spec files it was made from; a saved plan
    /// is stale once the files hash otherwise.
    pub spec_hash: String,
    /// Lineage of the state it was made against (empty for a new state).
    pub lineage: String,
    /// The whole state's serial when it was made (0 with no state). Read
    /// only for a saved plan without `serials` (from before per-family
    /// serials).
    pub serial: u64,
    /// The serial of each planned family's record (0: none yet): a saved
    /// plan is stale once any of them moved, and only then — an apply on
    /// other families does not stale it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub serials: BTreeMap<FamilyName, u64>,
    /// Families with steps, blocked families, in spec order.
    pub families: Vec<FamilyPlan>,
    /// Counts of `families`' steps, recounted when the plan is narrowed.
    pub summary: Summary,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.families
            .iter()
            .all(|f| f.steps.is_empty() && f.blocked.is_none())
    }

    /// The summary line: `Plan: 1 to create, 1 to promote, 1 to revoke (gated until …).`
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        if self.is_empty() && s.undeclared > 0 {
            return format!(
                "No changes to the declared families; {} famil{} no longer declared still hold{} live versions (see below).",
                s.undeclared,
                if s.undeclared == 1 { "y" } else { "ies" },
                if s.undeclared == 1 { "s" } else { "" }
            );
        }
        if self.is_empty() {
            return "No changes. Every family matches its spec.".into();
        }
        let mut parts = Vec::new();
        for (n, what) in [
            (s.create, "to create"),
            (s.promote, "to promote"),
            (s.revoke, "to revoke"),
            (s.destroy, "to destroy"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            parts.push(format!(
                "{} step{} to run",
                self.step_count(),
                plural(self.step_count())
            ));
        }
        let mut line = format!("Plan: {}", parts.join(", "));
        if let Some(t) = s.gated_until {
            line.push_str(&format!(" (gated until {})", t.human()));
        }
        if s.blocked > 0 {
            line.push_str(&format!(
                "; {} famil{} blocked",
                s.blocked,
                if s.blocked == 1 { "y" } else { "ies" }
            ));
        }
        line.push('.');
        line
    }

    /// Number of steps.
    pub fn step_count(&self) -> usize {
        self.families.iter().map(|f| f.steps.len()).sum()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
impl Summary {
    /// Counts the steps of `families`.
    pub(super) fn of(resolved: &Resolved, families: &[FamilyPlan], now: Timestamp) -> Summary {
        let mut summary = Summary::default();
        for f in families {
            if f.blocked.is_some() {
                summary.blocked += 1;
            }
            if resolved.family_by_name(&f.family).is_none() {
                summary.undeclared += 1;
            }
            for s in &f.steps {
                match s.action {
                    Action::Create { .. } | Action::Restore { .. } => summary.create += 1,
                    Action::Promote { .. } => summary.promote += 1,
                    Action::Revoke { .. } => summary.revoke += 1,
                    Action::Destroy { .. } => summary.destroy += 1,
                    Action::Publish { .. } => summary.publish += 1,
                    _ => summary.wait += 1,
                }
                if let Some(t) = s.earliest.filter(|t| *t > now) {
                    summary.gated_until =
                        Some(summary.gated_until.map_or(t, |g: Timestamp| g.max(t)));
                }
            }
        }
        summary
    }
}

impl Plan {
    /// Keeps only the families in `scope`, the summary counted again: an
    /// apply that leased some families plans for those alone.
    pub fn restrict(&mut self, resolved: &Resolved, scope: &BTreeSet<FamilyName>) {
        self.families.retain(|f| scope.contains(&f.family));
        self.serials.retain(|f, _| scope.contains(f));
        self.summary = Summary::of(resolved, &self.families, self.made_at);
    }

    /// Families with steps to run.
    pub fn families_with_steps(&self) -> BTreeSet<FamilyName> {
        self.families
            .iter()
            .filter(|f| !f.steps.is_empty())
            .map(|f| f.family.clone())
            .collect()
    }
}
