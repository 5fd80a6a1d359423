//! Plans as Markdown, for a pull-request comment (`rotor plan --format markdown`).
//!
//! The body is GitHub-flavoured Markdown: the summary line in bold, a warning
//! banner when anything will be revoked or destroyed, then one section per
//! family with its windows, notes, a table of steps and a Mermaid timeline.
//!
//! GitHub refuses comments over 65,536 characters. A plan of thousands of
//! families would exceed that, so sections are added whole while they fit in
//! [`BUDGET`]; the rest are counted in a closing line. The cut is always
//! between sections, never inside a table or a code block.

use super::plan::describe;
use rotor_engine::Timestamp;
use rotor_engine::plan::{Action, FamilyPlan, GateKind, GateStatus, Plan, Step};
use std::fmt::Write as _;

/// Bytes the body may use, leaving room under GitHub's 65,536-character
/// limit for the closing line and for anything a CI job wraps around it.
/// Bytes, not characters: a byte count is never smaller, so it errs safe.
pub const BUDGET: usize = 60_000;

/// A family with more steps than this has its table folded in `<details>`.
const FOLD_STEPS: usize = 10;
/// A plan with more families than this has every family's table folded.
const FOLD_FAMILIES: usize = 20;
/// The warning banner names at most this many families.
const BANNER_FAMILIES: usize = 20;

/// The whole comment body, ending in a newline.
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!("**{}**\n", escape(&plan.summary_line()));
    out.push_str(&banner(plan));
    let fold_all = plan.families.len() > FOLD_FAMILIES;
    for (shown, f) in plan.families.iter().enumerate() {
        let section = family(plan, f, fold_all);
        let rest = plan.families.len() - shown;
        // The closing line must fit too whenever a section is left out.
        let reserve = if rest > 1 { more_line(rest).len() } else { 0 };
        if out.len() + section.len() + reserve > BUDGET {
            out.push_str(&more_line(rest));
            return out;
        }
        out.push_str(&section);
    }
    out
}

/// Prints the comment body on stdout.
pub fn print(plan: &Plan) {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed pipe (`rotor plan --format markdown | head`) is not an error worth reporting.
    let _ = out
        .write_all(markdown(plan).as_bytes())
        .and_then(|_| out.flush());
}

fn more_line(rest: usize) -> String {
    format!(
        "\n… and {rest} more famil{} not shown (the comment limit); run `rotor plan` locally for the full plan.\n",
        if rest == 1 { "y" } else { "ies" }
    )
}

/// `> [!WARNING]`: which versions of which families go, and when revokes run.
fn banner(plan: &Plan) -> String {
    if plan.summary.revoke == 0 && plan.summary.destroy == 0 {
        return String::new();
    }
    let mut lines = Vec::new();
    for f in &plan.families {
        let of = |want: fn(&Action) -> bool| -> Vec<String> {
            f.steps
                .iter()
                .filter(|s| want(&s.action))
                .filter_map(|s| s.action.version().map(|v| escape(v.as_str())))
                .collect()
        };
        let revoked = of(|a| matches!(a, Action::Revoke { .. }));
        let destroyed = of(|a| matches!(a, Action::Destroy { .. }));
        let mut what = Vec::new();
        if !revoked.is_empty() {
            what.push(format!("revokes {}", revoked.join(", ")));
        }
        if !destroyed.is_empty() {
            what.push(format!("destroys {}", destroyed.join(", ")));
        }
        if !what.is_empty() {
            lines.push(format!(
                "> - **secret.{}**: {}\n",
                escape(f.family.as_str()),
                what.join("; ")
            ));
        }
    }
    let total = lines.len();
    let mut out = String::from("\n> [!WARNING]\n> This plan revokes or destroys versions:\n");
    for line in lines.iter().take(BANNER_FAMILIES) {
        out.push_str(line);
    }
    if total > BANNER_FAMILIES {
        let _ = writeln!(out, "> - … and {} more families", total - BANNER_FAMILIES);
    }
    out.push_str(
        ">\n> Revokes run only after the successor is accepted by every verifier, emitted, \
         and held for the overlap; the safety checker runs again before each one. \
         Destroyed material cannot be restored.\n",
    );
    out
}

