use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;

pub fn run(ws: &Workspace, families: &[String], json: bool) -> Result<u8, Reported> {
    if let [arg] = families
        && super::plan_file::looks_like_plan(arg)
    {
        return super::plan_file::show(ws, std::path::Path::new(arg), json);
    }
    let backend = ws.backend("rotor show", false)?;
    let Some(state) = ws.existing_state(&backend)? else {
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
