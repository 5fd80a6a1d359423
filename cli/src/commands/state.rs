//! `rotor state …`: look at and repair the state without a rotation.
//!
//! `list` and `show` read; `rm`, `mv` and `push` lease the families they
//! change (refused while an apply holds one); `unlock --force` breaks a
//! lease. None of them touches a store: material stays where it is, and
//! the next plan says what the stores hold that state no longer knows.

use super::{ERROR, OK};
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::{FamilyName, State, StateBackend, VersionId};
use std::io::BufRead;
use std::path::Path;

/// `rotor state list`: one line per family.
pub fn list(ws: &Workspace) -> Result<u8, Reported> {
    let backend = ws.backend(None)?;
    let Some(state) = ws.existing_state(&*backend)? else {
        eprintln!("No state yet: run `rotor apply` to bootstrap the spec's families.");
        return Ok(OK);
    };
    let leases = backend.leases().unwrap_or_default();
    let now = rotor_providers::now();
    for (name, f) in &state.families {
        let live = f.live_versions();
        let lease = leases
            .iter()
            .find(|l| &l.family == name && l.expires > now)
            .map(|l| format!("\tleased by {}", l.describe()))
            .unwrap_or_default();
        println!(
            "{name}\tactive {}\t{}{lease}",
            f.active.as_ref().map_or("none", VersionId::as_str),
            if live.is_empty() {
                "no live versions".to_string()
            } else {
                live.join(", ")
            }
        );
    }
    Ok(OK)
}

/// `rotor state pull`: the whole state, as rotor wrote it, on stdout.
pub fn pull(ws: &Workspace) -> Result<u8, Reported> {
    let backend = ws.backend(None)?;
    let Some(state) = ws.existing_state(&*backend)? else {
        render::error("there is no state to pull", Some("run `rotor apply` first"));
        return Err(Reported);
    };
    print!("{}", state.to_json());
    Ok(OK)
}

/// `rotor state push FILE [--force]`: replaces the state with one pulled
/// earlier. Refused when it was edited (its checksum), when it belongs to
/// another lineage or is older than the state it replaces, unless `--force`.
pub fn push(ws: &Workspace, file: &Path, force: bool) -> Result<u8, Reported> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        render::error(&format!("cannot read {}: {e}", file.display()), None);
        Reported
    })?;
    let pushed = State::from_json(&text).map_err(|e| {
        render::error(
            &format!("{}: {e}", file.display()),
            Some("push only a state that `rotor state pull` printed, unchanged"),
        );
        Reported
    })?;
    let now = rotor_providers::now();
    if let Some((t, family, version)) = pushed.latest()
        && t > now + rotor_engine::Duration::seconds(60)
    {
        render::error(
            &format!(
                "{} records {} for {family} version {version}, which is in the future",
                file.display(),
                t.human()
            ),
            Some("fix the clock (NTP) of the machine that wrote it"),
        );
        return Err(Reported);
    }
    let backend = ws.backend(None)?;
    // With --force, a state that cannot be read (edited, corrupt) is
    // replaced: that is how a pulled copy restores it.
    let current = match backend.load() {
        Err(e) if force => {
            render::warning(
                &format!(
                    "replacing {}, which cannot be read: {e}",
                    backend.describe()
                ),
                None,
            );
            None
        }
        _ => ws.existing_state(&*backend)?,
    };
    // Every family the push changes, leased: not while an apply runs.
    let mut touched: Vec<FamilyName> = pushed.families.keys().cloned().collect();
    if let Some(c) = &current {
        touched.extend(c.families.keys().cloned());
    }
    touched.sort();
    touched.dedup();
    ws.lease(&*backend, &touched, "rotor state push")?;
    let mut state = pushed;
    if let Some(current) = &current {
        let why = if current.lineage != state.lineage {
            Some(format!(
                "it is another state (lineage {}; this one is {})",
                state.lineage, current.lineage
            ))
        } else if state.serial < current.serial {
            Some(format!(
                "it is older than the state it would replace (serial {} < {})",
                state.serial, current.serial
            ))
        } else {
            None
        };
        if let Some(why) = why {
            if !force {
                render::error(
                    &format!("refusing to push {}: {why}", file.display()),
                    Some(
                        "pass --force if you mean it: evidence in an old state may no longer be true",
                    ),
                );
                return Ok(ERROR);
            }
            render::warning(&format!("pushing {} although {why}", file.display()), None);
        }
        state.serial = state.serial.max(current.serial) + 1;
    }
    backend.save(&state).map_err(|e| {
        render::error(&e.to_string(), None);
        Reported
    })?;
    eprintln!(
        "Pushed {} as {} (serial {}).",
        file.display(),
        backend.describe(),
        state.serial
    );
    Ok(OK)
}

