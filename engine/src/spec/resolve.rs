use super::*;
/// Family.
#[derive(Debug, Clone)]
pub struct Family;
/// Graph.
#[derive(Debug, Clone)]
pub struct ResourceGraph;
/// Id.
pub struct ResourceId;
pub(super) fn resolve(_spec: Spec, _d: &mut Diagnostics) -> Option<Resolved> { todo!() }
