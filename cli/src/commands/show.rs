use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::FamilyName;

pub fn run(ws: &Workspace, families: &[FamilyName], json: bool) -> Result<u8, Reported> {
    if let [arg] = families
        && super::plan_file::looks_like_plan(arg.as_str())
    {
        return super::plan_file::show(ws, std::path::Path::new(arg.as_str()), json);
    }
    let backend = ws.backend(None)?;
    let Some(state) = ws.existing_state(&*backend)? else {
        if json {
            println!(
                "{}",
                serde_json::json!({"format_version": "1.0", "lineage": null, "serial": 0, "families": {}})
            );
        } else {
            eprintln!("No state yet: run `rotor apply` to bootstrap the spec's families.");
        }
        return Ok(OK);
    };
    for f in families {
        if !state.families.contains_key(f) {
            render::error(
                &format!("no family `{f}` in state"),
                Some("`rotor show` with no arguments lists every family"),
            );
            return Err(Reported);
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::show::json(&state, families)).expect("json")
        );
    } else {
        print!("{}", render::show::human(&state, families));
    }
    Ok(OK)
}

/// `rotor show --events [FAMILY…]`: the history, oldest first.
pub fn events(ws: &Workspace, families: &[FamilyName], json: bool) -> Result<u8, Reported> {
    let backend = ws.backend(None)?;
    let mut events = Vec::new();
    if families.is_empty() {
        events = backend
            .events(None)
            .map_err(|e| read_failed(&*backend, &e))?;
    } else {
        for f in families {
            events.extend(
                backend
                    .events(Some(f))
                    .map_err(|e| read_failed(&*backend, &e))?,
            );
        }
        events.sort_by_key(|e| e.at);
    }
    if events.is_empty() && !json {
        eprintln!("No events yet: the history starts with the first `rotor apply`.");
    }
    for e in &events {
        if json {
            println!("{}", serde_json::to_string(e).expect("an event serialises"));
        } else {
            let detail = if e.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", e.detail)
            };
            let family = if e.family.as_str().is_empty() {
                "(the state)".to_string()
            } else {
                format!("secret.{}", e.family)
            };
            println!(
                "{}  {family}  {}  {}  by {}{detail}",
                e.at.human(),
                e.what,
                e.outcome,
                e.actor
            );
        }
    }
    Ok(OK)
}

fn read_failed(
    backend: &dyn rotor_engine::StateBackend,
    e: &rotor_engine::state::StateError,
) -> Reported {
    render::error(&format!("{}: {e}", backend.describe()), None);
    Reported
}
