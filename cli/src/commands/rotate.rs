//! `rotor rotate`, `rotor retire` and `rotor rollback`: the spec edits that
//! start, finish and undo a rotation, made for the user.
//!
//! None of them touches a store or the state: each edits the family's `.hcl`
//! file (format-preserving, see [`rotor_hcl::edit`]), validates the result
//! as `rotor validate` would, and writes it atomically. The change is then a
//! pull request like any other, and `rotor plan` shows the safe sequence.

use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::diagnostics::did_you_mean;
use rotor_engine::spec::{self, Resolved, SecretSpec};
use rotor_engine::state::{FamilyState, VersionState};
use rotor_engine::{FamilyName, Phase, State, VersionId};
use rotor_hcl::edit::{self, EditError};
use std::path::Path;

/// `rotor rotate FAMILY [--version ID]`: declare a new version and make it active.
pub fn rotate(
    ws: &Workspace,
    family: &FamilyName,
    version: Option<&VersionId>,
    json: bool,
) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let secret = find_family(&resolved, family)?;
    let state = read_state(ws, &resolved)?;
    let fstate = state.as_ref().and_then(|s| s.family(family));
    let id = match version {
        Some(id) => {
            check_id(id.as_str())?;
            check_id_fits(ws, &resolved, secret, id.as_str())?;
            if secret.declares(id) {
                render::error(
                    &format!("version {id} is already declared in secret.{family}"),
                    Some("version ids are never reused: pick a new one, or leave out --version"),
                );
                return Err(Reported);
            }
            if let Some(v) = fstate.and_then(|f| f.versions.get(id)) {
                render::error(
                    &format!(
                        "version {id} of secret.{family} already exists in state ({})",
                        v.phase.as_str()
                    ),
                    Some(
                        "version ids are never reused, even once revoked or destroyed: pick a new one, or leave out --version",
                    ),
                );
                return Err(Reported);
            }
            id.clone()
        }
        None => default_id(secret, fstate),
    };
    let old = secret.active.as_ref().map(|a| a.value.clone());
    let file = secret.span.file;
    let text = &resolved.spec.sources.files[file].text;
    let edited = edit::add_version(text, family.as_str(), id.as_str())
        .and_then(|t| edit::set_active(&t, family.as_str(), id.as_str()))
        .map_err(|e| edit_failed(&resolved, file, e))?;
    let path = write_checked(&resolved, file, edited)?;

    eprintln!(
        "Rotated secret.{family} in {}: declared version {id} and set active = \"{id}\"{}.",
        path.display(),
        old.as_ref()
            .map(|o| format!(" (was \"{o}\")"))
            .unwrap_or_default()
    );
    if let Some(old) = &old {
        eprintln!(
            "{old} stays declared, so it stays accepted: when the rotation is done, run `rotor retire {family} {old}` to revoke it safely."
        );
    }
    eprintln!("Next: rotor plan (it shows the safe sequence: create, accept, promote).");
    if json {
        let out = serde_json::json!({
            "family": family,
            "version": id,
            "previous": old,
            "file": path.display().to_string(),
        });
        println!("{out}");
    }
    Ok(OK)
}

/// `rotor retire FAMILY VERSION`: remove a version's block, so that the plan revokes it.
pub fn retire(ws: &Workspace, family: &FamilyName, version: &VersionId) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let secret = find_family(&resolved, family)?;
    if !secret.declares(version) {
        let declared: Vec<&str> = secret.versions.iter().map(|v| v.id.as_str()).collect();
        let hint = match did_you_mean(version.as_str(), declared.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("declared: {}", list(&declared)),
        };
        render::error(
            &format!("version {version} is not declared in secret.{family}"),
            Some(&hint),
        );
        return Err(Reported);
    }
    if secret.active.as_ref().is_some_and(|a| a.value == *version) {
        render::error(
            &format!("version {version} is secret.{family}'s active version"),
            Some("point `active` at another version first, or use `rotor rotate`"),
        );
        return Err(Reported);
    }
    let file = secret.span.file;
    let text = &resolved.spec.sources.files[file].text;
    let edited = edit::remove_version(text, family.as_str(), version.as_str())
        .map_err(|e| edit_failed(&resolved, file, e))?;
    let path = write_checked(&resolved, file, edited)?;
    eprintln!(
        "Retired version {version} of secret.{family}: removed its block from {}.",
        path.display()
    );
    eprintln!(
        "Next: rotor plan (it revokes {version} only after its successor is accepted, emitted and held for the overlap; it stays restorable until destroyed)."
    );
    Ok(OK)
}