/// One family's section, starting with a blank line.
fn family(plan: &Plan, f: &FamilyPlan, fold_all: bool) -> String {
    let mut out = String::new();
    let active = f
        .active
        .as_ref()
        .map(|a| format!(" → active {}", escape(a.as_str())))
        .unwrap_or_default();
    let _ = writeln!(out, "\n### secret.{}{active}\n", escape(f.family.as_str()));
    if let Some(b) = &f.blocked {
        let _ = writeln!(out, "**Blocked:** {}\n", escape(b));
    }
    if !f.steps.is_empty() {
        let _ = writeln!(
            out,
            "Overlap **{}** (floor {}, set by {}); accept window **{}** ({}).\n",
            escape(&f.overlap),
            escape(&f.overlap_floor.length),
            escape(&f.overlap_floor.set_by),
            escape(&f.accept_window.length),
            escape(&f.accept_window.set_by),
        );
    }
    for n in &f.notes {
        let _ = writeln!(out, "- Note: {}", escape(n));
    }
    if !f.notes.is_empty() {
        out.push('\n');
    }
    if f.steps.is_empty() {
        return out;
    }
    out.push_str(&approvals(f));
    let changes: String = super::plan::changes(f)
        .into_iter()
        .map(|(mark, line)| format!("{mark} {}\n", line.replace("```", "'''")))
        .collect();
    let changes = if changes.is_empty() {
        String::new()
    } else {
        format!("```diff\n{changes}```\n\n")
    };
    let body = format!("{}\n{changes}{}", table(&f.steps), timeline(plan, f));
    if fold_all || f.steps.len() > FOLD_STEPS {
        let _ = write!(
            out,
            "<details><summary>{} step{}: table and timeline</summary>\n\n{body}\n</details>\n",
            f.steps.len(),
            if f.steps.len() == 1 { "" } else { "s" }
        );
    } else {
        out.push_str(&body);
    }
    out
}

/// The manual gates still to be approved, each with the comment that opens
/// it (`/rotor approve FAMILY VERSION GATE`, the words `rotor approve` takes).
fn approvals(f: &FamilyPlan) -> String {
    let mut lines = Vec::new();
    for s in &f.steps {
        let Some(version) = s.action.version() else {
            continue;
        };
        for g in &s.gates {
            if g.status != GateStatus::Pending {
                continue;
            }
            if let Some(gate) = &g.approves {
                lines.push(format!("/rotor approve {} {version} {gate}", f.family));
            }
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "Waiting for approval: once `rotor apply` has reached {}, a user with write access comments (or runs `rotor approve` with the same words):\n\n```\n{}\n```\n\n",
        if lines.len() == 1 {
            "the step"
        } else {
            "each step"
        },
        lines.join("\n")
    )
}

/// `| # | action | what | after | gates |`, one row per step.
fn table(steps: &[Step]) -> String {
    let mut out = String::from("| # | action | what | after | gates |\n|--:|---|---|---|---|\n");
    for s in steps {
        let after = s
            .after
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let gates = s
            .gates
            .iter()
            .map(|g| {
                let mark = match g.status {
                    GateStatus::Open => "✅",
                    GateStatus::Pending => "⏳",
                };
                let when = match (g.kind, g.status, g.opens_at) {
                    (GateKind::Window, GateStatus::Pending, Some(t)) => {
                        format!(", opens {}", t.human())
                    }
                    _ => String::new(),
                };
                format!("{mark} {}: {}{when}", escape(&g.name), escape(&g.detail))
            })
            .collect::<Vec<_>>()
            // Our own line break inside a cell; everything escaped around it.
            .join("<br>");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            s.id,
            s.action.verb(),
            escape(&squeeze(&describe(&s.action))),
            after,
            gates
        );
    }
    out
}

/// The phase of the rotation a step belongs to, for the timeline's sections.
fn phase(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } | Action::Restore { .. } | Action::AwaitAccept { .. } => "accept new",
        Action::Publish { add, .. } if !add.is_empty() => "accept new",
        Action::Promote { .. } | Action::AwaitEmit { .. } => "emit new",
        Action::Hold { .. } => "hold",
        Action::Publish { .. } | Action::Revoke { .. } | Action::Destroy { .. } => "revoke old",
    }
}

