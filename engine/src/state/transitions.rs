//! How a version's record changes as apply moves it through its life:
//! each transition is one method, so that what a promote, a restore, a
//! revoke or a destroy resets is written once, next to the fields it
//! touches, and not inside the apply step that triggers it.
//!
//! These only change the record; apply saves it (and only after the stores
//! answered, so that every time stamped here counts from the moment readers
//! of the stores could see the change).

use super::{Evidence, FamilyState, Phase, VersionState};
use crate::names::{ConsumerName, VersionId};
use crate::plan::GateId;
use crate::spec::ProbePhase;
use crate::time::Timestamp;
use std::collections::BTreeMap;

impl VersionState {
    /// The evidence map for a phase, to add to.
    pub fn evidence_mut(&mut self, phase: ProbePhase) -> &mut BTreeMap<ConsumerName, Evidence> {
        match phase {
            ProbePhase::Accept => &mut self.accepted,
            ProbePhase::Emit => &mut self.emitted,
            ProbePhase::Drain => &mut self.drain,
            ProbePhase::Guard => &mut self.guarded,
        }
    }

    /// Records `consumer`'s evidence for `phase`. The version becomes
    /// [`Phase::Accepted`] once every one of `verifiers` has accepted it
    /// (a pending version only: acceptance never moves a version back).
    pub fn record_evidence(
        &mut self,
        phase: ProbePhase,
        consumer: &ConsumerName,
        evidence: Evidence,
        verifiers: &[ConsumerName],
    ) {
        self.evidence_mut(phase).insert(consumer.clone(), evidence);
        if phase == ProbePhase::Accept
            && self.phase == Phase::Pending
            && verifiers.iter().all(|c| self.accepted.contains_key(c))
        {
            self.phase = Phase::Accepted;
        }
    }

    /// Becomes the primary at `at`: a new term, so evidence and approvals
    /// from an earlier term as the primary (or an earlier time it left)
    /// say nothing about this one.
    fn start_term(&mut self, at: Timestamp) {
        self.phase = Phase::Active;
        self.promoted_at = Some(at);
        // A new term as the primary: emitters must be seen using it
        // again, and approvals of its emit gates given again.
        self.emitted.clear();
        self.approvals
            .retain(|gate, _| gate_phase(gate) != Some(ProbePhase::Emit));
        self.retired_at = None;
        self.drained_at = None;
        // Evidence from an earlier time it left says nothing about the next.
        self.drain.clear();
        self.guarded.clear();
        self.baselines.clear();
        self.last_attempt.retain(|gate, _| {
            !matches!(
                gate_phase(gate),
                Some(ProbePhase::Drain | ProbePhase::Guard | ProbePhase::Emit)
            )
        });
    }

    /// Superseded by a promote at `at`: still accepted while traffic drains.
    fn retire(&mut self, at: Timestamp) {
        self.phase = Phase::Retiring;
        self.retired_at = Some(at);
    }

    /// Disabled in every store at `at` (`at` is when the last store
    /// answered): restorable for `destroy_after` from then.
    pub fn revoke(&mut self, at: Timestamp) {
        self.phase = Phase::Revoked;
        self.disabled_at = Some(at);
    }

    /// Enabled again in every store at `at`: back to pending, as if new.
    /// Everything it was seen doing in its earlier life is forgotten, so
    /// that every gate is passed again before it is promoted or retired.
    pub fn restore(&mut self, at: Timestamp) {
        self.phase = Phase::Pending;
        self.disabled_at = None;
        // A drain held in its earlier life says nothing about the next
        // time it leaves: the planner must plan a hold again.
        self.drained_at = None;
        self.accepted.clear();
        self.emitted.clear();
        self.drain.clear();
        self.guarded.clear();
        self.baselines.clear();
        self.last_attempt.clear();
        self.approvals.clear();
        // Back in the stores' key sets now; every publisher lists it anew.
        self.published_at = Some(at);
        self.published.clear();
    }

    /// Its material destroyed in every store at `at`.
    pub fn destroy(&mut self, at: Timestamp) {
        self.phase = Phase::Destroyed;
        self.destroyed_at = Some(at);
    }
}

impl FamilyState {
    /// Makes `version` the primary at `at` (when the last store serves it):
    /// the old active version, if any, retires at the same time, and
    /// `version` starts a new term. Returns the old active version's id.
    pub fn promote(&mut self, version: &VersionId, at: Timestamp) -> Option<VersionId> {
        let mut from = None;
        if let Some(old) = self.active.take() {
            if let Some(o) = self.versions.get_mut(&old) {
                o.retire(at);
            }
            from = Some(old);
        }
        if let Some(v) = self.versions.get_mut(version) {
            v.start_term(at);
        }
        self.active = Some(version.clone());
        from
    }
}

/// The phase of a gate id kept as a state key; `None` for a key rotor does
/// not write, which no transition clears.
fn gate_phase(gate: &str) -> Option<ProbePhase> {
    gate.parse::<GateId>().ok().map(|g| g.phase)
}
