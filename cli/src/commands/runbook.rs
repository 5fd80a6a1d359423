use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;

pub async fn run(
    ws: &Workspace,
    families: &[rotor_engine::FamilyName],
    html: bool,
) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    for f in families {
        if resolved.family_by_name(f).is_none() {
            let names = resolved.spec.secrets.iter().map(|s| s.name.as_str());
            let hint = rotor_engine::diagnostics::did_you_mean(f.as_str(), names)
                .map(|m| format!("did you mean `{m}`?"));
            render::error(&format!("no secret `{f}` in the spec"), hint.as_deref());
            return Err(Reported);
        }
    }
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    let state = ws.state(&*backend)?;
    let live = rotor_engine::refresh::refresh(&resolved, &providers, 10).await;
    let plan = rotor_engine::plan::plan(&resolved, &state, &live, providers.clock.now());
    let plan = rotor_engine::safety::CheckedPlan::check(&resolved, &state, plan).map_err(|v| {
        super::plan::report_unsafe(&v);
        Reported
    })?;
    let now = providers.clock.now();
    let books = rotor_engine::runbook::runbooks(&resolved, &state, &live, &plan, now, families);
    let generated = now.human();
    if html {
        print!("{}", render::runbook::html(&books, &generated));
    } else {
        print!("{}", render::runbook::markdown(&books, &generated));
    }
    Ok(OK)
}
