//! The safety checker: separate from the planner, and deliberately simple.
//! One file on purpose (about 650 lines): every rule the promise rests on
//! reads in one place, for a reviewer who must convince themselves of it.
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

use crate::names::{FamilyName, VersionId};
use crate::plan::{Action, FamilyPlan, GateId, Plan, Step};
use crate::spec::{ConsumerSpec, Family, ProbePhase, Resolved};
use crate::state::{Approval, Evidence, FamilyState, Outcome, Phase, State, VersionState};
use crate::time::{Duration, Timestamp};

/// Why a plan or an action is unsafe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe {family} step {step}: {reason}")]
pub struct Violation {
    /// The family whose step or action it is.
    pub family: FamilyName,
    /// Step id (0 for a runtime check).
    pub step: usize,
    /// What rule it breaks.
    pub reason: String,
    /// When only time is missing (a window still running): when it opens.
    /// Apply waits for it instead of failing.
    pub opens_at: Option<Timestamp>,
}

/// Builds a violation of one family with no step (a runtime check).
fn violation(family: &FamilyName) -> impl Fn(String) -> Violation + '_ {
    move |reason| Violation {
        family: family.clone(),
        step: 0,
        reason,
        opens_at: None,
    }
}

/// Whether a version emitters used has drained: a hold recorded it at least
/// the overlap in force after it stopped being used (the overlap may have
/// grown since the hold), and that much time has passed. A promote of the
/// version clears the record; the times are checked here all the same.
pub fn drained(v: &VersionState, overlap: Duration, now: Timestamp) -> bool {
    let Some(since) = retired_since(v) else {
        return false;
    };
    v.drained_at.is_some_and(|d| d >= since + overlap) && since + overlap <= now
}

/// Whether a version is held long enough to leave: [`drained`], and past
/// every consumer's `hold_until`. The planner plans no hold for it, and the
/// hold step counts itself done, by this one test.
pub fn held_long_enough(v: &VersionState, r: &Resolved, family: &Family, now: Timestamp) -> bool {
    drained(v, r.overlap(family), now) && r.hold_until(family).is_none_or(|(h, _)| h <= now)
}

/// Since when a version has been out of use: the later of when a successor
/// was promoted over it and when it was found live without a history.
pub fn retired_since(v: &VersionState) -> Option<Timestamp> {
    match (v.retired_at, v.adopted_at) {
        (Some(r), Some(a)) => Some(r.max(a)),
        (r, a) => r.or(a),
    }
}

/// When the overlap before `retiring`'s revoke starts: the successor's
/// promote, or later when the facts say emitters kept using the old key
/// longer. A version found live without a history counts from then; an
/// emitter whose switch was seen late (its emit evidence came more than its
/// cache window after the promote: it was still on the old key when probed
/// before) counts from when it was seen switched, less its cache window.
pub fn hold_start(
    r: &Resolved,
    family: &Family,
    successor: &VersionState,
    retiring: &VersionState,
) -> Option<Timestamp> {
    let promoted = successor.promoted_at?;
    let seen = family
        .emitters
        .iter()
        .map(|&c| &r.spec.consumers[c])
        .filter_map(|c| evidence_in_term(ProbePhase::Emit, c, successor).map(|e| e.at - c.cache()))
        .max();
    Some(
        [Some(promoted), seen, retiring.adopted_at]
            .into_iter()
            .flatten()
            .max()
            .expect("promoted is there"),
    )
}

// Evidence is bound to the term it proves. Each phase's term starts at a
// fact recorded in state; evidence, approvals and passed probe attempts
// from before that start prove nothing about this term. These functions are
// the one place that says so: the planner asks them what is missing, apply
// asks them what it may skip, and the checks below refuse what they reject,
// whatever else the state says.

/// When `c` could first see `v`: when the publisher it reads (`via`) began
/// listing the version's key, or, without `via`, when the version entered
/// its stores' key sets.
pub fn accept_since(c: &ConsumerSpec, v: &VersionState) -> Option<Timestamp> {
    match &c.via {
        Some(via) => v.published.get(&via.to_string()).copied(),
        None => v.published_at,
    }
}

/// When the term a phase's evidence must follow began: the publication
/// `c` reads (accept), the version's latest promote (emit), when it went out
/// of use (drain), when it was disabled (guard).
pub fn term_start(phase: ProbePhase, c: &ConsumerSpec, v: &VersionState) -> Option<Timestamp> {
    match phase {
        ProbePhase::Accept => accept_since(c, v),
        ProbePhase::Emit => v.promoted_at,
        ProbePhase::Drain => retired_since(v),
        ProbePhase::Guard => v.disabled_at,
    }
}

/// `c`'s evidence for `phase` of `v`, if it proves the current term: for
/// accept and emit, gathered once `c`'s cache window had passed since the
/// term began; for drain and guard, gathered after it began.
pub fn evidence_in_term<'v>(
    phase: ProbePhase,
    c: &ConsumerSpec,
    v: &'v VersionState,
) -> Option<&'v Evidence> {
    let e = v.evidence(phase).get(&c.name)?;
    let start = term_start(phase, c, v)?;
    let earliest = match phase {
        ProbePhase::Accept | ProbePhase::Emit => start + c.cache(),
        ProbePhase::Drain | ProbePhase::Guard => start,
    };
    (e.at >= earliest).then_some(e)
}

