//! `rotor status [--json] [--due]`: every family's active version, age, next
//! due time, rotation in flight and inventory flags.
//!
//! Read-only: the state is read without a lease. A plan is made (stores and
//! publishers refreshed) so that a rotation in flight shows the gate it waits
//! on; nothing is applied or written.

use super::{OK, PENDING};
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::inventory;

pub async fn run(ws: &Workspace, json: bool, due: bool) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    let state = ws.state(&*backend)?;
    let plan = super::plan::make_plan(&resolved, &providers, &state, 10).await?;
    let now = providers.clock.now();
    let families = inventory::status(&resolved, &state, Some(&plan), now);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::status::json(&families)).expect("json")
        );
    } else {
        print!("{}", render::status::human(&families, now));
    }
    let lapsed = families.iter().filter(|f| f.is_due()).count();
    if due && lapsed > 0 {
        eprintln!(
            "{lapsed} famil{} due or overdue for rotation.",
            if lapsed == 1 { "y is" } else { "ies are" }
        );
        return Ok(PENDING);
    }
    Ok(OK)
}
