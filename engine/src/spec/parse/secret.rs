//! `secret "NAME" { … }` with its one `generate` block and its `version` blocks.

use super::body::BodyReader;
use super::{Parser, range_of};
use crate::diagnostics::{Diagnostic, did_you_mean};
use crate::names::VersionId;
use crate::spec::{Curve, Encoding, Generate, Located, RefKind, SecretSpec, Spec, VersionSpec};
use crate::time::{Duration, Timestamp};
use hcl_edit::structure::Block;

impl Parser<'_, '_> {
    pub(super) fn secret(&mut self, block: &Block, spec: &mut Spec) {
        let Some(l) = self.labels(block, &["name"]) else {
            return;
        };
        let header = self.header(block);
        let mut r = BodyReader::new(
            self,
            &block.body,
            &[
                "description",
                "owner",
                "store",
                "cadence",
                "review_by",
                "overlap",
                "destroy_after",
                "active",
                "rollback",
            ],
            false,
        );
        let description = r.string("description").map(|s| s.value);
        let owner = r.string("owner").map(|s| s.value);
        let stores = r.references("store", RefKind::Store, true);
        let cadence = r.duration("cadence");
        let review_by = r
            .string("review_by")
            .and_then(|s| match Timestamp::parse_date(&s.value) {
                Ok(t) => Some(Located {
                    value: t,
                    span: s.span,
                }),
                Err(e) => {
                    r.p.diags.push(
                        Diagnostic::error(format!("review_by: {e}"), Some(s.span))
                            .hint("write a date such as \"2027-02-01\""),
                    );
                    None
                }
            });
        let overlap = r.duration("overlap");
        let destroy_after = r.duration("destroy_after").unwrap_or(Located {
            value: Duration::parse("7d").expect("constant"),
            span: header.clone(),
        });
        let active = r.string("active").map(|a| Located {
            value: VersionId::from(a.value),
            span: a.span,
        });
        let rollback = r.string("rollback").map(|s| s.value);
        let body = r.body;
        r.finish(&["generate", "version"]);

        let mut generate = None;
        let mut generate_seen = false;
        let mut versions: Vec<VersionSpec> = Vec::new();
        // Index by id: a family may declare thousands of versions.
        let mut by_id: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for b in body.blocks() {
            match b.ident.as_str() {
                "generate" => {
                    if std::mem::replace(&mut generate_seen, true) {
                        let range = self.header(b).range;
                        self.error("a secret has one `generate` block", range).hint =
                            Some("remove the extra block".into());
                        continue;
                    }
                    generate = self.generate(b);
                }
                "version" => {
                    let Some(l) = self.labels(b, &["id"]) else {
                        continue;
                    };
                    let span = self.header(b);
                    if let Some(first) = by_id.get(l[0].as_str()).map(|&i| &versions[i]) {
                        let first_at = first.span.clone();
                        self.diags.push(
                            Diagnostic::error(
                                format!("version `{}` is declared twice", l[0]),
                                Some(span.clone()),
                            )
                            .detail(format!("first declared on line {}", self.line_of(first_at.range.start)))
                            .hint("each version id names one piece of material; give the new one a new id"),
                        );
                        continue;
                    }
                    let vr = BodyReader::new(self, &b.body, &[], false);
                    vr.finish(&[]);
                    by_id.insert(l[0].to_string(), versions.len());
                    versions.push(VersionSpec {
                        id: l[0].clone().into(),
                        span,
                    });
                }
                _ => {}
            }
        }
        // A generate block with an error has been reported already.
        if !generate_seen {
            self.diags.push(
                Diagnostic::error(
                    format!("secret `{}` has no `generate` block", l[0]),
                    Some(header.clone()),
                )
                .hint("add `generate \"rsa\" { bits = 2048 }`, `generate \"ec\" {}` or `generate \"random\" { length = 32 }`"),
            );
        }
        spec.secrets.push(SecretSpec {
            name: l[0].clone().into(),
            description,
            owner,
            stores,
            cadence,
            review_by,
            overlap,
            destroy_after,
            generate,
            versions,
            active,
            rollback,
            span: header,
        });
    }

