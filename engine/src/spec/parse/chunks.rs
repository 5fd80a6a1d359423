//! Parsing one file, cut between top-level blocks when it is large.

use super::{EnvLookup, Parser, merge_policy, merge_state};
use crate::diagnostics::Diagnostics;
use crate::spec::Spec;
use rotor_hcl::split_top_level;

/// Below this size a file is parsed in one piece.
const CHUNK_BYTES: usize = 64 * 1024;

/// Parses one file. Large files are cut between top-level blocks and the
/// pieces parsed on every core: the syntax tree of a whole large file costs
/// forty times its size in memory, a piece's is dropped as soon as it is read.
/// If any piece fails to parse, the whole file is parsed in one piece, so that
/// a syntax error is always reported exactly as for an uncut file.
pub(super) fn parse_file(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn block(i: usize) -> String {
        format!(
            "# comment with {{ brace\nconsumer \"c{i}\" {{\n  accepts = secret.s // }} not a brace\n  /* {{ */ cache_ttl = \"1s\"\n  verify \"command\" {{\n    command = [\"sh\", \"-c\", \"echo '}}' \\\" {{\"]\n  }}\n}}\n\n"
        )
    }

    /// How the text is cut is rotor-hcl's to test (`split_top_level`); here:
    /// a spec parsed in pieces gives the same consumers, with the same
    /// spans, as one whole parse.
    #[test]
    fn cutting_between_top_level_blocks_keeps_every_block_whole() {
        let text: String = (0..400).map(block).collect();
        assert!(split_top_level(&text, 4096).expect("scans").len() > 2);
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
