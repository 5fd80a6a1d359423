//! The safety checker: separate from the planner, and deliberately simple.
//!
//! [`check_plan`] runs on every plan before it is shown or applied. It reads
//! only the steps, their `after` edges and the state, and rejects any plan in
//! which, under *any* order the DAG allows:
//!
//! - a promote can run before every verifier has accepted the version;
//! - a revoke of a version that emitters used can run before its successor is
//!   promoted, accepted by every verifier, emitted by every emitter and held
//!   for the overlap;
//! - the family can be left with no enabled version, or the active version revoked.
//!
//! [`check_promote`] and [`check_revoke`] run again right before each promote
//! and revoke at apply time, against recorded evidence and the clock.

use crate::plan::{Action, FamilyPlan, Plan, Step};
use crate::spec::{Family, ProbePhase, Resolved};
use crate::state::{FamilyState, Phase, State, VersionState};
use crate::time::{Duration, Timestamp};
use std::collections::BTreeSet;

/// Why a plan or an action is unsafe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe {family} step {step}: {reason}")]
pub struct Violation {
    /// Family.
    pub family: String,
    /// Step id (0 for a runtime check).
    pub step: usize,
    /// What rule it breaks.
    pub reason: String,
    /// When only time is missing (a window still running): when it opens.
    /// Apply waits for it instead of failing.
    pub opens_at: Option<Timestamp>,
}

/// Builds a violation of one family with no step (a runtime check).
fn violation(family: &str) -> impl Fn(String) -> Violation + '_ {
    move |reason| Violation {
        family: family.to_string(),
        step: 0,
        reason,
        opens_at: None,
    }
}

/// Whether a version emitters used has drained: a hold recorded it, and the
/// overlap in force has passed since it stopped being the primary (the overlap
/// may have grown since the hold). A promote of the version clears the record.
pub fn drained(v: &VersionState, overlap: Duration, now: Timestamp) -> bool {
    v.drained_at.is_some() && v.retired_at.is_some_and(|r| r + overlap <= now)
}

/// Checks a whole plan. Returns every violation.
pub fn check_plan(resolved: &Resolved, state: &State, plan: &Plan) -> Vec<Violation> {
    let mut out = Vec::new();
    for fp in &plan.families {
        let Some(family) = resolved.family_by_name(&fp.family) else {
            out.push(violation(&fp.family)(
                "the plan names a family the spec does not declare".into(),
            ));
            continue;
        };
        let fstate = state.family(&fp.family).cloned().unwrap_or_default();
        check_family(resolved, family, &fstate, fp, plan.made_at, &mut out);
    }
    out
}

/// All steps a step transitively runs after.
fn ancestors(steps: &[Step], index: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<usize> = steps[index].after.clone();
    while let Some(id) = todo.pop() {
        if seen.insert(id)
            && let Some(s) = steps.iter().find(|s| s.id == id)
        {
            todo.extend(s.after.iter().copied());
        }
    }
    seen
}