/// A Mermaid gantt chart of the projected times: each step from its earliest
/// start to the last of its windows (at least a second, so it shows).
fn timeline(plan: &Plan, f: &FamilyPlan) -> String {
    let spans: Vec<(Timestamp, Timestamp)> = f
        .steps
        .iter()
        .map(|s| {
            let start = s.earliest.unwrap_or(plan.made_at).max(plan.made_at);
            let end = s
                .gates
                .iter()
                .filter(|g| g.kind == GateKind::Window)
                .filter_map(|g| g.opens_at)
                .fold(start, Timestamp::max)
                .max(Timestamp(start.0 + 1000));
            (start, end)
        })
        .collect();
    let last = spans
        .iter()
        .map(|(_, e)| *e)
        .fold(plan.made_at, Timestamp::max);
    let axis = if last.0 - plan.made_at.0 < 86_400_000 {
        "%H:%M:%S"
    } else {
        "%Y-%m-%d"
    };
    let mut out = String::from("```mermaid\ngantt\n");
    let _ = writeln!(out, "  title secret.{}", mermaid_text(f.family.as_str()));
    out.push_str("  dateFormat YYYY-MM-DD HH:mm:ss\n");
    let _ = writeln!(out, "  axisFormat {axis}");
    out.push_str("  todayMarker off\n");
    let mut section = "";
    for (s, (start, end)) in f.steps.iter().zip(spans) {
        if phase(&s.action) != section {
            section = phase(&s.action);
            let _ = writeln!(out, "  section {section}");
        }
        let _ = writeln!(
            out,
            "    {}. {} {} :s{}, {}, {}",
            s.id,
            s.action.verb(),
            mermaid_text(&s.action.target()),
            s.id,
            mermaid_time(start),
            mermaid_time(end)
        );
    }
    out.push_str("```\n");
    out
}

/// `2026-11-26 14:00:05`, the chart's `dateFormat`.
fn mermaid_time(t: Timestamp) -> String {
    let human = t.human();
    human.trim_end_matches(" UTC").to_string()
}