/// `rotor rollback FAMILY [--restore]`: point `active` back at the version that was active before.
pub fn rollback(ws: &Workspace, family: &FamilyName, restore: bool) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let secret = find_family(&resolved, family)?;
    let state = read_state(ws, &resolved)?;
    let Some(current) = secret.active.as_ref().map(|a| a.value.clone()) else {
        render::error(
            &format!("secret.{family} has no `active` version to roll back from"),
            None,
        );
        return Err(Reported);
    };
    let fstate = state.as_ref().and_then(|s| s.family(family));
    let Some((previous, vstate)) = fstate.and_then(|f| previous_active(f, &current)) else {
        render::error(
            &format!("secret.{family} has no previous version to roll back to"),
            Some(&format!(
                "no version of it was active before {current}; to replace {current}, roll forward with `rotor rotate {family}`"
            )),
        );
        return Err(Reported);
    };
    let promoted = fstate.and_then(|f| f.active.as_ref()) == Some(&current);
    match vstate.phase {
        Phase::Destroyed => {
            render::error(
                &format!("the previous version of secret.{family}, {previous}, was destroyed"),
                Some("its material is gone: roll forward with `rotor rotate` instead"),
            );
            return Err(Reported);
        }
        _ if !secret.declares(&previous) && !restore => {
            let why = if vstate.phase == Phase::Revoked {
                "was revoked and its block removed; it is not destroyed yet, so it can be restored by declaring it again"
            } else {
                "is no longer declared (its revoke is planned); declaring it again cancels the revoke"
            };
            render::error(
                &format!("the previous version of secret.{family}, {previous}, {why}"),
                Some(&format!(
                    "run `rotor rollback {family} --restore` to re-add its block and make it active"
                )),
            );
            return Err(Reported);
        }
        _ => {}
    }

    let file = secret.span.file;
    let text = &resolved.spec.sources.files[file].text;
    let mut edited = text.clone();
    let restoring = !secret.declares(&previous);
    if restoring {
        edited = edit::add_version(&edited, family.as_str(), previous.as_str())
            .map_err(|e| edit_failed(&resolved, file, e))?;
    }
    let edited = edit::set_active(&edited, family.as_str(), previous.as_str())
        .map_err(|e| edit_failed(&resolved, file, e))?;
    let path = write_checked(&resolved, file, edited)?;

    eprintln!(
        "Rolled back secret.{family} in {}: active = \"{previous}\" (was \"{current}\"){}.",
        path.display(),
        if restoring {
            format!(", and declared {previous} again")
        } else {
            String::new()
        }
    );
    if !promoted {
        eprintln!(
            "{current} was never promoted, so emitters never switched to it: {previous} stays the primary and nothing is promoted. {current} stays declared (the plan still creates and accepts it); remove it with `rotor retire {family} {current}` if it is not wanted."
        );
    } else if vstate.phase == Phase::Revoked {
        eprintln!(
            "This restores {previous} into every key set; it must be accepted again before emitters switch back to it, and {current} stays accepted (it is not revoked), so tokens signed with {current} keep verifying."
        );
    } else {
        eprintln!(
            "This rolls emitters back to {previous}; {current} stays accepted (it is not revoked), so tokens signed with {current} keep verifying; run `rotor plan` to see the promote."
        );
    }
    if promoted {
        eprintln!(
            "It does not revoke {current}: it stays declared and in every key set until you retire it (`rotor retire {family} {current}`)."
        );
    }
    eprintln!("Next: rotor plan");
    Ok(OK)
}

/// The version that was active before `current`: of the versions a successor
/// was promoted over (`retired_at`), the most recent one that is not `current`.
/// Versions never promoted are not candidates. When `current` itself has not
/// been promoted yet (a rotation in progress), the state's primary is the
/// previous version.
fn previous_active<'a>(
    fstate: &'a FamilyState,
    current: &VersionId,
) -> Option<(VersionId, &'a VersionState)> {
    if let Some(primary) = fstate.active.as_ref()
        && primary != current
    {
        return fstate.versions.get(primary).map(|v| (primary.clone(), v));
    }
    fstate
        .versions
        .iter()
        .filter(|(id, v)| *id != current && v.retired_at.is_some() && v.phase != Phase::Active)
        .max_by_key(|(_, v)| v.retired_at)
        .map(|(id, v)| (id.clone(), v))
}

