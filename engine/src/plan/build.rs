//! Making the plan: [`plan`] plans every family, one at a time, and lists
//! the families the spec forgot.
//!
//! One family is planned by a [`FamilyPlanner`] in stages, one submodule
//! each, every stage pushing its steps after the ones before:
//! `drift` (may block the family) → `accept` (create, adopt or restore) →
//! `publish` → `accept` (await every verifier) → `promote` (then await every
//! emitter) → `retire` (hold, revoke, destroy). [`FamilyPlanner::stages`]
//! is that order, and what each stage hands the next.

mod accept;
mod drift;
mod promote;
mod publish;
mod retire;

use super::gates::annotate;
use super::model::{Action, FamilyPlan, PLAN_FORMAT_VERSION, Plan, Step, Summary, WindowView};
use crate::names::VersionId;
use crate::refresh::{Live, LiveView};
use crate::spec::{Family, Resolved, SecretSpec};
use crate::state::{FamilyState, State};
use crate::time::Timestamp;
use std::collections::HashSet;

/// Families that state holds with live versions and the spec no longer
/// declares: deleting a `secret` block does not make its material go away,
/// so the plan says so, every time, instead of "No changes".
fn forgotten(resolved: &Resolved, state: &State) -> Vec<FamilyPlan> {
    state
        .families
        .iter()
        .filter(|(name, _)| resolved.family_by_name(*name).is_none())
        .filter_map(|(name, f)| {
            let live = f.live_versions();
            if live.is_empty() {
                return None;
            }
            let none = || WindowView {
                length: "-".into(),
                set_by: String::new(),
            };
            Some(FamilyPlan {
                family: name.clone(),
                active: f.active.clone(),
                overlap: "-".into(),
                overlap_floor: none(),
                accept_window: none(),
                steps: Vec::new(),
                notes: vec![format!(
                    "no longer declared, but its material is live in the stores: {}. Declare `secret \"{name}\"` again to keep managing it (its history is kept), or `rotor state rm {name}` to forget it and leave the material where it is; rotor never forgets it silently",
                    live.join(", ")
                )],
                blocked: None,
            })
        })
        .collect()
}
/// Makes the plan. Deterministic: the same spec, state, live view and `now`
/// give the same plan, byte for byte.
pub fn plan(resolved: &Resolved, state: &State, live: &Live, now: Timestamp) -> Plan {
    let empty = LiveView::default();
    let plan_some = |families: &[Family]| -> Vec<FamilyPlan> {
        families
            .iter()
            .map(|family| {
                let name = &resolved.spec.secrets[family.secret].name;
                let view = live.get(name).unwrap_or(&empty);
                plan_family(resolved, family, state, view, now)
            })
            .filter(|fp| !fp.steps.is_empty() || fp.blocked.is_some() || !fp.notes.is_empty())
            .collect()
    };
    // Families are planned independently: split large specs over the cores,
    // keeping spec order so the plan stays the same byte for byte.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let families: Vec<FamilyPlan> = if resolved.families.len() < 512 || threads < 2 {
        plan_some(&resolved.families)
    } else {
        let per = resolved.families.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = resolved
                .families
                .chunks(per)
                .map(|part| scope.spawn(move || plan_some(part)))
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("planner thread"))
                .collect()
        })
    };
    let mut families = families;
    families.extend(forgotten(resolved, state));
    let summary = Summary::of(resolved, &families, now);
    let serials = families
        .iter()
        .map(|f| {
            let serial = state.family(&f.family).map_or(0, |s| s.serial);
            (f.family.clone(), serial)
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        made_at: now,
        spec_hash: resolved.hash.clone(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        serials,
        families,
        summary,
    }
}

/// Builds one family's steps.
struct Builder {
    steps: Vec<Step>,
}

impl Builder {
    fn push(&mut self, action: Action, after: Vec<usize>, reason: impl Into<String>) -> usize {
        let id = self.steps.len() + 1;
        let mut after = after;
        after.sort_unstable();
        after.dedup();
        after.retain(|a| *a < id);
        self.steps.push(Step {
            id,
            action,
            after,
            gates: Vec::new(),
            earliest: None,
            reason: reason.into(),
        });
        id
    }
}

/// Plans one family: its stages in the plan's order, each pushing its steps
/// after the ones before. A family that cannot be planned comes back with
/// `blocked` set, the notes found so far, and no steps.
fn plan_family(
    r: &Resolved,
    family: &Family,
    state: &State,
    live: &LiveView,
    now: Timestamp,
) -> FamilyPlan {
    let mut planner = FamilyPlanner::new(r, family, state, live, now);
    match planner.stages() {
        Ok(()) => planner.finish(),
        Err(Blocked(why)) => {
            planner.fp.blocked = Some(why);
            planner.fp
        }
    }
}

/// Why a family cannot be planned (drift that needs a person, a store that
/// cannot be read): the text of [`FamilyPlan::blocked`].
struct Blocked(String);

/// What the stages of one family's plan share: the inputs, what is derived
/// from them once, and the plan being made.
struct FamilyPlanner<'a> {
    r: &'a Resolved,
    family: &'a Family,
    secret: &'a SecretSpec,
    state: &'a State,
    /// The family's record in state (empty for a family never applied).
    fstate: FamilyState,
    live: &'a LiveView,
    now: Timestamp,
    /// The version `active` names.
    target: Option<VersionId>,
    /// The ids the spec declares. A set, not a scan: a family may declare
    /// thousands of versions.
    declared: HashSet<&'a str>,
    /// The family's stores, in spec order.
    store_addrs: Vec<String>,
    /// The plan being made: its notes and `blocked`; the steps are in `b`
    /// until [`FamilyPlanner::finish`].
    fp: FamilyPlan,
    b: Builder,
}