/// Text for a Mermaid title or task name: `:` ends a task's name, `#` and
/// `;` start comments and entities, and GitHub strips markup; all become spaces.
fn mermaid_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ':' | ';' | '#' | '<' | '>' | '"' | '`' | '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// Runs of spaces (the human view aligns with them) become one.
fn squeeze(text: &str) -> String {
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes text for an inline context: a paragraph, a heading or a table cell.
///
/// `|` splits table cells (GFM honours `\|` even inside a cell), backticks,
/// `*`, `[`, `]`, `~` and `#` would start code, emphasis, links, strikethrough
/// or issue links, a backslash would escape what follows, and `<`, `>`, `&`
/// would be read as HTML or entities. Newlines would end a table row, so they
/// become spaces. `_` is left alone between letters or digits, where it cannot
/// start emphasis, so `session_signing_key` stays readable in the source.
pub fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' | '`' | '*' | '[' | ']' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '_' => {
                let word = |j: Option<usize>| {
                    j.and_then(|j| chars.get(j))
                        .is_some_and(|c| c.is_alphanumeric())
                };
                if !(word(i.checked_sub(1)) && word(Some(i + 1))) {
                    out.push('\\');
                }
                out.push('_');
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
    use rotor_engine::plan::{Gate, Summary, WindowView};

    const NOW: Timestamp = Timestamp(1_795_701_600_000); // 2026-11-26 14:00:00 UTC

    fn gate(status: GateStatus, opens_at: Option<Timestamp>, detail: &str) -> Gate {
        Gate {
            kind: GateKind::Window,
            name: "cache window".into(),
            status,
            opens_at,
            detail: detail.into(),
            approves: None,
        }
    }

    fn step(id: usize, action: Action, after: &[usize], gates: Vec<Gate>) -> Step {
        Step {
            id,
            action,
            after: after.to_vec(),
            gates,
            earliest: Some(NOW),
            reason: String::new(),
        }
    }

    /// A rotation from `old` to `new`, as the planner writes one.
    fn rotation(name: &str, detail: &str) -> FamilyPlan {
        let v = |s: &str| s.to_string();
        FamilyPlan {
            family: name.into(),
            active: Some("2026-11".into()),
            overlap: v("5s"),
            overlap_floor: WindowView {
                length: v("5s"),
                set_by: v("consumer.auth_service (cache_ttl 2s + token_ttl 3s)"),
            },
            accept_window: WindowView {
                length: v("2s"),
                set_by: v("consumer.api_gateway caches key sets for 2s"),
            },
            steps: vec![
                step(
                    1,
                    Action::Create {
                        version: "2026-11".into(),
                        generator: v("rsa 2048"),
                        stores: vec![v("store.file.local")],
                        adopt: false,
                    },
                    &[],
                    vec![],
                ),
                step(
                    2,
                    Action::AwaitAccept {
                        version: "2026-11".into(),
                        consumer: "api_gateway".into(),
                    },
                    &[1],
                    vec![
                        gate(GateStatus::Pending, Some(Timestamp(NOW.0 + 5000)), detail),
                        gate(GateStatus::Open, None, "passed"),
                    ],
                ),
                step(
                    3,
                    Action::Promote {
                        version: "2026-11".into(),
                        from: Some("2026-08".into()),
                        rollback: false,
                    },
                    &[1, 2],
                    vec![],
                ),
                step(
                    4,
                    Action::Hold {
                        retiring: vec!["2026-08".into()],
                        successor: "2026-11".into(),
                    },
                    &[3],
                    vec![gate(
                        GateStatus::Pending,
                        Some(Timestamp(NOW.0 + 10_000)),
                        "promoted + 5s",
                    )],
                ),
                step(
                    5,
                    Action::Revoke {
                        version: "2026-08".into(),
                    },
                    &[3, 4],
                    vec![],
                ),
            ],
            notes: vec![],
            blocked: None,
        }
    }

    fn plan_of(families: Vec<FamilyPlan>) -> Plan {
        let mut summary = Summary::default();
        for f in &families {
            summary.create += 1;
            summary.promote += 1;
            summary.revoke += 1;
            summary.wait += f.steps.len() - 3;
        }
        summary.gated_until = Some(Timestamp(NOW.0 + 10_000));
        Plan {
            format_version: 1,
            made_at: NOW,
            spec_hash: String::new(),
            lineage: String::new(),
            serial: 0,
            serials: Default::default(),
            families,
            summary,
        }
    }

    /// What the parser saw: tables as rows of cell texts, headings, code block info strings.
    #[derive(Default)]
    struct Parsed {
        tables: Vec<Vec<Vec<String>>>,
        headings: Vec<String>,
        code_blocks: Vec<String>,
    }

    fn parse(md: &str) -> Parsed {
        let mut p = Parsed::default();
        let mut heading: Option<String> = None;
        let mut cell: Option<String> = None;
        for event in Parser::new_ext(md, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::Table(_)) => p.tables.push(Vec::new()),
                Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => {
                    p.tables.last_mut().unwrap().push(Vec::new())
                }
                Event::Start(Tag::TableCell) => cell = Some(String::new()),
                Event::End(TagEnd::TableCell) => {
                    let text = cell.take().unwrap();
                    let table = p.tables.last_mut().unwrap();
                    table.last_mut().unwrap().push(text);
                }
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H3,
                    ..
                }) => heading = Some(String::new()),
                Event::End(TagEnd::Heading(_)) => p.headings.extend(heading.take()),
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                    p.code_blocks.push(info.to_string())
                }
                Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) => {
                    if let Some(c) = cell.as_mut().or(heading.as_mut()) {
                        c.push_str(&t);
                    }
                }
                _ => {}
            }
        }
        p
    }

    #[test]
    fn escape_keeps_cells_whole_and_markup_inert() {
        assert_eq!(escape("a|b"), r"a\|b");
        assert_eq!(escape("run `rotor`"), r"run \`rotor\`");
        assert_eq!(escape("<script>&x"), "&lt;script&gt;&amp;x");
        assert_eq!(
            escape(r"*bold* [l](u) ~s~ #1 \n"),
            r"\*bold\* \[l\](u) \~s\~ \#1 \\n"
        );
        assert_eq!(escape("two\nlines"), "two lines");
        assert_eq!(escape("![img](x)"), r"\!\[img\](x)");
        // `_` inside a word cannot start emphasis; at a word's edge it can.
        assert_eq!(escape("session_signing_key"), "session_signing_key");
        assert_eq!(escape("_a_ b_ _c"), r"\_a\_ b\_ \_c");
        assert_eq!(
            escape("→ active 2026-11 (rsa 2048)"),
            "→ active 2026-11 (rsa 2048)"
        );
    }

    #[test]
    fn escaped_text_reads_back_unchanged() {
        let nasty = "a | b `c` <d> & *e* _f_ [g](h) ~i~ #2 \\ j";
        let md = format!("| x |\n|---|\n| {} |\n", escape(nasty));
        let p = parse(&md);
        assert_eq!(p.tables.len(), 1);
        assert_eq!(p.tables[0][1], vec![nasty.to_string()]);
    }

    #[test]
    fn a_rotation_parses_as_commonmark() {
        let f = rotation("session_signing_key", "published + 2s | `cache_ttl` <b>");
        let md = markdown(&plan_of(vec![f.clone(), rotation("webhook_secret", "x")]));
        assert!(md.starts_with("**Plan: 2 to create, 2 to promote, 2 to revoke (gated until 2026-11-26 14:00:10 UTC).**\n"), "{md}");
        assert!(md.contains("> [!WARNING]\n> This plan revokes or destroys versions:\n> - **secret.session_signing_key**: revokes 2026-08\n"), "{md}");
        let p = parse(&md);
        assert_eq!(
            p.headings,
            [
                "secret.session_signing_key → active 2026-11",
                "secret.webhook_secret → active 2026-11"
            ]
        );
        assert_eq!(p.code_blocks, ["diff", "mermaid", "diff", "mermaid"]);
        assert_eq!(p.tables.len(), 2);
        let rows = &p.tables[0];
        assert_eq!(rows.len(), 1 + f.steps.len());
        assert!(
            rows.iter().all(|r| r.len() == 5),
            "a row was split: {rows:?}"
        );
        assert_eq!(rows[0], ["#", "action", "what", "after", "gates"]);
        assert_eq!(rows[1][2], "2026-11 (rsa 2048 → store.file.local)");
        assert_eq!(
            rows[2][4],
            "⏳ cache window: published + 2s | `cache_ttl` <b>, opens 2026-11-26 14:00:05 UTC<br>✅ cache window: passed"
        );
        assert_eq!(rows[3][3], "1, 2");
        assert!(md.contains("    4. hold 2026-08 :s4, 2026-11-26 14:00:00, 2026-11-26 14:00:10\n"));
    }

    #[test]
    fn long_families_fold_into_details() {
        let mut f = rotation("many", "x");
        for id in 6..=12 {
            f.steps.push(step(
                id,
                Action::Destroy {
                    version: format!("v{id}").into(),
                },
                &[id - 1],
                vec![],
            ));
        }
        let md = markdown(&plan_of(vec![f, rotation("few", "x")]));
        assert_eq!(md.matches("<details>").count(), 1);
        assert!(md.contains("<details><summary>12 steps: table and timeline</summary>\n\n| # |"));
        let p = parse(&md);
        assert_eq!(p.tables.len(), 2);
        assert_eq!(p.tables[0].len(), 13);
        // Each family: a diff of its key sets and a timeline.
        assert_eq!(p.code_blocks.len(), 4);
    }

    #[test]
    fn a_thousand_families_are_cut_between_sections() {
        let families: Vec<_> = (0..1000)
            .map(|i| rotation(&format!("family_{i:04}"), "published + 2s | cache"))
            .collect();
        let md = markdown(&plan_of(families));
        assert!(md.len() <= BUDGET, "{} bytes", md.len());
        assert!(md.chars().count() < 65_536);
        let p = parse(&md);
        let shown = p.headings.len();
        assert!(shown > 5, "only {shown} families shown");
        assert!(
            md.ends_with(&format!(
                "\n… and {} more families not shown (the comment limit); run `rotor plan` locally for the full plan.\n",
                1000 - shown
            )),
            "{}",
            &md[md.len() - 300..]
        );
        // Every section shown is whole: its table, its chart, its fold.
        assert_eq!(p.tables.len(), shown);
        assert_eq!(
            p.code_blocks.len(),
            2 * shown,
            "a diff and a chart per family"
        );
        assert_eq!(md.matches("<details>").count(), shown);
        assert_eq!(md.matches("</details>").count(), shown);
        for rows in &p.tables {
            assert_eq!(rows.len(), 6);
            assert!(
                rows.iter().all(|r| r.len() == 5),
                "a row was split: {rows:?}"
            );
        }
        // The banner names twenty families and counts the rest.
        assert!(md.contains("> - … and 980 more families\n"));
    }

    #[test]
    fn no_changes() {
        let md = markdown(&plan_of(vec![]));
        assert_eq!(md, "**No changes. Every family matches its spec.**\n");
    }
}