fn check_family(
    r: &Resolved,
    family: &Family,
    fstate: &FamilyState,
    fp: &FamilyPlan,
    made_at: Timestamp,
    out: &mut Vec<Violation>,
) {
    let spec = &r.spec;
    let steps = &fp.steps;
    let mut bad = |step: usize, reason: String| {
        out.push(Violation {
            family: fp.family.clone(),
            step,
            reason,
            opens_at: None,
        })
    };
    for (i, s) in steps.iter().enumerate() {
        if s.id != i + 1 || s.after.iter().any(|a| *a == 0 || *a >= s.id) {
            bad(
                s.id,
                "steps must be numbered in order and run only after earlier steps".into(),
            );
            return;
        }
    }
    let verifiers: Vec<&str> = family
        .verifiers
        .iter()
        .map(|&c| spec.consumers[c].name.as_str())
        .collect();
    let emitters: Vec<&str> = family
        .emitters
        .iter()
        .map(|&c| spec.consumers[c].name.as_str())
        .collect();
    let has_step = |anc: &BTreeSet<usize>, pred: &dyn Fn(&Action) -> bool| {
        anc.iter().any(|a| pred(&steps[a - 1].action))
    };
    // The primary after the plan: the last promote, else the state's.
    let final_active = steps
        .iter()
        .rev()
        .find_map(|s| match &s.action {
            Action::Promote { version, .. } => Some(version.clone()),
            _ => None,
        })
        .or_else(|| fstate.active.clone());
    let promotes = steps
        .iter()
        .filter(|s| matches!(s.action, Action::Promote { .. }))
        .count();
    if promotes > 1 {
        bad(0, "a plan promotes at most one version per family".into());
    }

    for (i, s) in steps.iter().enumerate() {
        let anc = ancestors(steps, i);
        let accepted_by = |v: &str, c: &str| {
            let restored = has_step(
                &anc,
                &|a| matches!(a, Action::Restore { version } if version == v),
            );
            (!restored
                && fstate
                    .versions
                    .get(v)
                    .is_some_and(|vs| vs.accepted.contains_key(c)))
                || has_step(
                    &anc,
                    &|a| matches!(a, Action::AwaitAccept { version, consumer } if version == v && consumer == c),
                )
        };
        let exists = |v: &str| {
            fstate
                .versions
                .get(v)
                .is_some_and(|vs| vs.phase.is_accepted_set())
                || has_step(
                    &anc,
                    &|a| matches!(a, Action::Create { version, .. } | Action::Restore { version } if version == v),
                )
        };
        match &s.action {
            Action::Promote { version, .. } => {
                if !exists(version) {
                    bad(
                        s.id,
                        format!("promote of {version} before it exists in the stores"),
                    );
                }
                for c in &verifiers {
                    if !accepted_by(version, c) {
                        bad(
                            s.id,
                            format!("promote of {version} before consumer.{c} accepted it"),
                        );
                    }
                }
            }
            Action::AwaitAccept { version, .. } | Action::AwaitEmit { version, .. } => {
                if !exists(version) {
                    bad(
                        s.id,
                        format!("waiting on {version} before it exists in the stores"),
                    );
                }
                if matches!(s.action, Action::AwaitEmit { .. })
                    && fstate.active.as_deref() != Some(version.as_str())
                    && !has_step(
                        &anc,
                        &|a| matches!(a, Action::Promote { version: p, .. } if p == version),
                    )
                {
                    bad(
                        s.id,
                        format!("waiting for emitters to use {version} before it is promoted"),
                    );
                }
            }
            Action::Revoke { version } => {
                let Some(successor) = final_active.clone() else {
                    bad(
                        s.id,
                        format!("revoke of {version} leaves the family with no active version"),
                    );
                    continue;
                };
                if &successor == version {
                    bad(s.id, format!("revoke of {version}, the active version"));
                    continue;
                }
                let vs = fstate.versions.get(version);
                let was_emitted = vs.is_some_and(|v| v.promoted_at.is_some());
                let promoted_now = fstate.active.as_deref() == Some(successor.as_str());
                let promoted_before = promoted_now
                    || has_step(
                        &anc,
                        &|a| matches!(a, Action::Promote { version: p, .. } if *p == successor),
                    );
                if fstate.active.as_deref() == Some(version.as_str()) && !promoted_before {
                    bad(
                        s.id,
                        format!("revoke of {version} before {successor} is promoted"),
                    );
                }
                if !exists(&successor) {
                    bad(
                        s.id,
                        format!(
                            "revoke of {version} while its successor {successor} does not exist"
                        ),
                    );
                }
                for c in &verifiers {
                    if !accepted_by(&successor, c) {
                        bad(
                            s.id,
                            format!("revoke of {version} before consumer.{c} accepted {successor}"),
                        );
                    }
                }
                if was_emitted {
                    if !promoted_before {
                        bad(
                            s.id,
                            format!("revoke of {version} before {successor} is promoted"),
                        );
                    }
                    for c in &emitters {
                        let emitted = (promoted_now
                            && !has_step(&anc, &|a| matches!(a, Action::Promote { .. }))
                            && fstate
                                .versions
                                .get(&successor)
                                .is_some_and(|v| v.emitted.contains_key(*c)))
                            || has_step(
                                &anc,
                                &|a| matches!(a, Action::AwaitEmit { version: e, consumer } if *e == successor && consumer == c),
                            );
                        if !emitted {
                            bad(
                                s.id,
                                format!(
                                    "revoke of {version} before consumer.{c} emits {successor}"
                                ),
                            );
                        }
                    }
                    let drained = vs.is_some_and(|v| drained(v, r.overlap(family), made_at))
                        || has_step(
                            &anc,
                            &|a| matches!(a, Action::Hold { retiring, .. } if retiring.contains(version)),
                        );
                    if !drained {
                        bad(
                            s.id,
                            format!("revoke of {version} before the overlap was held"),
                        );
                    }
                }
            }
            Action::Destroy { version } => {
                let revoked = fstate
                    .versions
                    .get(version)
                    .is_some_and(|v| v.phase == Phase::Revoked)
                    || has_step(
                        &anc,
                        &|a| matches!(a, Action::Revoke { version: v } if v == version),
                    );
                if !revoked {
                    bad(s.id, format!("destroy of {version} before it is revoked"));
                }
            }
            Action::Hold { .. }
            | Action::Create { .. }
            | Action::Restore { .. }
            | Action::Publish { .. } => {}
        }
    }
}

