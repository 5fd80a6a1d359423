//! The blocks a spec has at most once: `state` (where rotor keeps its state)
//! and `policy`. A second one, in any file, is an error.

use super::Parser;
use super::body::BodyReader;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::spec::{PolicySpec, Spec, StateSpec};
use hcl_edit::structure::Block;

/// Keeps the first `policy` block; a second one is an error.
pub(super) fn merge_policy(spec: &mut Spec, policy: Option<PolicySpec>, diags: &mut Diagnostics) {
    let Some(policy) = policy else { return };
    if spec.policy.is_some() {
        diags.push(
            Diagnostic::error("a spec has one `policy` block", Some(policy.span))
                .hint("merge the two `policy` blocks into one"),
        );
    } else {
        spec.policy = Some(policy);
    }
}

pub(super) fn merge_state(spec: &mut Spec, state: Option<StateSpec>, diags: &mut Diagnostics) {
    let Some(state) = state else { return };
    if spec.state.is_some() {
        diags.push(
            Diagnostic::error(
                "a second `state` block: a spec keeps its state in one place",
                Some(state.span),
            )
            .hint("remove one of the two `state` blocks"),
        );
    } else {
        spec.state = Some(state);
    }
}

impl Parser<'_, '_> {
    pub(super) fn state(&mut self, block: &Block, spec: &mut Spec) {
        let Some(l) = self.labels(block, &["kind"]) else {
            return;
        };
        let mut r = BodyReader::new(self, &block.body, &["path"], true);
        let settings = r.all_settings();
        r.finish(&[]);
        let state = StateSpec {
            kind: l[0].clone(),
            settings,
            span: self.header(block),
        };
        merge_state(spec, Some(state), self.diags);
    }

    pub(super) fn policy(&mut self, block: &Block, spec: &mut Spec) {
        if self.labels(block, &[]).is_none() {
            return;
        }
        let mut r = BodyReader::new(self, &block.body, &["max_cadence"], false);
        let max_cadence = r.duration("max_cadence");
        r.finish(&[]);
        let policy = PolicySpec {
            max_cadence,
            span: self.header(block),
        };
        merge_policy(spec, Some(policy), self.diags);
    }
}