/// `rotor state rm FAMILY [--yes]`: forget a family. Its material stays in
/// the stores, so the live versions are named and a confirmation asked.
pub fn rm(ws: &Workspace, family: &FamilyName, yes: bool) -> Result<u8, Reported> {
    let backend = ws.backend(None)?;
    let Some(state) = ws.existing_state(&*backend)? else {
        render::error("there is no state", None);
        return Err(Reported);
    };
    let Some(f) = state.families.get(family) else {
        let names: Vec<&str> = state.families.keys().map(FamilyName::as_str).collect();
        let hint = rotor_engine::diagnostics::did_you_mean(family.as_str(), names.iter().copied())
            .map(|m| format!("did you mean `{m}`?"));
        render::error(&format!("no family `{family}` in state"), hint.as_deref());
        return Err(Reported);
    };
    let live = f.live_versions();
    if !live.is_empty() {
        eprintln!(
            "secret.{family} has live versions in its stores: {}.\nForgetting it leaves them there: rotor will not revoke or destroy them. \
             Declared again, the family adopts them as in use (a full overlap before any revoke).",
            live.join(", ")
        );
    }
    if !yes {
        eprint!("Type the family's name to forget it: ");
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|_| Reported)?;
        if line.trim() != family.as_str() {
            eprintln!("Nothing removed.");
            return Ok(ERROR);
        }
    }
    ws.lease(&*backend, std::slice::from_ref(family), "rotor state rm")?;
    backend.remove_family(family).map_err(|e| {
        render::error(&e.to_string(), None);
        Reported
    })?;
    history(&*backend, family, "state rm", &live.join(", "));
    eprintln!("Removed secret.{family} from the state.");
    Ok(OK)
}

/// Appends a state command to the history (for people: a failure to append
/// does not undo the command).
fn history(backend: &dyn StateBackend, family: &FamilyName, what: &str, detail: &str) {
    let _ = backend.append_event(&rotor_engine::state::Event {
        at: rotor_providers::now(),
        family: family.clone(),
        what: what.to_string(),
        outcome: "done".into(),
        actor: rotor_providers::actor(),
        detail: detail.to_string(),
    });
}

/// `rotor state mv OLD NEW`: the family's record, approvals and history
/// under a new name, without a rotation.
pub fn mv(ws: &Workspace, old: &FamilyName, new: &FamilyName) -> Result<u8, Reported> {
    let backend = ws.backend(None)?;
    if ws.existing_state(&*backend)?.is_none() {
        render::error("there is no state", None);
        return Err(Reported);
    }
    ws.lease(&*backend, &[old.clone(), new.clone()], "rotor state mv")?;
    backend.rename_family(old, new).map_err(|e| {
        render::error(
            &format!("{}: {e}", backend.describe()),
            Some("`rotor state list` shows the families the state has"),
        );
        Reported
    })?;
    history(&*backend, new, &format!("state mv {old} {new}"), "");
    eprintln!(
        "Moved secret.{old} to secret.{new} in the state.\n\
         Stores keep material under the name they were given it by: rename the `secret` block to {new:?} \
         and make sure its stores find the material under that name (for a file store, move DIR/{old} to DIR/{new}), \
         or the next plan adopts nothing and creates a first version of {new}."
    );
    Ok(OK)
}

/// `rotor state unlock FAMILY --force`: breaks a lease.
pub fn unlock(ws: &Workspace, family: &FamilyName, force: bool) -> Result<u8, Reported> {
    if !force {
        render::error(
            "`rotor state unlock` needs --force",
            Some(
                "a lease lapses on its own within a minute of its holder's last heartbeat; break it only when you know that apply is gone: two applies on one family could each revoke what the other relies on",
            ),
        );
        return Ok(ERROR);
    }
    let backend = ws.backend(None)?;
    match backend.break_lease(family) {
        Ok(Some(lease)) => {
            render::warning(
                &format!(
                    "broke the lease on secret.{family} held by {}; if that apply still runs, it stops at its next save",
                    lease.describe()
                ),
                None,
            );
            history(&*backend, family, "state unlock --force", &lease.describe());
            Ok(OK)
        }
        Ok(None) => {
            eprintln!("secret.{family} is not leased.");
            Ok(OK)
        }
        Err(e) => {
            render::error(&format!("{}: {e}", backend.describe()), None);
            Err(Reported)
        }
    }
}

/// The PostgreSQL state's schema, as `state init --print-sql` prints it for a DBA.
#[cfg(feature = "postgres")]
fn print_schema_sql(schema: &str) -> Result<u8, Reported> {
    print!("{}", rotor_providers::state::schema_sql(schema));
    Ok(OK)
}

#[cfg(not(feature = "postgres"))]
fn print_schema_sql(_: &str) -> Result<u8, Reported> {
    render::error(
        "this build of rotor has no PostgreSQL state backend; rebuild with --features postgres",
        Some(
            "the `postgres` cargo feature is on by default: `cargo install --path cli` includes it",
        ),
    );
    Err(Reported)
}

/// `rotor state init [--print-sql]`.
pub fn init(ws: &Workspace, print_sql: bool) -> Result<u8, Reported> {
    if print_sql {
        return print_schema_sql(&ws.state_schema()?);
    }
    let backend = ws.backend(None)?;
    // Any write creates what is missing: the history's first line.
    backend
        .append_event(&rotor_engine::state::Event {
            at: rotor_providers::now(),
            family: FamilyName::from(""),
            what: "state init".into(),
            outcome: "done".into(),
            actor: rotor_providers::actor(),
            detail: String::new(),
        })
        .map_err(|e| {
            render::error(&format!("{}: {e}", backend.describe()), None);
            Reported
        })?;
    eprintln!("The state is ready at {}.", backend.describe());
    Ok(OK)
}
