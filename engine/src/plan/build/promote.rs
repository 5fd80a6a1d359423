//! Promote the target, then wait for every emitter to use it.

use super::{FamilyPlanner, Promoted};
use crate::names::VersionId;
use crate::plan::model::Action;
use crate::safety;
use crate::spec::{ConsumerSpec, ProbePhase};
use std::collections::BTreeMap;

impl FamilyPlanner<'_> {
    /// Promote the target, then wait for emitters.
    pub(super) fn promote_emit(
        &mut self,
        entering: &[(VersionId, usize)],
        accept_steps: &BTreeMap<VersionId, Vec<usize>>,
        repromote: bool,
    ) -> Promoted {
        let spec = &self.r.spec;
        let fstate = &self.fstate;
        let emitters: Vec<&ConsumerSpec> = self
            .family
            .emitters
            .iter()
            .map(|&c| &spec.consumers[c])
            .collect();
        let mut emit_steps = Vec::new();
        let mut promote_step = None;
        if let Some(t) = &self.target {
            if fstate.active.as_ref() != Some(t) || repromote {
                let rollback = fstate
                    .versions
                    .get(t)
                    .is_some_and(|v| v.promoted_at.is_some());
                let mut after = accept_steps.get(t).cloned().unwrap_or_default();
                after.extend(entering.iter().filter(|(id, _)| id == t).map(|(_, s)| *s));
                let id = self.b.push(
                    Action::Promote {
                        version: t.clone(),
                        from: fstate.active.clone(),
                        rollback,
                    },
                    after,
                    if rollback {
                        "`active` points back at an older, still-accepted version"
                    } else {
                        "`active` names it"
                    },
                );
                promote_step = Some(id);
            }
            let current = fstate.versions.get(t);
            for c in &emitters {
                if promote_step.is_none()
                    && current
                        .is_some_and(|v| safety::evidence_in_term(ProbePhase::Emit, c, v).is_some())
                {
                    continue;
                }
                let id = self.b.push(
                    Action::AwaitEmit {
                        version: t.clone(),
                        consumer: c.name.clone(),
                    },
                    promote_step.into_iter().collect(),
                    format!("consumer.{} must switch to {t}", c.name),
                );
                emit_steps.push(id);
            }
        }
        Promoted {
            step: promote_step,
            emits: emit_steps,
        }
    }
}