/// The default new version id: today's `YYYY-MM`, then `YYYY-MMb`, `YYYY-MMc`…
/// until one is neither declared nor in state.
fn default_id(secret: &SecretSpec, fstate: Option<&FamilyState>) -> VersionId {
    let month: String = rotor_providers::now().date().chars().take(7).collect();
    let taken =
        |id: &VersionId| secret.declares(id) || fstate.is_some_and(|f| f.versions.contains_key(id));
    std::iter::once(month.clone())
        .chain(('b'..='z').map(|c| format!("{month}{c}")))
        .chain((2..).map(|n| format!("{month}-{n}")))
        .map(VersionId::from)
        .find(|id| !taken(id))
        .expect("an unbounded sequence has a free id")
}

/// Ids are labels and `kid`s: keep them to characters every JOSE library and shell takes.
fn check_id(id: &str) -> Result<(), Reported> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Ok(());
    }
    render::error(
        &format!("`{id}` is not a usable version id"),
        Some("use letters, digits, `-`, `_` and `.`, e.g. 2026-11"),
    );
    Err(Reported)
}

/// Refuses an id longer than a store of the family can hold, naming the limit.
fn check_id_fits(
    ws: &Workspace,
    resolved: &Resolved,
    secret: &SecretSpec,
    id: &str,
) -> Result<(), Reported> {
    let providers = ws.providers(resolved)?;
    for r in &secret.stores {
        let address = r.to_string();
        let Some((limit, why)) = providers.stores.get(&address).and_then(|s| s.id_limit()) else {
            continue;
        };
        if id.len() > limit {
            render::error(
                &format!(
                    "version id `{id}` is {} bytes long; {address} allows at most {limit}: {why}",
                    id.len()
                ),
                Some(&format!("use an id of at most {limit} bytes, e.g. 2026-11")),
            );
            return Err(Reported);
        }
    }
    Ok(())
}

fn find_family<'a>(
    resolved: &'a Resolved,
    family: &FamilyName,
) -> Result<&'a SecretSpec, Reported> {
    if let Some(s) = resolved.spec.secrets.iter().find(|s| s.name == *family) {
        return Ok(s);
    }
    let names = resolved.spec.secrets.iter().map(|s| s.name.as_str());
    let hint = match did_you_mean(family.as_str(), names.clone()) {
        Some(m) => format!("did you mean `{m}`?"),
        None => format!("secrets: {}", list(&names.collect::<Vec<_>>())),
    };
    render::error(&format!("no secret `{family}` in the spec"), Some(&hint));
    Err(Reported)
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn read_state(ws: &Workspace, resolved: &Resolved) -> Result<Option<State>, Reported> {
    let backend = ws.backend(Some(resolved))?;
    ws.existing_state(&*backend)
}

fn edit_failed(resolved: &Resolved, file: usize, e: EditError) -> Reported {
    let path = resolved.spec.sources.files[file].path.display();
    render::error(&format!("cannot edit {path}: {e}"), None);
    Reported
}

/// Validates the spec with one file's text replaced, then writes that file
/// atomically. Refuses, writing nothing, if the edited spec has errors or the
/// file changed on disk since it was read.
fn write_checked(resolved: &Resolved, file: usize, edited: String) -> Result<&Path, Reported> {
    let sources = &resolved.spec.sources;
    let files: Vec<_> = sources
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let text = if i == file {
                edited.clone()
            } else {
                f.text.clone()
            };
            (f.path.clone(), text)
        })
        .collect();
    let env = |name: &str| std::env::var(name).ok();
    let (ok, diags, new_sources) = spec::load(files, &env);
    let path = sources.files[file].path.as_path();
    if ok.is_none() {
        render::diagnostics::human(&diags, &new_sources);
        render::error(
            &format!(
                "the edit would make the spec invalid; {} is unchanged",
                path.display()
            ),
            None,
        );
        return Err(Reported);
    }
    let original = &sources.files[file].text;
    write_atomic(path, original, &edited).map_err(|e| {
        render::error(&format!("cannot write {}: {e}", path.display()), None);
        Reported
    })?;
    Ok(path)
}

/// Replaces the file atomically and durably, keeping its permissions,
/// unless it changed since it was read.
fn write_atomic(path: &Path, original: &str, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path)? != original {
        return Err(std::io::Error::other(
            "it changed while rotor was editing it; run the command again",
        ));
    }
    rotor_providers::replace_file(path, text.as_bytes())
}
