//! `publish "KIND" "NAME" { secret = secret.NAME … }`: the `secret` reference
//! is read here, every other attribute is a setting the publisher reads.

use super::Parser;
use super::body::BodyReader;
use crate::spec::{PublishSpec, RefKind, Spec};
use hcl_edit::structure::Block;

impl Parser<'_, '_> {
    pub(super) fn publish(&mut self, block: &Block, spec: &mut Spec) {
        let Some(l) = self.labels(block, &["kind", "name"]) else {
            return;
        };
        let mut r = BodyReader::new(self, &block.body, &["secret", "path"], true);
        let secret = r.reference("secret", RefKind::Secret, true);
        let mut settings = r.all_settings();
        settings.remove("secret");
        r.finish(&[]);
        spec.publishers.push(PublishSpec {
            kind: l[0].clone(),
            name: l[1].clone(),
            secret,
            settings,
            span: self.header(block),
        });
    }
}
