use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;

/// The starter spec: a copy of `examples/quickstart/rotor.hcl`, kept inside
/// this crate so that the published package (`cargo install rotor-cli`) holds
/// it. The e2e test `init_then_validate` fails when the two differ.
const STARTER: &str = include_str!("init_starter.hcl");

pub fn run(ws: &Workspace) -> Result<u8, Reported> {
    std::fs::create_dir_all(&ws.dir).map_err(|e| {
        render::error(&format!("cannot create {}: {e}", ws.dir.display()), None);
        Reported
    })?;
    if !ws.read_files()?.is_empty() {
        render::error(
            &if ws.dir == std::path::Path::new(".") {
                "this directory already holds .hcl files".to_string()
            } else {
                format!("{} already holds .hcl files", ws.dir.display())
            },
            Some(
                "rotor init writes a starter spec into an empty directory; run it in a new one, or `rotor validate` here",
            ),
        );
        return Err(Reported);
    }
    let write = |name: &str, text: &str| {
        std::fs::write(ws.dir.join(name), text).map_err(|e| {
            render::error(&format!("cannot write {name}: {e}"), None);
            Reported
        })
    };
    // The starter's review date is three months from today, as a team would set it.
    let review =
        (rotor_providers::now() + rotor_engine::Duration::parse("90d").expect("constant")).date();
    let starter = STARTER.replace(
        "review_by     = \"2027-02-01\"",
        &format!("review_by     = \"{review}\""),
    );
    write("rotor.hcl", &starter)?;
    let gitignore = ws.dir.join(".gitignore");
    let existing = std::fs::read_to_string(&gitignore).unwrap_or_default();
    if !existing
        .lines()
        .any(|l| l.trim() == ".rotor/" || l.trim() == ".rotor")
    {
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# rotor's local store and state: secret material, never commit\n.rotor/\n");
        write(".gitignore", &text)?;
    }
    eprintln!(
        "Wrote rotor.hcl (a JWT signing key on the local store, published as a JWKS) and .gitignore (ignores .rotor/).\nNext: `rotor plan`, then `rotor apply`."
    );
    Ok(OK)
}