/// A manual approval of `gate`, if given during the current term.
pub fn approval_in_term<'v>(
    phase: ProbePhase,
    c: &ConsumerSpec,
    v: &'v VersionState,
    gate: &GateId,
) -> Option<&'v Approval> {
    let a = v.approval_of(gate)?;
    let start = term_start(phase, c, v)?;
    (a.at >= start).then_some(a)
}

/// Whether the probe behind `gate` last passed during the current term.
pub fn passed_in_term(
    phase: ProbePhase,
    c: &ConsumerSpec,
    v: &VersionState,
    gate: &GateId,
) -> bool {
    let Some(start) = term_start(phase, c, v) else {
        return false;
    };
    v.last_attempt_of(gate)
        .is_some_and(|e| e.outcome == Outcome::Passed && e.at >= start)
}

/// Checks a whole plan. Returns every violation.
pub fn check_plan(resolved: &Resolved, state: &State, plan: &Plan) -> Vec<Violation> {
    let mut out = Vec::new();
    for fp in &plan.families {
        let Some(family) = resolved.family_by_name(&fp.family) else {
            // An undeclared family is only ever listed, never acted on.
            if !fp.steps.is_empty() {
                out.push(violation(&fp.family)(
                    "the plan names a family the spec does not declare".into(),
                ));
            }
            continue;
        };
        let fstate = state.family(&fp.family).cloned().unwrap_or_default();
        check_family(resolved, family, &fstate, fp, plan.made_at, &mut out);
    }
    out
}

/// A plan the safety checker accepted against a state: the only kind
/// [`crate::apply::apply`] runs. Made by [`CheckedPlan::check`] alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPlan(Plan);

impl CheckedPlan {
    /// Checks `plan` against `state` and the spec; every violation when it fails.
    pub fn check(
        resolved: &Resolved,
        state: &State,
        plan: Plan,
    ) -> Result<CheckedPlan, Vec<Violation>> {
        let violations = check_plan(resolved, state, &plan);
        if violations.is_empty() {
            Ok(CheckedPlan(plan))
        } else {
            Err(violations)
        }
    }

    /// The plan, to save or render.
    pub fn into_plan(self) -> Plan {
        self.0
    }
}

impl std::ops::Deref for CheckedPlan {
    type Target = Plan;
    fn deref(&self) -> &Plan {
        &self.0
    }
}

/// What a step (transitively) runs after, asked one question at a time.
///
/// Walks the `after` edges back from a step, stopping at the first step that
/// matches: most questions ("is there an accept of v before this?") are
/// answered a step or two back. One walker serves a whole family, its marks
/// stamped per walk, so that a family of thousands of versions is checked
/// without a set per step. Steps must be numbered 1.. in order (checked first).
struct Walker<'a> {
    steps: &'a [Step],
    seen: std::cell::RefCell<Vec<u32>>,
    walk: std::cell::Cell<u32>,
}

