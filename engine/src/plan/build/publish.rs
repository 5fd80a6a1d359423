//! Publish: one rewrite per publisher once the new versions exist, when the
//! published key set is not what the stores hold.

use super::FamilyPlanner;
use crate::names::VersionId;
use crate::plan::model::Action;
use std::collections::{BTreeMap, BTreeSet};

impl FamilyPlanner<'_> {
    /// Publishers: one rewrite after the new versions exist, if a key is
    /// missing or listed under its kid with another key (compared by
    /// thumbprint, never by kid alone), or if state has no record of since
    /// when the publisher lists a version (a verifier reading it counts its
    /// window from that record). Returns the publish step by publisher.
    pub(super) fn publish(
        &mut self,
        entering: &[(VersionId, usize)],
        leaving: &[VersionId],
    ) -> BTreeMap<String, usize> {
        let spec = &self.r.spec;
        let secret = self.secret;
        let live = self.live;
        let fstate = &self.fstate;
        let store_addrs = &self.store_addrs;
        let entering_ids: Vec<usize> = entering.iter().map(|(_, s)| *s).collect();
        let keys: BTreeMap<&str, Option<&str>> = store_addrs
            .first()
            .and_then(|a| live.store(a))
            .map(|lf| {
                lf.versions
                    .iter()
                    .map(|lv| (lv.id.as_str(), lv.thumbprint.as_deref()))
                    .collect()
            })
            .unwrap_or_default();
        let mut publish_step: BTreeMap<String, usize> = BTreeMap::new();
        for &p in &self.family.publishers {
            let addr = spec.publishers[p].address();
            let listed: BTreeMap<&str, &str> = live
                .published(&addr)
                .map(|keys| {
                    keys.iter()
                        .map(|k| (k.kid.as_str(), k.thumbprint.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            // What the publisher is to list: exactly what the store's key set
            // holds (as the publish step writes it: rotor's versions, and any it
            // leaves alone), plus the versions entering now. A version a store
            // already disabled (a revoke whose record was lost) is not in it.
            let asymmetric = secret
                .generate
                .as_ref()
                .is_some_and(|g| g.value.is_asymmetric());
            // Kids: rotor publishes each version under its id.
            let want: Vec<String> = store_addrs
                .first()
                .and_then(|a| live.store(a))
                .map(|lf| {
                    lf.versions
                        .iter()
                        .filter(|lv| lv.enabled && lv.thumbprint.is_some())
                        .map(|lv| lv.id.to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .chain(
                    entering
                        .iter()
                        .filter(|_| asymmetric)
                        .map(|(id, _)| id.to_string()),
                )
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut wrong_key = Vec::new();
            let add: Vec<String> = want
                .iter()
                .filter(|k| match (listed.get(k.as_str()), keys.get(k.as_str())) {
                    (None, _) => true,
                    (Some(have), Some(Some(should))) if have != should => {
                        wrong_key.push((*k).clone());
                        true
                    }
                    _ => false,
                })
                .cloned()
                .collect();
            let stale: Vec<String> = listed
                .keys()
                .filter(|k| {
                    !want.iter().any(|w| w == *k) && !leaving.iter().any(|l| l.as_str() == **k)
                })
                .map(|k| k.to_string())
                .collect();
            let unrecorded = !entering.is_empty()
                || fstate.versions.values().any(|v| {
                    v.phase.is_accepted_set()
                        && want.contains(&v.kid)
                        && !v.published.contains_key(&addr)
                });
            for k in &wrong_key {
                self.fp.notes.push(format!(
                    "{addr} lists kid {k} with a different key than the store holds; it will be rewritten, and the accept window starts again"
                ));
            }
            if !add.is_empty() || !stale.is_empty() || unrecorded {
                let id = self.b.push(
                    Action::Publish {
                        publisher: addr.clone(),
                        add: add.clone(),
                        remove: stale.clone(),
                        kids: want.clone(),
                    },
                    entering_ids.clone(),
                    if !wrong_key.is_empty() {
                        "the published key set lists a kid with another key (edited, or left by a family of the same name)"
                    } else if stale.is_empty() {
                        "new versions enter the key set"
                    } else {
                        "the published key set differs from state (edited outside rotor)"
                    },
                );
                publish_step.insert(addr, id);
            }
        }
        publish_step
    }
}
