//! From `.hcl` text to a typed [`Spec`], with every value located.
//!
//! hcl-edit keeps byte spans on blocks, attributes and expressions; we
//! evaluate rotor's small expression language (literals, lists, references,
//! `env("NAME")`) ourselves so that each error points at the exact expression.

use super::*;
use crate::diagnostics::{Diagnostic, SourceFile, did_you_mean};
use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Attribute, Block, Body};
use hcl_edit::template::Element;
use std::path::PathBuf;

/// Reads configuration for `env("NAME")`. The engine reads no environment of its own.
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + Sync + 'a;

/// Parses every file (already read, sorted by path) into one spec.
pub fn parse_files(files: Vec<(PathBuf, String)>, env: &EnvLookup<'_>) -> (Spec, Diagnostics) {
    let mut spec = Spec::default();
    let mut diags = Diagnostics::default();
    if files.is_empty() {
        diags.push(
            Diagnostic::error("no .hcl files found", None)
                .hint("run `rotor init` to write a starter spec, or pass `-C DIR`"),
        );
    }
    for (path, text) in files {
        let index = spec.sources.files.len();
        spec.sources
            .files
            .push(std::sync::Arc::new(SourceFile::new(path, text)));
        let file = &spec.sources.files[index];
        match parse_file(index, &file.text, env) {
            Ok((part, part_diags)) => {
                spec.stores.extend(part.stores);
                spec.secrets.extend(part.secrets);
                spec.publishers.extend(part.publishers);
                spec.consumers.extend(part.consumers);
                diags.0.extend(part_diags.0);
                merge_policy(&mut spec, part.policy, &mut diags);
                merge_state(&mut spec, part.state, &mut diags);
            }
            Err(e) => {
                let loc = e.location();
                let at = file.offset(loc.line(), loc.column());
                diags.push(
                    Diagnostic::error(
                        format!("{SYNTAX_ERROR}{}", e.message()),
                        Some(Span {
                            file: index,
                            range: at..at,
                        }),
                    )
                    .hint("check for a missing quote, brace or `=` on or before this line"),
                );
            }
        }
    }
    (spec, diags)
}