/// What the promote stage planned, for the stages after it.
struct Promoted {
    /// The promote step, if `active` moves (or the primary is set again).
    step: Option<usize>,
    /// The steps waiting for each emitter to use the target.
    emits: Vec<usize>,
}

/// What the revoke stage planned, for the destroys.
struct Revoked {
    /// Each revoked version and its revoke step.
    revokes: Vec<(VersionId, usize)>,
    /// The rewrites that take the revoked versions out of the key sets.
    unpublish: Vec<usize>,
}

impl<'a> FamilyPlanner<'a> {
    fn new(
        r: &'a Resolved,
        family: &'a Family,
        state: &'a State,
        live: &'a LiveView,
        now: Timestamp,
    ) -> Self {
        let spec = &r.spec;
        let secret = &spec.secrets[family.secret];
        let declared = secret.versions.iter().map(|v| v.id.as_str()).collect();
        let fstate = state.family(&secret.name).cloned().unwrap_or_default();
        let target = secret.active.as_ref().map(|a| a.value.clone());
        let fp = FamilyPlan {
            family: secret.name.clone(),
            active: target.clone(),
            overlap: r.overlap(family).to_string(),
            overlap_floor: r.overlap_floor(family).into(),
            accept_window: r.accept_window(family).into(),
            steps: Vec::new(),
            notes: Vec::new(),
            blocked: None,
        };
        let store_addrs = family
            .stores
            .iter()
            .map(|&s| spec.stores[s].address())
            .collect();
        FamilyPlanner {
            r,
            family,
            secret,
            state,
            fstate,
            live,
            now,
            target,
            declared,
            store_addrs,
            fp,
            b: Builder { steps: Vec::new() },
        }
    }

    fn declares(&self, id: &VersionId) -> bool {
        self.declared.contains(id.as_str())
    }

    /// The stages, in the order their steps appear in the plan.
    fn stages(&mut self) -> Result<(), Blocked> {
        let repromote = self.drift()?;
        let entering = self.accept_new()?;
        let leaving = self.leaving();
        let publish_step = self.publish(&entering, &leaving);
        let accept_steps = self.await_accept(&entering, &publish_step);
        let promoted = self.promote_emit(&entering, &accept_steps, repromote);
        self.retire(&leaving, &accept_steps, &promoted);
        Ok(())
    }

    /// The plan with its steps, gates and projected times filled in.
    fn finish(self) -> FamilyPlan {
        let mut fp = self.fp;
        fp.steps = self.b.steps;
        annotate(self.r, self.family, &self.fstate, &mut fp.steps, self.now);
        fp
    }

    /// The versions that leave: in the key sets, no longer declared.
    fn leaving(&self) -> Vec<VersionId> {
        self.fstate
            .versions
            .iter()
            .filter(|(id, v)| v.phase.is_accepted_set() && !self.declares(id))
            .map(|(id, _)| id.clone())
            .collect()
    }
}
