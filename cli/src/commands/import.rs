//! `rotor import FAMILY [--file PATH] [--previous ID]`: bring a secret a team
//! already has under rotor, as the version the spec declares active.
//!
//! In place (no `--file`): the family's first store takes the value readers
//! use today as that version and the primary, without changing what they get
//! (an `aws_secretsmanager` store with `format = "raw"` labels the secret's
//! `AWSCURRENT` version, and `AWSPREVIOUS` as `--previous`; a `vault` store
//! with `current_field` takes that field, and `previous_field` as
//! `--previous`). With `--file`, the value in the file (a PKCS#8 PEM key, or
//! any text secret) is written to every store of the family as that version
//! and made the primary.
//!
//! Nothing is recorded in the state here: the next `rotor plan` finds the
//! version in the stores without a history and adopts it as the primary,
//! promoted at adoption, so the first rotation holds a full overlap from
//! then before the imported value is revoked. Running the command again
//! after a crash finishes what it started.

use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::provider::{NewVersion, ProviderError, Store};
use rotor_engine::{FamilyName, VersionId};
use std::path::Path;
use std::sync::Arc;

/// The largest file `--file` reads: a 4096-bit RSA key in PEM is ~3.3 KiB.
const MAX_FILE: u64 = 64 * 1024;

pub async fn run(
    ws: &Workspace,
    family: &FamilyName,
    previous: Option<&VersionId>,
    file: Option<&Path>,
) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let Some(fam) = resolved.family_by_name(family) else {
        let names = resolved.spec.secrets.iter().map(|s| s.name.as_str());
        let hint = rotor_engine::diagnostics::did_you_mean(family.as_str(), names)
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| "declare the family in the spec first: its stores, consumers and the version the imported value becomes".into());
        render::error(&format!("no secret `{family}` in the spec"), Some(&hint));
        return Err(Reported);
    };
    let secret = &resolved.spec.secrets[fam.secret];
    let Some(id) = secret.active.as_ref().map(|a| a.value.clone()) else {
        render::error(
            &format!("secret.{family} has no `active` version for the imported value to become"),
            Some("declare `version \"v1\" {}` and `active = \"v1\"` (any id), then import"),
        );
        return Err(Reported);
    };
    if previous == Some(&id) {
        render::error("--previous must differ from the active version", None);
        return Err(Reported);
    }
    if let Some(p) = previous
        && !secret.declares(p)
    {
        render::error(
            &format!("version {p} is not declared in secret.{family}"),
            Some(&format!(
                "declare `version \"{p}\" {{}}` beside the active one, so that the plan adopts the previous value; remove it later to retire it through the overlap"
            )),
        );
        return Err(Reported);
    }
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    let state = ws.state(&*backend)?;
    if let Some(f) = state.family(family)
        && !f.live_versions().is_empty()
    {
        render::error(
            &format!(
                "secret.{family} is already managed by rotor ({})",
                f.live_versions().join(", ")
            ),
            Some(
                "import brings in a secret rotor does not manage yet; to rotate it, `rotor rotate`",
            ),
        );
        return Err(Reported);
    }
    ws.lease(&*backend, std::slice::from_ref(family), "rotor import")?;
    let stores: Vec<(String, Arc<dyn Store>)> = fam
        .stores
        .iter()
        .filter_map(|&s| {
            let address = resolved.spec.stores[s].address();
            providers.stores.get(&address).map(|p| (address, p.clone()))
        })
        .collect();
    let failed = |store: &str, e: ProviderError| {
        render::error(
            &format!("{store}: {}", e.message),
            Some(
                "nothing was recorded in the state; fix the cause and run `rotor import` again: it finishes what it started",
            ),
        );
        Reported
    };
    let (first, rest) = stores.split_first().expect("a family has a store");
    let how = match file {
        Some(path) => {
            let generated = read_value(path)?;
            for (address, store) in &stores {
                put_primary(store.as_ref(), family, &id, &generated)
                    .await
                    .map_err(|e| failed(address, e))?;
            }
            format!("from {} into {}", path.display(), names(&stores))
        }
        None => {
            let taken = first
                .1
                .import(family, &id, previous)
                .await
                .map_err(|e| failed(&first.0, e))?;
            // Copies in the family's other stores, as apply makes them.
            for (address, store) in rest {
                let material = first
                    .1
                    .read_material(family, &id)
                    .await
                    .map_err(|e| failed(&first.0, e))?;
                let generated = rotor_providers::describe(material.expose())
                    .map_err(|e| failed(&first.0, e))?;
                put_primary(store.as_ref(), family, &id, &generated)
                    .await
                    .map_err(|e| failed(address, e))?;
            }
            let prev = taken
                .iter()
                .find(|t| **t != id)
                .map(|p| format!(" ({p}: the value before it)"))
                .unwrap_or_default();
            format!("in place in {}{prev}; readers see no change", first.0)
        }
    };
    let _ = backend.append_event(&rotor_engine::state::Event {
        at: rotor_providers::now(),
        family: family.clone(),
        what: format!("import {id}"),
        outcome: "done".into(),
        actor: rotor_providers::actor(),
        detail: how.clone(),
    });
    eprintln!(
        "Imported secret.{family} version {id} {how}.\nRun `rotor plan`: it adopts {id} as the primary, held as in use for a full overlap before a rotation revokes it."
    );
    Ok(OK)
}

fn names(stores: &[(String, Arc<dyn Store>)]) -> String {
    stores
        .iter()
        .map(|(a, _)| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file's value, described as rotor describes what it generates. One
/// trailing newline of a text secret is the file's, not the secret's.
fn read_value(path: &Path) -> Result<rotor_engine::provider::Generated, Reported> {
    let fail = |what: String| {
        render::error(&what, None);
        Reported
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE {
        return Err(fail(format!(
            "{} is {} bytes; a secret or key file is at most {MAX_FILE}",
            path.display(),
            meta.len()
        )));
    }
    let mut bytes =
        std::fs::read(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if !bytes.starts_with(b"-----BEGIN") {
        if bytes.ends_with(b"\r\n") {
            bytes.truncate(bytes.len() - 2);
        } else if bytes.ends_with(b"\n") {
            bytes.truncate(bytes.len() - 1);
        }
    }
    let described = rotor_providers::describe(&bytes);
    zeroize_vec(&mut bytes);
    described.map_err(|e| fail(format!("{}: {}", path.display(), e.message)))
}

fn zeroize_vec(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        *b = 0;
    }
}

/// Writes the version (unless the store has it already, with the same
/// fingerprint: a rerun) and makes it the primary.
async fn put_primary(
    store: &dyn Store,
    family: &FamilyName,
    id: &VersionId,
    generated: &rotor_engine::provider::Generated,
) -> Result<(), ProviderError> {
    let live = store.read(family).await?;
    match live.versions.iter().find(|v| v.id == *id) {
        Some(v) if v.fingerprint == generated.fingerprint => {}
        Some(_) => {
            return Err(ProviderError::new(
                rotor_engine::provider::ErrorKind::Conflict,
                format!(
                    "{} already has a version `{id}` of `{family}` with other material",
                    store.address()
                ),
            ));
        }
        None => {
            store
                .put(
                    family,
                    &NewVersion {
                        id,
                        kid: id.as_str(),
                        generated,
                    },
                )
                .await?;
        }
    }
    if live.primary.as_ref() != Some(id) {
        store.set_primary(family, id).await?;
    }
    Ok(())
}