impl<'a> Walker<'a> {
    fn new(steps: &'a [Step]) -> Walker<'a> {
        Walker {
            steps,
            seen: std::cell::RefCell::new(vec![0; steps.len() + 1]),
            walk: std::cell::Cell::new(0),
        }
    }

    /// Whether a step the step at `index` (transitively) runs after matches `pred`.
    fn any_before(&self, index: usize, pred: &dyn Fn(&Action) -> bool) -> bool {
        let walk = self.walk.get() + 1;
        self.walk.set(walk);
        let mut seen = self.seen.borrow_mut();
        // Breadth first: the step asked about is usually a direct parent.
        let mut todo: std::collections::VecDeque<usize> =
            self.steps[index].after.iter().copied().collect();
        while let Some(id) = todo.pop_front() {
            if id == 0 || id > self.steps.len() || seen[id] == walk {
                continue;
            }
            seen[id] = walk;
            let s = &self.steps[id - 1];
            if pred(&s.action) {
                return true;
            }
            todo.extend(s.after.iter().copied());
        }
        false
    }
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
    let verifiers: Vec<&ConsumerSpec> = family
        .verifiers
        .iter()
        .map(|&c| &spec.consumers[c])
        .collect();
    let emitters: Vec<&ConsumerSpec> = family
        .emitters
        .iter()
        .map(|&c| &spec.consumers[c])
        .collect();
    let walker = Walker::new(steps);
    let has_step = |anc: &usize, pred: &dyn Fn(&Action) -> bool| walker.any_before(*anc, pred);
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
        let anc = i;
        let accepted_by = |v: &VersionId, c: &ConsumerSpec| {
            let restored = has_step(
                &anc,
                &|a| matches!(a, Action::Restore { version } if version == v),
            );
            // A rewrite of the publisher `c` reads that (re)adds the key
            // starts a new term: evidence from before it proves nothing.
            let republished = c.via.as_ref().is_some_and(|via| {
                let via = via.to_string();
                has_step(
                    &anc,
                    &|a| matches!(a, Action::Publish { publisher, add, .. } if *publisher == via && add.iter().any(|k| k == v.as_str())),
                )
            });
            (!restored
                && !republished
                && fstate
                    .versions
                    .get(v)
                    .is_some_and(|vs| evidence_in_term(ProbePhase::Accept, c, vs).is_some()))
                || has_step(
                    &anc,
                    &|a| matches!(a, Action::AwaitAccept { version, consumer } if version == v && *consumer == c.name),
                )
        };
        let exists = |v: &VersionId| {
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
                            format!(
                                "promote of {version} before consumer.{} accepted it",
                                c.name
                            ),
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
                    && fstate.active.as_ref() != Some(version)
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
                let was_emitted = vs.is_some_and(VersionState::was_used);
                // The successor counts as promoted only with a promote time to hold from.
                let promoted_now = fstate.active.as_ref() == Some(&successor)
                    && fstate
                        .versions
                        .get(&successor)
                        .is_some_and(|v| v.promoted_at.is_some());
                let promoted_before = promoted_now
                    || has_step(
                        &anc,
                        &|a| matches!(a, Action::Promote { version: p, .. } if *p == successor),
                    );
                if !promoted_before {
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
                            format!(
                                "revoke of {version} before consumer.{} accepted {successor}",
                                c.name
                            ),
                        );
                    }
                }
                if was_emitted {
                    for c in &emitters {
                        let emitted = (promoted_now
                            && !has_step(&anc, &|a| matches!(a, Action::Promote { .. }))
                            && fstate.versions.get(&successor).is_some_and(|v| {
                                evidence_in_term(ProbePhase::Emit, c, v).is_some()
                            }))
                            || has_step(
                                &anc,
                                &|a| matches!(a, Action::AwaitEmit { version: e, consumer } if *e == successor && *consumer == c.name),
                            );
                        if !emitted {
                            bad(
                                s.id,
                                format!(
                                    "revoke of {version} before consumer.{} emits {successor}",
                                    c.name
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
    version: &VersionId,
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
        let since = accept_since(c, vs).ok_or_else(|| {
            fail(format!(
                "promote of {version}, which was never published{}",
                c.via.as_ref().map_or(String::new(), |v| format!(" to {v}"))
            ))
        })?;
        if now < since + c.cache() {
            return Err(Violation {
                opens_at: Some(since + c.cache()),
                ..fail(format!(
                    "promote of {version} before consumer.{}'s cache window ({}) has passed since it was published",
                    c.name,
                    c.cache()
                ))
            });
        }
        if evidence_in_term(ProbePhase::Accept, c, vs).is_none() {
            return Err(fail(format!(
                "promote of {version} without acceptance evidence from consumer.{} gathered since it was last published",
                c.name
            )));
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
    version: &VersionId,
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
    let avs = fstate
        .versions
        .get(active)
        .ok_or_else(|| fail(format!("the active version {active} is not in state")))?;
    // Every overlap is counted from the successor's promote: without one
    // there is nothing to hold from.
    let promoted = avs.promoted_at.ok_or_else(|| {
        fail(format!(
            "revoke of {version} while its successor {active} has no promote time"
        ))
    })?;
    for &c in &family.verifiers {
        let c = &r.spec.consumers[c];
        if evidence_in_term(ProbePhase::Accept, c, avs).is_none() {
            return Err(fail(format!(
                "revoke of {version} before consumer.{} accepted {active} (since it was last published)",
                c.name
            )));
        }
    }
    let vs = fstate
        .versions
        .get(version)
        .ok_or_else(|| fail(format!("revoke of {version}, which is not in state")))?;
    // A version emitters may have used must drain: its successor emitted and
    // held for the overlap. A recorded drain is that proof, even if `active`
    // has moved on again since.
    if vs.was_used() && !drained(vs, r.overlap(family), now) {
        for &c in &family.emitters {
            let c = &r.spec.consumers[c];
            if evidence_in_term(ProbePhase::Emit, c, avs).is_none() {
                return Err(fail(format!(
                    "revoke of {version} before consumer.{} emits {active} (since its latest promote)",
                    c.name
                )));
            }
        }
        let overlap = r.overlap(family);
        let since = hold_start(r, family, avs, vs).unwrap_or(promoted);
        if now < since + overlap {
            return Err(fail(format!(
                "revoke of {version} before the overlap ({overlap}) since {active} was promoted"
            )));
        }
    }
    // Drain probes, where declared, must have seen the version's traffic gone.
    if vs.was_used() {
        for c in family.consumers(r) {
            // Evidence from before the version last stopped being used does not count.
            let fresh = evidence_in_term(ProbePhase::Drain, c, vs).is_some();
            if c.probes(ProbePhase::Drain).next().is_some() && !fresh {
                return Err(fail(format!(
                    "revoke of {version} before the drain probe of consumer.{} passed",
                    c.name
                )));
            }
        }
    }
    if vs.was_used()
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
