use super::*; pub(super) fn check(_r: &Resolved, _d: &mut Diagnostics) {}
