//! The planner: from spec, state and live view to an ordered plan per family.
//!
//! A plan is plain data. Per family it is a DAG of steps (each lists the steps
//! it runs `after`), always in the order **accept new → verify → emit new →
//! hold → revoke old**. Steps carry their gates and, where the gate is a time
//! window, the earliest time it can open if everything before it ran now.
//! The planner never checks its own work: [`crate::safety::check_plan`] does,
//! separately, on every plan.
//!
//! The module is split as the plan is made:
//!
//! - `model`: the plan as data ([`Plan`], [`FamilyPlan`], [`Step`],
//!   [`Action`], [`Gate`]), what apply, the checker and the renderers read;
//! - `build`: [`plan()`], one family at a time, stage by stage;
//! - `gates`: the gates each step waits on, and when each time window opens;
//! - `gate_id`: [`GateId`], the name of a probe's gate (`accept.api_gateway`).

mod build;
mod gate_id;
mod gates;
mod model;

pub use build::plan;
pub use gate_id::{GateId, GateIdError};
pub use model::{
    Action, FamilyPlan, Gate, GateKind, GateStatus, PLAN_FORMAT_VERSION, Plan, Step, Summary,
    WindowView,
};
