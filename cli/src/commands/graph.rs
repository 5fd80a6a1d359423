use super::plan::make_plan;
use super::{ERROR, OK};
use crate::context::{Reported, Workspace};
use crate::render;
use crate::render::graph::{GraphFormat, GraphKind};

/// `rotor graph`: the resource graph of the spec, or the plan's step graph,
/// on stdout.
pub async fn run(ws: &Workspace, kind: GraphKind, format: GraphFormat) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let (graph, code) = match kind {
        GraphKind::Resources => (render::graph::resources(&resolved), OK),
        GraphKind::Plan => {
            let providers = ws.providers(&resolved)?;
            let backend = ws.backend(Some(&resolved))?;
            let state = ws.state(&*backend)?;
            let plan = make_plan(&resolved, &providers, &state, 10).await?;
            // A blocked family has no steps to draw; say why, as `rotor plan` does.
            let mut code = OK;
            for f in &plan.families {
                if let Some(reason) = &f.blocked {
                    render::error(
                        &format!("secret.{} is blocked: {reason}", f.family),
                        Some("`rotor plan` shows the family's plan in full"),
                    );
                    code = ERROR;
                }
            }
            (render::graph::plan(&plan), code)
        }
    };
    let text = match format {
        GraphFormat::Dot => render::graph::dot(&graph),
        GraphFormat::Mermaid => render::graph::mermaid(&graph),
    };
    print!("{text}");
    Ok(code)
}
