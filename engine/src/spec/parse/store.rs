//! `store "KIND" "NAME" { … }`: every attribute is a setting the store provider reads.

use super::Parser;
use super::body::BodyReader;
use crate::spec::{Spec, StoreSpec};
use hcl_edit::structure::Block;

impl Parser<'_, '_> {
    pub(super) fn store(&mut self, block: &Block, spec: &mut Spec) {
        let Some(l) = self.labels(block, &["kind", "name"]) else {
            return;
        };
        let mut r = BodyReader::new(self, &block.body, &["path"], true);
        let settings = r.all_settings();
        r.finish(&[]);
        spec.stores.push(StoreSpec {
            kind: l[0].clone(),
            name: l[1].clone(),
            settings,
            span: self.header(block),
        });
    }
}
