//! `rotor state …`: look at and repair the state without a rotation.
//!
//! `list` and `show` read; `rm`, `push` take the state's lock. None of them
//! touches a store: material stays where it is, and the next plan says what
//! the stores hold that state no longer knows.

use super::{ERROR, OK};
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::{State, StateBackend};
use std::io::BufRead;
use std::path::Path;

/// `rotor state list`: one line per family.
pub fn list(ws: &Workspace) -> Result<u8, Reported> {
    let backend = ws.backend("rotor state list", false)?;
    let Some(state) = ws.existing_state(&backend)? else {
        eprintln!("No state yet: run `rotor apply` to bootstrap the spec's families.");
        return Ok(OK);
    };
    for (name, f) in &state.families {
        let live = f.live_versions();
        println!(
            "{name}\tactive {}\t{}",
            f.active.as_deref().unwrap_or("none"),
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
    let backend = ws.backend("rotor state pull", false)?;
    let Some(state) = ws.existing_state(&backend)? else {
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
    let backend = ws.backend("rotor state push", true)?;
    let current = ws.existing_state(&backend)?;
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
pub fn rm(ws: &Workspace, family: &str, yes: bool) -> Result<u8, Reported> {
    let backend = ws.backend("rotor state rm", true)?;
    let Some(mut state) = ws.existing_state(&backend)? else {
        render::error("there is no state", None);
        return Err(Reported);
    };
    let Some(f) = state.families.get(family) else {
        let names: Vec<&str> = state.families.keys().map(String::as_str).collect();
        let hint = rotor_engine::diagnostics::did_you_mean(family, names.iter().copied())
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
        if line.trim() != family {
            eprintln!("Nothing removed.");
            return Ok(ERROR);
        }
    }
    state.families.remove(family);
    state.serial += 1;
    backend.save(&state).map_err(|e| {
        render::error(&e.to_string(), None);
        Reported
    })?;
    eprintln!("Removed secret.{family} from the state.");
    Ok(OK)
}