/// Keeps the first `policy` block; a second one is an error.
fn merge_policy(spec: &mut Spec, policy: Option<PolicySpec>, diags: &mut Diagnostics) {
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

fn merge_state(spec: &mut Spec, state: Option<StateSpec>, diags: &mut Diagnostics) {
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

/// How every syntax error's summary starts.
pub(super) const SYNTAX_ERROR: &str = "syntax error: ";

/// Below this size a file is parsed in one piece.
const CHUNK_BYTES: usize = 64 * 1024;

/// Parses one file. Large files are cut between top-level blocks and the
/// pieces parsed on every core: the syntax tree of a whole large file costs
/// forty times its size in memory, a piece's is dropped as soon as it is read.
/// If any piece fails to parse, the whole file is parsed in one piece, so that
/// a syntax error is always reported exactly as for an uncut file.
fn parse_file(
    index: usize,
    text: &str,
    env: &EnvLookup<'_>,
) -> Result<(Spec, Diagnostics), hcl_edit::parser::Error> {
    let chunks = split_top_level(text, CHUNK_BYTES);
    let whole = |diags: &mut Diagnostics, spec: &mut Spec| {
        let body = hcl_edit::parser::parse_body(text)?;
        Parser {
            placeholders: false,
            file: index,
            base: 0,
            text,
            env,
            diags,
        }
        .top_level(&body, spec);
        Ok::<(), hcl_edit::parser::Error>(())
    };
    let mut spec = Spec::default();
    let mut diags = Diagnostics::default();
    let Some(chunks) = chunks.filter(|c| c.len() > 1) else {
        whole(&mut diags, &mut spec)?;
        return Ok((spec, diags));
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chunks.len());
    let per = chunks.len().div_ceil(threads);
    let results: Vec<Option<(Spec, Diagnostics)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .chunks(per)
            .map(|group| {
                scope.spawn(move || {
                    let mut spec = Spec::default();
                    let mut diags = Diagnostics::default();
                    for range in group {
                        let body = hcl_edit::parser::parse_body(&text[range.clone()]).ok()?;
                        Parser {
                            placeholders: false,
                            file: index,
                            base: range.start,
                            text,
                            env,
                            diags: &mut diags,
                        }
                        .top_level(&body, &mut spec);
                    }
                    Some((spec, diags))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("parser thread"))
            .collect()
    });
    if results.iter().any(Option::is_none) {
        whole(&mut diags, &mut spec)?;
        return Ok((spec, diags));
    }
    for (part, part_diags) in results.into_iter().flatten() {
        spec.stores.extend(part.stores);
        spec.secrets.extend(part.secrets);
        spec.publishers.extend(part.publishers);
        spec.consumers.extend(part.consumers);
        diags.0.extend(part_diags.0);
        merge_policy(&mut spec, part.policy, &mut diags);
        merge_state(&mut spec, part.state, &mut diags);
    }
    Ok((spec, diags))
}

/// Byte ranges of at least `min` bytes that each end after a top-level
/// block's closing brace and line. `None` when the text does not scan cleanly
/// (the caller then parses it whole). Strings, comments and heredocs are
/// skipped so that their braces do not count.
fn split_top_level(text: &str, min: usize) -> Option<Vec<std::ops::Range<usize>>> {
    if text.len() < 2 * min {
        return None;
    }
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let (mut depth, mut start, mut i) = (0i64, 0usize, 0usize);
    let line_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| from + p + 1)
    };
    while i < bytes.len() {
        match bytes[i] {
            b'#' => i = line_end(i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_end(i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map(|p| i + 2 + p + 2)?;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() || bytes[i] == b'\n' {
                    return None;
                }
                i += 1;
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                let rest = &text[i + 2..];
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if ident.is_empty() {
                    return None;
                }
                // Skip to the line that holds only the identifier.
                let mut j = line_end(i);
                loop {
                    if j >= bytes.len() {
                        return None;
                    }
                    let end = line_end(j);
                    if text[j..end].trim() == ident {
                        i = end;
                        break;
                    }
                    j = end;
                }
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
                i += 1;
                if depth == 0 {
                    let end = line_end(i);
                    if end - start >= min && text[i..end].trim().is_empty() {
                        chunks.push(start..end);
                        start = end;
                    }
                    i = end.max(i);
                }
            }
            _ => i += 1,
        }
    }
    if depth != 0 {
        return None;
    }
    if start < bytes.len() {
        chunks.push(start..bytes.len());
    }
    Some(chunks)
}

const TOP_LEVEL: &[&str] = &["store", "secret", "publish", "consumer", "policy", "state"];
/// Attribute names whose literal values would be material.
const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "secret_value",
    "token",
    "api_key",
    "private_key",
    "key_material",
    "client_secret",
];

struct Parser<'a, 'e> {
    file: usize,
    /// Where the parsed piece starts in the file: hcl-edit's spans are relative to the piece.
    base: usize,
    /// The whole file, for line numbers in messages.
    text: &'a str,
    env: &'a EnvLookup<'e>,
    diags: &'a mut Diagnostics,
    /// Inside a `verify` block, where `${version}`, `${kid}`, `${family}` and
    /// `${consumer}` are kept for the probe to fill in.
    placeholders: bool,
}

/// What a probe fills into its settings at run time.
pub const PROBE_PLACEHOLDERS: [&str; 4] = ["version", "kid", "family", "consumer"];

fn range_of(x: &impl hcl_edit::Span) -> std::ops::Range<usize> {
    x.span().unwrap_or(0..0)
}

impl Parser<'_, '_> {
    fn span(&self, range: std::ops::Range<usize>) -> Span {
        Span {
            file: self.file,
            range: range.start + self.base..range.end + self.base,
        }
    }

    /// The 1-based line of a byte offset in the whole file.
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn error(
        &mut self,
        summary: impl Into<String>,
        range: std::ops::Range<usize>,
    ) -> &mut Diagnostic {
        let span = self.span(range);
        self.diags.push(Diagnostic::error(summary, Some(span)));
        self.diags.0.last_mut().expect("just pushed")
    }

    /// The span of a block's header: `secret "name"`.
    fn header(&self, block: &Block) -> Span {
        let start = range_of(&block.ident).start;
        let end = block
            .labels
            .last()
            .map_or(range_of(&block.ident).end, |l| range_of(l).end);
        self.span(start..end)
    }

    fn labels(&mut self, block: &Block, names: &[&str]) -> Option<Vec<String>> {
        let kw = block.ident.as_str();
        if block.labels.len() != names.len() {
            let expected = names
                .iter()
                .map(|n| format!("\"{}\"", n.to_uppercase()))
                .collect::<Vec<_>>()
                .join(" ");
            let range = self.header(block).range;
            self.error(
                format!(
                    "`{kw}` takes {} label{}, found {}",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    block.labels.len()
                ),
                range,
            )
            .hint = Some(format!("write it as `{kw} {expected} {{ … }}`"));
            return None;
        }
        let mut out = Vec::new();
        for label in &block.labels {
            let text = label.as_str().to_string();
            if !is_name(&text) {
                let range = range_of(label);
                self.error(format!("`{text}` is not a valid name"), range)
                    .hint = Some(
                    "names use letters, digits, `_`, `-` and `.`, and start with a letter or digit"
                        .into(),
                );
                return None;
            }
            out.push(text);
        }
        Some(out)
    }

    fn top_level(&mut self, body: &Body, spec: &mut Spec) {
        for structure in body.iter() {
            if let Some(attr) = structure.as_attribute() {
                let range = range_of(attr);
                self.error(
                    format!(
                        "unexpected attribute `{}` at the top level",
                        attr.key.as_str()
                    ),
                    range,
                )
                .hint = Some(
                    "attributes belong inside a `secret`, `store`, `publish` or `consumer` block"
                        .into(),
                );
                continue;
            }
            let Some(block) = structure.as_block() else {
                continue;
            };
            match block.ident.as_str() {
                "store" => self.store(block, spec),
                "secret" => self.secret(block, spec),
                "publish" => self.publish(block, spec),
                "consumer" => self.consumer(block, spec),
                "policy" => self.policy(block, spec),
                "state" => self.state(block, spec),
                other => {
                    let range = range_of(&block.ident);
                    let d = self.error(format!("unknown block type `{other}`"), range);
                    d.hint = Some(match did_you_mean(other, TOP_LEVEL.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("top-level blocks are {}", TOP_LEVEL.join(", ")),
                    });
                }
            }
        }
    }

    fn store(&mut self, block: &Block, spec: &mut Spec) {
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

    fn state(&mut self, block: &Block, spec: &mut Spec) {
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

    fn policy(&mut self, block: &Block, spec: &mut Spec) {
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

    fn publish(&mut self, block: &Block, spec: &mut Spec) {
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

    fn secret(&mut self, block: &Block, spec: &mut Spec) {
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
        let active = r.string("active");
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
                        id: l[0].clone(),
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
            name: l[0].clone(),
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
                if let Some(c) = &curve
                    && c.value != "P-256"
                {
                    let range = c.span.range.clone();
                    self.error(format!("curve `{}` is not supported", c.value), range)
                        .hint = Some("use \"P-256\"".into());
                    return None;
                }
                Generate::Ec {
                    curve: "P-256".into(),
                }
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
                let enc = encoding
                    .as_ref()
                    .map_or("base64url".to_string(), |e| e.value.clone());
                if !["base64url", "base64", "hex"].contains(&enc.as_str()) {
                    let range = encoding.map_or(span.range.clone(), |e| e.span.range);
                    self.error(format!("encoding `{enc}` is not supported"), range)
                        .hint = Some("use \"base64url\", \"base64\" or \"hex\"".into());
                    return None;
                }
                Generate::Random {
                    length: len,
                    encoding: enc,
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

    fn consumer(&mut self, block: &Block, spec: &mut Spec) {
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
            name: l[0].clone(),
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
        let on_list = r.strings("on");
        let within = r.duration("within");
        let mut settings = r.all_settings();
        settings.remove("on");
        settings.remove("within");
        r.finish(&[]);
        self.placeholders = false;
        let mut on = Vec::new();
        for s in on_list {
            match s.value.as_str() {
                "accept" => on.push(ProbePhase::Accept),
                "emit" => on.push(ProbePhase::Emit),
                "drain" => on.push(ProbePhase::Drain),
                "guard" => on.push(ProbePhase::Guard),
                other => {
                    self.error(format!("`{other}` is not a phase"), s.span.range)
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
            within: within.map_or(Duration::parse("10m").expect("constant"), |w| w.value),
            settings,
            span,
        })
    }

    /// Evaluates an expression. `key` is the attribute it belongs to, for the material rule.
    fn eval(&mut self, expr: &Expression, key: &str) -> Option<Located<Value>> {
        let range = range_of(expr);
        let span = self.span(range.clone());
        let value = match expr {
            Expression::String(s) => {
                let text = s.value().clone();
                self.check_literal(key, &text, range.clone());
                Value::String(text)
            }
            Expression::StringTemplate(t) => {
                let mut out = String::new();
                for element in t.iter() {
                    match element {
                        Element::Literal(lit) => {
                            self.check_literal(key, lit.value(), range.clone());
                            out.push_str(lit.value());
                        }
                        Element::Interpolation(i)
                            if self.placeholders
                                && matches!(&i.expr, Expression::Variable(v) if PROBE_PLACEHOLDERS.contains(&v.as_str())) =>
                        {
                            out.push_str(&format!(
                                "${{{}}}",
                                i.expr.as_variable().expect("matched").as_str()
                            ));
                        }
                        Element::Interpolation(i) => match self.eval(&i.expr, key)?.value {
                            Value::String(s) => out.push_str(&s),
                            Value::Number(n) => out.push_str(&n.to_string()),
                            _ => {
                                self.error("only strings can be interpolated", range_of(&i.expr));
                                return None;
                            }
                        },
                        Element::Directive(_) => {
                            self.error("template directives are not supported", range.clone())
                                .hint = Some("write `$${` to keep a literal `${`".into());
                            return None;
                        }
                    }
                }
                Value::String(out)
            }
            Expression::HeredocTemplate(h) => {
                let mut out = String::new();
                for element in h.template.iter() {
                    match element.as_literal() {
                        Some(lit) => out.push_str(lit.value()),
                        None => {
                            self.error("heredocs with interpolations are not supported", range);
                            return None;
                        }
                    }
                }
                self.check_literal(key, &out, range.clone());
                Value::String(out)
            }
            Expression::Number(n) => Value::Number(n.value().as_f64().unwrap_or(f64::NAN)),
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Array(a) => {
                let mut items = Vec::new();
                for item in a.iter() {
                    items.push(self.eval(item, key)?);
                }
                Value::List(items)
            }
            Expression::Parenthesis(p) => return self.eval(p.inner(), key),
            Expression::FuncCall(call) => {
                let name = call.name.name.as_str();
                if name != "env" || call.name.is_namespaced() {
                    self.error(format!("unknown function `{name}`"), range).hint = Some(
                        "the one function is `env(\"NAME\")`, which reads an environment variable"
                            .into(),
                    );
                    return None;
                }
                let arg = match (call.args.len(), call.args.get(0)) {
                    (1, Some(Expression::String(s))) => s.value().clone(),
                    _ => {
                        self.error("`env` takes one string: the variable's name", range)
                            .hint = Some("write `env(\"VAULT_ADDR\")`".into());
                        return None;
                    }
                };
                match (self.env)(&arg) {
                    Some(v) => Value::String(v),
                    None => {
                        self.error(format!("environment variable `{arg}` is not set"), range)
                            .hint = Some(format!("export {arg}=… before running rotor"));
                        return None;
                    }
                }
            }
            Expression::Traversal(t) => {
                let Expression::Variable(root) = &t.expr else {
                    self.error("unsupported expression", range);
                    return None;
                };
                let mut path = Vec::new();
                for op in &t.operators {
                    match op.value() {
                        TraversalOperator::GetAttr(ident) => path.push(ident.as_str().to_string()),
                        _ => {
                            self.error(
                                "references are written `kind.name`, without indexes or splats",
                                range,
                            );
                            return None;
                        }
                    }
                }
                let kind = match root.as_str() {
                    "store" => RefKind::Store,
                    "secret" => RefKind::Secret,
                    "publish" => RefKind::Publish,
                    "consumer" => RefKind::Consumer,
                    other => {
                        let d = self.error(
                            format!("unknown reference `{other}.{}`", path.join(".")),
                            range,
                        );
                        d.hint = Some(match did_you_mean(other, TOP_LEVEL.iter().copied()) {
                            Some(s) => format!("did you mean `{s}.{}`?", path.join(".")),
                            None => "references start with store., secret., publish. or consumer."
                                .into(),
                        });
                        return None;
                    }
                };
                Value::Ref(Reference {
                    kind,
                    path,
                    span: span.clone(),
                })
            }
            Expression::Variable(v) => {
                let name = v.as_str();
                self.error(format!("`{name}` is not a value"), range).hint = Some(format!(
                    "quote it (\"{name}\") for a string, or write a reference such as `secret.{name}`"
                ));
                return None;
            }
            _ => {
                self.error("unsupported expression", range).hint =
                    Some("use a string, number, boolean, list, reference or env(\"NAME\")".into());
                return None;
            }
        };
        Some(Located { value, span })
    }

    /// The rule from the field: material never sits in a spec.
    fn check_literal(&mut self, key: &str, text: &str, range: std::ops::Range<usize>) {
        let sensitive = SENSITIVE_KEYS.iter().any(|k| {
            key.strip_suffix(k)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('_'))
        });
        let reason = if text.contains("-----BEGIN") || text.contains("PRIVATE KEY") {
            Some("it looks like a PEM key")
        } else if sensitive && !text.is_empty() {
            Some("the attribute holds a credential")
        } else if looks_random(text) {
            Some("it looks like key material (a long random-looking string)")
        } else {
            None
        };
        if let Some(reason) = reason {
            let d = self.error(
                format!("a literal in `{key}` looks like secret material: {reason}"),
                range,
            );
            d.conceal = true;
            d.hint = Some(format!(
                "material lives only in stores; read configuration with env(\"NAME\") instead of writing it in `{key}`"
            ));
        }
    }
}

/// 32 or more characters from a base64/hex alphabet, mixing digits and letters,
/// with no spaces: the shape of an API key, an HMAC secret or a private key body.
fn looks_random(text: &str) -> bool {
    if text.len() < 32 || text.contains(char::is_whitespace) {
        return false;
    }
    let alphabet = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'));
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let upper = text.chars().filter(char::is_ascii_uppercase).count();
    let lower = text.chars().filter(char::is_ascii_lowercase).count();
    let hexish = text.chars().all(|c| c.is_ascii_hexdigit()) && digits > 0 && (upper + lower) > 0;
    alphabet && (hexish || (digits >= 4 && upper >= 4 && lower >= 4))
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads a block body attribute by attribute, reporting duplicates and unknown keys.
struct BodyReader<'p, 'a, 'e, 'b> {
    p: &'p mut Parser<'a, 'e>,
    body: &'b Body,
    attrs: Vec<&'b Attribute>,
    taken: Vec<String>,
    known: &'static [&'static str],
    generic: bool,
}

impl<'p, 'a, 'e, 'b> BodyReader<'p, 'a, 'e, 'b> {
    fn new(
        p: &'p mut Parser<'a, 'e>,
        body: &'b Body,
        known: &'static [&'static str],
        generic: bool,
    ) -> Self {
        let mut attrs: Vec<&Attribute> = Vec::new();
        for a in body.attributes() {
            if let Some(first) = attrs.iter().find(|f| f.key.as_str() == a.key.as_str()) {
                let first_line = p.line_of(range_of(*first).start + p.base);
                let range = range_of(a);
                p.error(format!("`{}` is set twice", a.key.as_str()), range)
                    .detail = Some(format!("first set on line {first_line}; remove one"));
                continue;
            }
            attrs.push(a);
        }
        BodyReader {
            p,
            body,
            attrs,
            taken: Vec::new(),
            known,
            generic,
        }
    }

    fn get(&mut self, key: &str) -> Option<&'b Attribute> {
        self.taken.push(key.to_string());
        self.attrs.iter().copied().find(|a| a.key.as_str() == key)
    }

    fn value(&mut self, key: &str) -> Option<Located<Value>> {
        let attr = self.get(key)?;
        self.p.eval(&attr.value, key)
    }

    fn type_error(&mut self, key: &str, want: &str, span: &Span) {
        self.p.diags.push(
            Diagnostic::error(format!("`{key}` must be {want}"), Some(span.clone()))
                .label(format!("expected {want}")),
        );
    }

    fn string(&mut self, key: &str) -> Option<Located<String>> {
        let v = self.value(key)?;
        match v.value {
            Value::String(s) => Some(Located {
                value: s,
                span: v.span,
            }),
            _ => {
                self.type_error(key, "a string", &v.span);
                None
            }
        }
    }

    fn strings(&mut self, key: &str) -> Vec<Located<String>> {
        let Some(v) = self.value(key) else {
            return Vec::new();
        };
        let items = match v.value {
            Value::List(items) => items,
            Value::String(_) => vec![v.clone()],
            _ => {
                self.type_error(key, "a string or a list of strings", &v.span);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            match item.value {
                Value::String(s) => out.push(Located {
                    value: s,
                    span: item.span,
                }),
                _ => self.type_error(key, "a list of strings", &item.span),
            }
        }
        out
    }

    fn integer(&mut self, key: &str) -> Option<Located<u32>> {
        let v = self.value(key)?;
        match v.value {
            Value::Number(n) if n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n) => {
                Some(Located {
                    value: n as u32,
                    span: v.span,
                })
            }
            _ => {
                self.type_error(key, "a whole number", &v.span);
                None
            }
        }
    }

    fn duration(&mut self, key: &str) -> Option<Located<Duration>> {
        let s = self.string(key)?;
        match Duration::parse(&s.value) {
            Ok(d) => Some(Located {
                value: d,
                span: s.span,
            }),
            Err(e) => {
                self.p.diags.push(
                    Diagnostic::error(format!("`{key}`: {e}"), Some(s.span))
                        .hint("write a duration such as \"90s\", \"10m\", \"2h\" or \"90d\""),
                );
                None
            }
        }
    }

    fn references(&mut self, key: &str, kind: RefKind, required: bool) -> Vec<Reference> {
        let Some(v) = self.value(key) else {
            if required {
                self.missing(
                    key,
                    &format!("a reference such as `{}.NAME`", kind.keyword()),
                );
            }
            return Vec::new();
        };
        let items = match v.value {
            Value::List(items) => items,
            _ => vec![v],
        };
        let mut out = Vec::new();
        for item in items {
            match item.value {
                Value::Ref(r) if r.kind == kind => out.push(r),
                Value::Ref(r) => {
                    self.p.diags.push(
                        Diagnostic::error(
                            format!(
                                "`{key}` must name a {}, not a {}",
                                kind.keyword(),
                                r.kind.keyword()
                            ),
                            Some(item.span),
                        )
                        .label(format!("this is {r}"))
                        .hint(format!(
                            "write `{} = {}.NAME`",
                            key,
                            kind.keyword()
                        )),
                    );
                }
                Value::String(s) => {
                    self.p.diags.push(
                        Diagnostic::error(
                            format!("`{key}` must be a reference, not a string"),
                            Some(item.span),
                        )
                        .hint(format!(
                            "remove the quotes: `{key} = {}.{s}`",
                            kind.keyword()
                        )),
                    );
                }
                _ => self.type_error(
                    key,
                    &format!("a reference to a {}", kind.keyword()),
                    &item.span,
                ),
            }
        }
        out
    }

    fn reference(&mut self, key: &str, kind: RefKind, required: bool) -> Option<Reference> {
        let mut refs = self.references(key, kind, required);
        if refs.len() > 1 {
            let span = refs[1].span.clone();
            self.p.diags.push(Diagnostic::error(
                format!("`{key}` takes one reference"),
                Some(span),
            ));
        }
        if refs.is_empty() {
            None
        } else {
            Some(refs.swap_remove(0))
        }
    }

    fn missing(&mut self, key: &str, what: &str) {
        let block_start = self.body.span().map_or(0, |r| r.start.saturating_sub(1));
        let span = self.p.span(block_start..block_start + 1);
        self.p.diags.push(
            Diagnostic::error(format!("missing required attribute `{key}`"), Some(span))
                .hint(format!("add `{key} = …`: {what}")),
        );
    }

    /// Every attribute not yet read, evaluated, for provider settings.
    fn all_settings(&mut self) -> Settings {
        let mut out = Settings::default();
        let attrs = self.attrs.clone();
        for a in attrs {
            let key = a.key.as_str().to_string();
            if self.taken.contains(&key) || !(self.generic || self.known.contains(&key.as_str())) {
                continue;
            }
            if let Some(v) = self.p.eval(&a.value, &key) {
                out.insert(key.clone(), v);
            }
            self.taken.push(key);
        }
        out
    }

    /// Reports attributes nobody read and blocks not in `blocks`.
    fn finish(self, blocks: &[&str]) {
        for a in &self.attrs {
            let key = a.key.as_str();
            if self.taken.iter().any(|t| t == key) || (self.generic && self.known.is_empty()) {
                continue;
            }
            let range = range_of(&a.key);
            let hint = match did_you_mean(key, self.known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if self.known.is_empty() => "this block takes no attributes".into(),
                None => format!("known attributes here: {}", self.known.join(", ")),
            };
            self.p
                .error(format!("unknown attribute `{key}`"), range)
                .hint = Some(hint);
        }
        for b in self.body.blocks() {
            let ident = b.ident.as_str();
            if blocks.contains(&ident) {
                continue;
            }
            let range = range_of(&b.ident);
            let hint = match did_you_mean(ident, blocks.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if blocks.is_empty() => "this block takes no nested blocks".into(),
                None => format!("blocks allowed here: {}", blocks.join(", ")),
            };
            self.p
                .error(format!("unexpected block `{ident}`"), range)
                .hint = Some(hint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(i: usize) -> String {
        format!(
            "# comment with {{ brace\nconsumer \"c{i}\" {{\n  accepts = secret.s // }} not a brace\n  /* {{ */ cache_ttl = \"1s\"\n  verify \"command\" {{\n    command = [\"sh\", \"-c\", \"echo '}}' \\\" {{\"]\n  }}\n}}\n\n"
        )
    }

    #[test]
    fn cutting_between_top_level_blocks_keeps_every_block_whole() {
        let text: String = (0..400).map(block).collect();
        let chunks = split_top_level(&text, 4096).expect("scans");
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        assert_eq!(chunks.first().unwrap().start, 0);
        assert_eq!(chunks.last().unwrap().end, text.len());
        for w in chunks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for c in &chunks {
            hcl_edit::parser::parse_body(&text[c.clone()]).expect("each piece parses");
        }
        // The pieces give the same consumers, with the same spans, as one whole parse.
        let env = |_: &str| None;
        let (cut, _) = parse_file(0, &text, &env).unwrap();
        let body = hcl_edit::parser::parse_body(&text).unwrap();
        let mut whole = Spec::default();
        let mut diags = Diagnostics::default();
        Parser {
            placeholders: false,
            file: 0,
            base: 0,
            text: &text,
            env: &env,
            diags: &mut diags,
        }
        .top_level(&body, &mut whole);
        assert_eq!(cut.consumers.len(), 400);
        for (a, b) in cut.consumers.iter().zip(&whole.consumers) {
            assert_eq!(
                (&a.name, &a.span, &a.verify[0].span),
                (&b.name, &b.span, &b.verify[0].span)
            );
        }
    }

    #[test]
    fn text_that_does_not_scan_is_parsed_whole() {
        assert!(split_top_level("a = \"unterminated\n}", 1).is_none());
        assert!(split_top_level(&"x {}\n".repeat(10), 1_000_000).is_none());
        let heredoc = format!("{}z = <<EOT\n}} {{ \"\nEOT\n", "b {}\n".repeat(100));
        let chunks = split_top_level(&heredoc, 64).unwrap();
        assert_eq!(chunks.last().unwrap().end, heredoc.len());
    }
}
