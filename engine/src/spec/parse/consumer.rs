//! `consumer "NAME" { … }` with its `verify "KIND"` blocks.

use super::Parser;
use super::body::BodyReader;
use crate::diagnostics::Diagnostic;
use crate::spec::{ConsumerSpec, Located, ProbePhase, RefKind, Spec, VerifySpec};
use crate::time::{Duration, Timestamp};
use hcl_edit::structure::Block;

impl Parser<'_, '_> {
    pub(super) fn consumer(&mut self, block: &Block, spec: &mut Spec) {
        let Some(l) = self.labels(block, &["name"]) else {
            return;
        };
        let header = self.header(block);
        let mut r = BodyReader::new(
            self,
            &block.body,
            &[
                "accepts",
                "emits",
                "via",
                "cache_ttl",
                "token_ttl",
                "max_versions",
                "flag_day_reason",
                "blast_radius",
                "third_party",
                "hold_until",
                "hold_reason",
            ],
            false,
        );
        let accepts = r.references("accepts", RefKind::Secret, false);
        let emits = r.references("emits", RefKind::Secret, false);
        let via = r.reference("via", RefKind::Publish, false);
        let cache_ttl = r.duration("cache_ttl");
        let token_ttl = r.duration("token_ttl");
        let max_versions = r.integer("max_versions");
        let flag_day_reason = r.string("flag_day_reason");
        let blast_radius = r.string("blast_radius").map(|s| s.value);
        let third_party = r.string("third_party").map(|s| s.value);
        let hold_until = r.string("hold_until").and_then(|s| {
            let parsed = Timestamp::parse_date(&s.value).or_else(|_| Timestamp::parse_rfc3339(&s.value));
            match parsed {
                Ok(t) => Some(Located { value: t, span: s.span }),
                Err(_) => {
                    r.p.diags.push(
                        Diagnostic::error(format!("hold_until: `{}` is not a date", s.value), Some(s.span))
                            .hint("write a date such as \"2027-01-15\" or a UTC time such as \"2027-01-15T09:00:00Z\""),
                    );
                    None
                }
            }
        });
        let hold_reason = r.string("hold_reason");
        let body = r.body;
        r.finish(&["verify"]);
        let mut verify = Vec::new();
        for b in body.blocks().filter(|b| b.ident.as_str() == "verify") {
            if let Some(v) = self.verify(b) {
                verify.push(v);
            }
        }
        spec.consumers.push(ConsumerSpec {
            name: l[0].clone().into(),
            accepts,
            emits,
            via,
            cache_ttl,
            token_ttl,
            max_versions,
            flag_day_reason,
            blast_radius,
            third_party,
            hold_until,
            hold_reason,
            verify,
            span: header,
        });
    }

    fn verify(&mut self, block: &Block) -> Option<VerifySpec> {
        let l = self.labels(block, &["kind"])?;
        let span = self.header(block);
        let known: &[&str] = match l[0].as_str() {
            "command" => &["command", "timeout", "on", "within"],
            "manual" => &["on", "within", "instructions"],
            // Later probe kinds read their own settings; the provider reports unknown ones.
            _ => &[],
        };
        let generic = known.is_empty();
        self.placeholders = true;
        let mut r = BodyReader::new(self, &block.body, known, generic);
        let on_span = r.span_of("on");
        let on_list = r.strings("on");
        let within = r.duration("within");
        // `on` and `within` are read above, so they are not among the
        // settings: the engine owns them. A provider that refuses one of the
        // phases points at `on_span`.
        let settings = r.all_settings();
        r.finish(&[]);
        self.placeholders = false;
        let mut on = Vec::new();
        for s in on_list {
            match ProbePhase::from_name(&s.value) {
                Some(phase) => on.push(phase),
                None => {
                    self.error(format!("`{}` is not a phase", s.value), s.span.range)
                        .hint = Some(
                        "`on` lists phases: \"accept\", \"emit\", \"drain\" (before the old version is revoked), \"guard\" (after)"
                            .into(),
                    );
                }
            }
        }
        Some(VerifySpec {
            kind: l[0].clone(),
            on,
            on_span,
            within: within.map_or(Duration::parse("10m").expect("constant"), |w| w.value),
            settings,
            span,
        })
    }
}
