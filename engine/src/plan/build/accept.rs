//! Accept new: create (or adopt, or restore) the declared versions not in
//! the key sets, then wait for every verifier to accept each declared
//! version that lacks its evidence. Publishing between the two lives in
//! `publish`.

use super::{Blocked, FamilyPlanner};
use crate::names::VersionId;
use crate::plan::model::Action;
use crate::safety;
use crate::spec::{ConsumerSpec, ProbePhase};
use crate::state::Phase;
use std::collections::{BTreeMap, HashMap, HashSet};

impl FamilyPlanner<'_> {
    /// Accept new: create (or adopt, or restore) every declared version
    /// that is not in the key sets. Returns each entering version with the
    /// step that makes it exist.
    pub(super) fn accept_new(&mut self) -> Result<Vec<(VersionId, usize)>, Blocked> {
        let secret = self.secret;
        let live = self.live;
        let store_addrs = &self.store_addrs;
        let mut entering: Vec<(VersionId, usize)> = Vec::new(); // version, step that makes it exist
        for v in &secret.versions {
            match self.fstate.versions.get(&v.id) {
                None => {
                    let adopt = !store_addrs.is_empty()
                        && store_addrs.iter().all(|a| {
                            live.store(a)
                                .is_some_and(|lf| lf.versions.iter().any(|lv| lv.id == v.id))
                        });
                    let generator = secret
                        .generate
                        .as_ref()
                        .map_or(String::new(), |g| g.value.to_string());
                    let id = self.b.push(
                        Action::Create {
                            version: v.id.clone(),
                            generator,
                            stores: store_addrs.clone(),
                            adopt,
                        },
                        vec![],
                        if adopt {
                            "declared; the stores already hold it (an earlier apply was interrupted)"
                        } else {
                            "declared in the spec, not yet created"
                        },
                    );
                    entering.push((v.id.clone(), id));
                }
                Some(vs)
                    if vs.phase.is_accepted_set()
                        && store_addrs.iter().any(|a| {
                            live.store(a).is_some_and(|lf| {
                                lf.versions.iter().any(|lv| lv.id == v.id && !lv.enabled)
                            })
                        }) =>
                {
                    // A revoke interrupted after the store's write: the version
                    // left the key sets, so it comes back as a restore does.
                    let id = self.b.push(
                        Action::Restore {
                            version: v.id.clone(),
                        },
                        vec![],
                        "declared, and disabled in a store by an interrupted revoke",
                    );
                    entering.push((v.id.clone(), id));
                }
                Some(vs) if vs.phase == Phase::Revoked => {
                    let id = self.b.push(
                        Action::Restore {
                            version: v.id.clone(),
                        },
                        vec![],
                        "declared again while revoked but not destroyed",
                    );
                    entering.push((v.id.clone(), id));
                }
                Some(vs) if vs.phase == Phase::Destroyed => {
                    return Err(Blocked(format!(
                        "version {} is declared but its material was destroyed; declare a new version id instead",
                        v.id
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(entering)
    }

    /// Acceptance: every verifier, for every declared version without its
    /// evidence. Returns the accept steps by version.
    pub(super) fn await_accept(
        &mut self,
        entering: &[(VersionId, usize)],
        publish_step: &BTreeMap<String, usize>,
    ) -> BTreeMap<VersionId, Vec<usize>> {
        let spec = &self.r.spec;
        let verifiers: Vec<&ConsumerSpec> = self
            .family
            .verifiers
            .iter()
            .map(|&c| &spec.consumers[c])
            .collect();
        let mut accept_steps: BTreeMap<VersionId, Vec<usize>> = BTreeMap::new();
        // By version: the step that makes it exist, and the publishers whose
        // rewrite planned above (re)adds its key. (Maps, not scans: a family may
        // declare thousands of versions.)
        let entering_step: HashMap<&str, usize> =
            entering.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        // By publisher and kid: rotor publishes a version under its id.
        let mut readded: HashSet<(String, String)> = HashSet::new();
        for s in &self.b.steps {
            if let Action::Publish { publisher, add, .. } = &s.action {
                for k in add {
                    readded.insert((publisher.clone(), k.clone()));
                }
            }
        }
        for v in &self.secret.versions {
            let vs = self.fstate.versions.get(&v.id);
            // Restored (from a revoke, finished or interrupted): it left the key
            // sets, and evidence from before says nothing about now.
            let restored = vs.is_some() && entering_step.contains_key(v.id.as_str());
            for c in &verifiers {
                // Evidence counts only for the publication it proved: a rewrite
                // planned here for the publisher `c` reads starts a new term.
                let republished = c
                    .via
                    .as_ref()
                    .is_some_and(|via| readded.contains(&(via.to_string(), v.id.to_string())));
                let has = vs.is_some_and(|s| {
                    !restored
                        && !republished
                        && safety::evidence_in_term(ProbePhase::Accept, c, s).is_some()
                });
                if has {
                    continue;
                }
                let mut after: Vec<usize> = entering_step
                    .get(v.id.as_str())
                    .copied()
                    .into_iter()
                    .collect();
                after.extend(publish_step.values().copied());
                let id = self.b.push(
                    Action::AwaitAccept {
                        version: v.id.clone(),
                        consumer: c.name.clone(),
                    },
                    after,
                    format!(
                        "consumer.{} must accept {} before anyone emits it",
                        c.name, v.id
                    ),
                );
                accept_steps.entry(v.id.clone()).or_default().push(id);
            }
        }
        accept_steps
    }
}
