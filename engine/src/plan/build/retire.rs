//! Retire: hold the old versions for the overlap, revoke what left the
//! spec and take it out of the key sets, destroy after the grace period.

use super::{FamilyPlanner, Promoted, Revoked};
use crate::names::VersionId;
use crate::plan::model::Action;
use crate::safety;
use crate::state::Phase;
use std::collections::BTreeMap;

impl FamilyPlanner<'_> {
    /// Retire: hold, then revoke what left the spec; destroy after the grace period.
    pub(super) fn retire(
        &mut self,
        leaving: &[VersionId],
        accept_steps: &BTreeMap<VersionId, Vec<usize>>,
        promoted: &Promoted,
    ) {
        let hold_step = self.hold(leaving, promoted);
        let revoke_steps = self.revoke(leaving, accept_steps, promoted, hold_step);
        self.destroy(&revoke_steps);
    }

    /// Hold the leaving versions still in use for the overlap after the
    /// target's promote. Returns the hold step, if one.
    fn hold(&mut self, leaving: &[VersionId], promoted: &Promoted) -> Option<usize> {
        let r = self.r;
        let family = self.family;
        let now = self.now;
        let fstate = &self.fstate;
        let mut retiring: Vec<VersionId> = leaving
            .iter()
            .filter(|id| {
                let v = &fstate.versions[*id];
                v.was_used() && !safety::held_long_enough(v, r, family, now)
            })
            .cloned()
            .collect();
        retiring.sort();
        let mut hold_step = None;
        if !retiring.is_empty()
            && let Some(t) = &self.target
        {
            let mut after = promoted.emits.clone();
            after.extend(promoted.step);
            let id = self.b.push(
                Action::Hold {
                    retiring: retiring.clone(),
                    successor: t.clone(),
                },
                after,
                format!("tokens signed with {} must drain", retiring.join(", ")),
            );
            hold_step = Some(id);
        }
        hold_step
    }

    /// Revoke every leaving version, then take them out of every publisher's
    /// key set. Returns each revoked version with its revoke step and the
    /// unpublish steps, for the destroys.
    fn revoke(
        &mut self,
        leaving: &[VersionId],
        accept_steps: &BTreeMap<VersionId, Vec<usize>>,
        promoted: &Promoted,
        hold_step: Option<usize>,
    ) -> Revoked {
        let spec = &self.r.spec;
        let promote_step = promoted.step;
        let mut revoke_steps = Vec::new();
        for id in leaving {
            let mut after: Vec<usize> = hold_step.into_iter().collect();
            after.extend(promote_step);
            after.extend(promoted.emits.iter().copied());
            // The target may already be active yet lack a (newly declared)
            // verifier's acceptance: nothing leaves until every verifier accepts
            // it. (A promote step already runs after those accepts.)
            if let (Some(t), None) = (&self.target, promote_step) {
                after.extend(accept_steps.get(t).into_iter().flatten().copied());
            }
            let step = self.b.push(
                Action::Revoke {
                    version: id.clone(),
                },
                after,
                "its version block was removed",
            );
            revoke_steps.push((id.clone(), step));
        }
        let mut unpublish = Vec::new();
        if !revoke_steps.is_empty() {
            let enabled_after: Vec<String> = self
                .secret
                .versions
                .iter()
                .map(|v| v.id.to_string())
                .collect();
            for &p in &self.family.publishers {
                let addr = spec.publishers[p].address();
                let remove: Vec<String> = leaving
                    .iter()
                    .map(|id| self.fstate.versions[id].kid.clone())
                    .collect();
                let id = self.b.push(
                    Action::Publish {
                        publisher: addr,
                        add: vec![],
                        remove,
                        kids: enabled_after.clone(),
                    },
                    revoke_steps.iter().map(|(_, s)| *s).collect(),
                    "revoked versions leave the key set",
                );
                unpublish.push(id);
            }
        }
        Revoked {
            revokes: revoke_steps,
            unpublish,
        }
    }

    /// Destroy what was revoked here, after the grace period, and what was
    /// revoked before and is no longer declared.
    fn destroy(&mut self, revoked: &Revoked) {
        for (id, step) in &revoked.revokes {
            let mut after = vec![*step];
            after.extend(revoked.unpublish.iter().copied());
            self.b.push(
                Action::Destroy {
                    version: id.clone(),
                },
                after,
                format!(
                    "destroy after the {} grace period",
                    self.secret.destroy_after.value
                ),
            );
        }
        let to_destroy: Vec<VersionId> = self
            .fstate
            .versions
            .iter()
            .filter(|(id, v)| v.phase == Phase::Revoked && !self.declares(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &to_destroy {
            self.b.push(
                Action::Destroy {
                    version: id.clone(),
                },
                vec![],
                "revoked and no longer declared",
            );
        }
    }
}