    /// A setting that names one of a closed set (`curve`, `encoding`):
    /// `default` when it is not set; `None`, reported at its value with
    /// `hint`, when it names none of them.
    fn choice<T>(
        &mut self,
        what: &str,
        value: Option<Located<String>>,
        default: T,
        from_name: fn(&str) -> Option<T>,
        hint: &str,
    ) -> Option<T> {
        let Some(v) = value else {
            return Some(default);
        };
        let found = from_name(&v.value);
        if found.is_none() {
            self.error(
                format!("{what} `{}` is not supported", v.value),
                v.span.range,
            )
            .hint = Some(hint.into());
        }
        found
    }

    fn generate(&mut self, block: &Block) -> Option<Located<Generate>> {
        let l = self.labels(block, &["kind"])?;
        let span = self.header(block);
        let value = match l[0].as_str() {
            "rsa" => {
                let mut r = BodyReader::new(self, &block.body, &["bits"], false);
                let bits = r.integer("bits");
                r.finish(&[]);
                let bits_value = bits.as_ref().map_or(2048, |b| b.value);
                if ![2048, 3072, 4096].contains(&bits_value) {
                    let range = bits.map_or(span.range.clone(), |b| b.span.range);
                    self.error(
                        format!("RSA keys of {bits_value} bits are not supported"),
                        range,
                    )
                    .hint = Some("use 2048, 3072 or 4096".into());
                    return None;
                }
                Generate::Rsa { bits: bits_value }
            }
            "ec" => {
                let mut r = BodyReader::new(self, &block.body, &["curve"], false);
                let curve = r.string("curve");
                r.finish(&[]);
                let curve = self.choice(
                    "curve",
                    curve,
                    Curve::P256,
                    Curve::from_name,
                    "use \"P-256\"",
                )?;
                Generate::Ec { curve }
            }
            "random" => {
                let mut r = BodyReader::new(self, &block.body, &["length", "encoding"], false);
                let length = r.integer("length");
                let encoding = r.string("encoding");
                r.finish(&[]);
                let len = length.as_ref().map_or(32, |l| l.value);
                if !(16..=512).contains(&len) {
                    let range = length.map_or(span.range.clone(), |l| l.span.range);
                    self.error(
                        format!("a random secret of {len} bytes is not supported"),
                        range,
                    )
                    .hint = Some("use a length from 16 to 512 bytes (32 is a good default)".into());
                    return None;
                }
                let encoding = self.choice(
                    "encoding",
                    encoding,
                    Encoding::Base64Url,
                    Encoding::from_name,
                    "use \"base64url\", \"base64\" or \"hex\"",
                )?;
                Generate::Random {
                    length: len,
                    encoding,
                }
            }
            "login" => {
                let mut r = BodyReader::new(self, &block.body, &["usernames", "length"], false);
                let usernames = r.strings("usernames");
                let length = r.integer("length");
                r.finish(&[]);
                if usernames.is_empty() {
                    self.error("generate \"login\" needs `usernames`", span.range.clone())
                        .hint = Some(
                        "name the login roles that take turns: `usernames = [\"app_a\", \"app_b\"]`"
                            .into(),
                    );
                    return None;
                }
                let len = length.as_ref().map_or(24, |l| l.value);
                if !(16..=64).contains(&len) {
                    let range = length.map_or(span.range.clone(), |l| l.span.range);
                    self.error(format!("a password of {len} bytes is not supported"), range)
                        .hint = Some("use a length from 16 to 64 bytes (24 is the default)".into());
                    return None;
                }
                Generate::Login {
                    usernames: usernames.into_iter().map(|u| u.value).collect(),
                    length: len,
                }
            }
            other => {
                let range = range_of(&block.labels[0]);
                let d = self.error(format!("unknown generator `{other}`"), range);
                d.hint = Some(
                    match did_you_mean(other, ["rsa", "ec", "random", "login"]) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "generators are `rsa`, `ec`, `random` and `login`".into(),
                    },
                );
                return None;
            }
        };
        Some(Located { value, span })
    }
}
