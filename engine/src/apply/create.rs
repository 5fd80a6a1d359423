//! The steps that put a version into the stores: create (generate and
//! write it, or adopt one the stores already hold, completing a write an
//! earlier apply left half done) and restore (enable a revoked version).

use super::{Ctx, Done, RESUME, StepError, failed};
use crate::Store;
use crate::jwk::Jwk;
use crate::names::VersionId;
use crate::provider::{ErrorKind, Generated, NewVersion};
use crate::spec::Generate;
use crate::state::{Phase, VersionState};
use std::sync::Arc;

impl Ctx<'_> {
    pub(super) async fn create(&self, version: &VersionId) -> Result<Done, StepError> {
        if self.version(version).is_some() {
            return Ok(Done::Already);
        }
        let secret = &self.r.spec.secrets[self.family.secret];
        let Some(how) = &secret.generate else {
            return Err(failed("no generate block", "add one"));
        };
        let stores = self.stores();
        // A family another state claimed in a store is not taken over
        // unless the user says so: two states on one store would each
        // believe it manages the family.
        let lineage = self.state().lineage;
        for (addr, store) in &stores {
            let owner = store
                .owner(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            if let Some(owner) = owner.filter(|o| *o != lineage && !self.options.adopt) {
                return Err(failed(
                    format!(
                        "{addr} holds secret.{} for another state (lineage {owner}), not this one ({lineage}): a second state file, or a lost one",
                        self.name
                    ),
                    "if that other state is in use, run rotor with it (--state); if it is gone, take the family over with `rotor apply --adopt`: every live version is then held as in use for a full overlap",
                ));
            }
        }
        let now = self.now();
        // The turn after the active version's, so that a version abandoned
        // before its promote does not shift the alternation onto the live one.
        let ordinal = self.state().family(self.name).map_or(0, |f| {
            f.active
                .as_ref()
                .and_then(|a| f.versions.get(a))
                .and_then(|a| a.ordinal)
                .map_or(f.versions.len(), |o| o + 1)
        });
        if let [(addr, store)] = stores.as_slice() {
            // One store: its put says whether the version is there already
            // (refused as a conflict: material is never replaced), which
            // spares a read. Only then is it read, and adopted below.
            self.record_baselines().await?;
            let generated = self.generate(&how.value, version, ordinal)?;
            let new = NewVersion {
                id: version,
                kid: version.as_str(),
                generated: &generated,
            };
            match store.put(self.name, &new).await {
                Ok(()) => return self.record_new(version, generated, ordinal, &stores).await,
                Err(e) if e.kind == ErrorKind::Conflict => {}
                Err(e) => {
                    return Err(failed(format!("writing {version} to {addr}: {e}"), RESUME));
                }
            }
        }
        let mut present = Vec::new();
        let mut thumbprint = None;
        // Whether every store that holds it serves it as the primary.
        let mut primary_everywhere = true;
        for (addr, store) in &stores {
            let live = store
                .read(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            if let Some(lv) = live.versions.iter().find(|v| v.id == *version) {
                present.push((addr.clone(), lv.fingerprint.clone()));
                thumbprint = thumbprint.or_else(|| lv.thumbprint.clone());
                primary_everywhere &= live.primary.as_ref() == Some(version);
            }
        }
        if !present.is_empty() {
            if present.len() != stores.len() {
                self.complete_partial_write(version, &stores, &present, &how.value)
                    .await?;
            }
            // The stores hold it and state has no history of it: an earlier
            // apply stopped before recording it, the state was lost, or
            // another state or a person wrote it. Adopt it as possibly
            // in use, so that its revoke waits a full overlap from now; the
            // stores' primary counts as promoted now.
            let fingerprint = present[0].1.clone();
            let mut v = VersionState::created(
                version.to_string(),
                how.value.algorithm().to_string(),
                fingerprint,
                now,
            );
            v.ordinal = Some(ordinal);
            v.published_at = Some(now);
            v.thumbprint = thumbprint;
            v.adopted_at = Some(now);
            let has_active = self
                .state()
                .family(self.name)
                .is_some_and(|f| f.active.is_some());
            let as_primary = primary_everywhere && !has_active;
            if as_primary {
                v.phase = Phase::Active;
                v.promoted_at = Some(now);
            }
            self.record(|f| {
                f.versions.insert(version.clone(), v);
                if as_primary {
                    f.active = Some(version.clone());
                }
            })
            .await?;
            self.claim().await?;
            return Ok(Done::Now(if as_primary {
                format!("adopted {version}, already the stores' primary: held as promoted now")
            } else {
                format!("adopted {version}, already in the stores: held as in use from now")
            }));
        }

        self.record_baselines().await?;
        let generated = self.generate(&how.value, version, ordinal)?;
        for (addr, store) in &stores {
            let new = NewVersion {
                id: version,
                kid: version.as_str(),
                generated: &generated,
            };
            store
                .put(self.name, &new)
                .await
                .map_err(|e| failed(format!("writing {version} to {addr}: {e}"), RESUME))?;
        }
        self.record_new(version, generated, ordinal, &stores).await
    }

    fn generate(
        &self,
        how: &Generate,
        version: &VersionId,
        ordinal: usize,
    ) -> Result<Generated, StepError> {
        self.providers
            .generator
            .generate(how, ordinal)
            .map_err(|e| failed(format!("generating {version}: {e}"), RESUME))
    }

    /// Records a version this apply generated and wrote to every store.
    async fn record_new(
        &self,
        version: &VersionId,
        generated: Generated,
        ordinal: usize,
        stores: &[(String, Arc<dyn Store>)],
    ) -> Result<Done, StepError> {
        let now = self.now();
        let fingerprint = generated.fingerprint.clone();
        let algorithm = generated.algorithm.clone();
        let thumbprint = generated.public_jwk.as_ref().map(Jwk::thumbprint);
        drop(generated);
        let mut v = VersionState::created(version.to_string(), algorithm, fingerprint.clone(), now);
        v.ordinal = Some(ordinal);
        // Readers of the stores see it once the last write is done: its
        // accept window counts from then, not from before a slow write.
        v.published_at = Some(self.now());
        v.thumbprint = thumbprint;
        self.record_created(version, v).await?;
        // Claimed once state records the version: a crash before leaves no
        // marker naming a state that was never saved.
        self.claim().await?;
        let stores: Vec<&str> = stores.iter().map(|(a, _)| a.as_str()).collect();
        Ok(Done::Now(format!(
            "created {version} ({fingerprint}) in {}",
            stores.join(", ")
        )))
    }

    /// Marks the family in every store as this state's.
    async fn claim(&self) -> Result<(), StepError> {
        let lineage = self.state().lineage;
        for (addr, store) in self.stores() {
            store.claim(self.name, &lineage).await.map_err(|e| {
                failed(
                    format!("marking secret.{} in {addr}: {e}", self.name),
                    RESUME,
                )
            })?;
        }
        Ok(())
    }

    /// Records a version just written to (or found in) every store.
    async fn record_created(&self, version: &VersionId, v: VersionState) -> Result<(), StepError> {
        self.record(|f| {
            f.versions.insert(version.clone(), v);
        })
        .await
    }

    /// An earlier apply wrote `version` to some stores of the family and
    /// stopped: copy it from one that holds it into the others, so that every
    /// store holds the same material. The copies must agree first.
    async fn complete_partial_write(
        &self,
        version: &VersionId,
        stores: &[(String, Arc<dyn Store>)],
        present: &[(String, String)],
        how: &Generate,
    ) -> Result<(), StepError> {
        let holders = present
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let fingerprint = &present[0].1;
        if present.iter().any(|(_, f)| f != fingerprint) {
            return Err(failed(
                format!("version {version} differs between {holders}"),
                "the stores hold different material under one id: remove it from all but one store by hand, then run `rotor apply` again",
            ));
        }
        let mut source_error = Vec::new();
        for (addr, _) in present {
            let source = &stores
                .iter()
                .find(|(a, _)| a == addr)
                .expect("present is a subset")
                .1;
            let material = match source.read_material(self.name, version).await {
                Ok(m) => m,
                Err(e) => {
                    source_error.push(format!("{addr}: {e}"));
                    continue;
                }
            };
            let public_jwk = if how.is_asymmetric() {
                let keys = source
                    .public_keys(self.name)
                    .await
                    .map_err(|e| failed(format!("reading public keys from {addr}: {e}"), RESUME))?;
                keys.into_iter()
                    .find(|k| k.version == *version)
                    .map(|k| k.jwk)
            } else {
                None
            };
            let copy = Generated {
                material,
                algorithm: how.algorithm().to_string(),
                public_jwk,
                fingerprint: fingerprint.clone(),
            };
            for (target, store) in stores {
                if present.iter().any(|(a, _)| a == target) {
                    continue;
                }
                let new = NewVersion {
                    id: version,
                    kid: version.as_str(),
                    generated: &copy,
                };
                store.put(self.name, &new).await.map_err(|e| {
                    failed(
                        format!("copying {version} from {addr} to {target}: {e}"),
                        RESUME,
                    )
                })?;
            }
            return Ok(());
        }
        Err(failed(
            format!(
                "version {version} is in {holders} but not in every store of the family, and cannot be copied: {}",
                source_error.join("; ")
            ),
            "an earlier apply stopped between stores; remove the partial version from the stores that hold it, then run `rotor apply` again",
        ))
    }

    pub(super) async fn restore(&self, version: &VersionId) -> Result<Done, StepError> {
        let Some(v) = self.version(version) else {
            return Ok(Done::Already);
        };
        // Revoked in state, or disabled in a store by a revoke whose record was lost.
        let mut disabled_somewhere = false;
        for (addr, store) in self.stores() {
            let live = store
                .read(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            disabled_somewhere |= live
                .versions
                .iter()
                .any(|lv| lv.id == *version && !lv.enabled);
        }
        if v.phase != Phase::Revoked && !(v.phase.is_accepted_set() && disabled_somewhere) {
            return Ok(Done::Already);
        }
        for (addr, store) in self.stores() {
            store
                .enable(self.name, version)
                .await
                .map_err(|e| failed(format!("restoring {version} in {addr}: {e}"), RESUME))?;
        }
        let now = self.now();
        self.record_version(version, |v| v.restore(now)).await?;
        Ok(Done::Now(format!("restored {version}")))
    }
}