/// Right before a promote at apply time: every verifier has evidence, and the
/// version has been published for at least the accept window.
pub fn check_promote(
    r: &Resolved,
    family: &Family,
    state: &State,
    version: &str,
    now: Timestamp,
) -> Result<(), Violation> {
    let name = &r.spec.secrets[family.secret].name;
    let fail = violation(name);
    let vs = state
        .version(name, version)
        .ok_or_else(|| fail(format!("promote of {version}, which is not in state")))?;
    if !vs.phase.is_accepted_set() {
        return Err(fail(format!(
            "promote of {version}, which is {}",
            vs.phase.as_str()
        )));
    }
    for &c in &family.verifiers {
        let c = &r.spec.consumers[c];
        if !vs.accepted.contains_key(&c.name) {
            return Err(fail(format!(
                "promote of {version} without acceptance evidence from consumer.{}",
                c.name
            )));
        }
        let published = vs
            .published_at
            .ok_or_else(|| fail(format!("promote of {version}, which was never published")))?;
        if now < published + c.cache() {
            return Err(Violation {
                opens_at: Some(published + c.cache()),
                ..fail(format!(
                    "promote of {version} before consumer.{}'s cache window ({}) has passed since it was published",
                    c.name,
                    c.cache()
                ))
            });
        }
    }
    Ok(())
}

/// Right before a revoke at apply time: the active version is another one,
/// accepted by every verifier, emitted by every emitter, and (if the revoked
/// version was ever used by emitters) held for the overlap since its promote.
pub fn check_revoke(
    r: &Resolved,
    family: &Family,
    state: &State,
    version: &str,
    now: Timestamp,
) -> Result<(), Violation> {
    let name = &r.spec.secrets[family.secret].name;
    let fail = violation(name);
    let fstate = state
        .family(name)
        .ok_or_else(|| fail("no state for the family".into()))?;
    let active = fstate
        .active
        .as_ref()
        .ok_or_else(|| fail(format!("revoke of {version} with no active version")))?;
    if active == version {
        return Err(fail(format!("revoke of {version}, the active version")));
    }
    let avs = &fstate.versions[active];
    for &c in &family.verifiers {
        let c = &r.spec.consumers[c];
        if !avs.accepted.contains_key(&c.name) {
            return Err(fail(format!(
                "revoke of {version} before consumer.{} accepted {active}",
                c.name
            )));
        }
    }
    let vs = fstate
        .versions
        .get(version)
        .ok_or_else(|| fail(format!("revoke of {version}, which is not in state")))?;
    // A version emitters used must drain: its successor emitted and held for the
    // overlap. A recorded drain is that proof, even if `active` has moved on again since.
    if vs.promoted_at.is_some() && !drained(vs, r.overlap(family), now) {
        for &c in &family.emitters {
            let c = &r.spec.consumers[c];
            if !avs.emitted.contains_key(&c.name) {
                return Err(fail(format!(
                    "revoke of {version} before consumer.{} emits {active}",
                    c.name
                )));
            }
        }
        let promoted = avs
            .promoted_at
            .ok_or_else(|| fail(format!("{active} has no promote time")))?;
        let overlap = r.overlap(family);
        if now < promoted + overlap {
            return Err(fail(format!(
                "revoke of {version} before the overlap ({overlap}) since {active} was promoted"
            )));
        }
    }
    // Drain probes, where declared, must have seen the version's traffic gone.
    if vs.promoted_at.is_some() {
        for c in family.consumers(r) {
            // Evidence from before the version last stopped being the primary does not count.
            let fresh = vs
                .drain
                .get(&c.name)
                .is_some_and(|e| vs.retired_at.is_none_or(|r| e.at >= r));
            if c.probes(ProbePhase::Drain).next().is_some() && !fresh {
                return Err(fail(format!(
                    "revoke of {version} before the drain probe of consumer.{} passed",
                    c.name
                )));
            }
        }
    }
    if vs.promoted_at.is_some()
        && let Some((h, c)) = r.hold_until(family).filter(|(h, _)| now < *h)
    {
        return Err(fail(format!(
            "revoke of {version} before {}, the hold_until of consumer.{}",
            h.human(),
            c.name
        )));
    }
    let enabled_after = fstate
        .versions
        .iter()
        .filter(|(id, v)| *id != version && v.phase.is_accepted_set())
        .count();
    if enabled_after == 0 {
        return Err(fail(format!(
            "revoke of {version} would leave no accepted version"
        )));
    }
    Ok(())
}
