//! Plans, for people and for machines, and apply progress.

use crate::style;
use rotor_engine::apply::{ApplyReport, Hook, StepOutcome};
use rotor_engine::plan::{Action, GateStatus, Plan, Step};
use rotor_engine::{FamilyName, Timestamp, VersionId};
use serde_json::json;

/// How `rotor plan` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PlanFormat {
    /// For people, on a terminal.
    #[default]
    Human,
    /// For machines (same as `--json`).
    Json,
    /// For a pull-request comment: tables, a warning banner, Mermaid timelines.
    Markdown,
}

/// One line describing a step's action.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Create {
            version,
            generator,
            stores,
            adopt,
        } => {
            if *adopt {
                format!("{version}  (already in {}; record it)", stores.join(", "))
            } else {
                format!("{version}  ({generator} → {})", stores.join(", "))
            }
        }
        Action::Restore { version } => format!("{version}  (enable the disabled version again)"),
        Action::Publish {
            publisher,
            add,
            remove,
            kids,
        } => {
            let mut change = Vec::new();
            change.extend(add.iter().map(|k| format!("+{k}")));
            change.extend(remove.iter().map(|k| format!("-{k}")));
            if change.is_empty() {
                change.push("rewrite".into());
            }
            format!(
                "{publisher}  kids {} → [{}]",
                change.join(" "),
                kids.join(", ")
            )
        }
        Action::AwaitAccept { version, consumer } => format!("{version} by consumer.{consumer}"),
        Action::Promote { version, from, .. } => match from {
            Some(f) => format!("{version}  (primary was {f})"),
            None => format!("{version}  (first primary)"),
        },
        Action::AwaitEmit { version, consumer } => format!("{version} by consumer.{consumer}"),
        Action::Hold {
            retiring,
            successor,
        } => format!(
            "{}  (overlap after {successor} is promoted)",
            retiring.join(", ")
        ),
        Action::Revoke { version } => {
            format!("{version}  (disable: leaves every key set, restorable)")
        }
        Action::Destroy { version } => format!("{version}  (material destroyed)"),
    }
}

fn verb(action: &Action) -> String {
    let v = format!("{:<8}", action.verb());
    match action {
        Action::Create { .. } | Action::Restore { .. } => style::green(&v),
        Action::Promote { .. } => style::yellow(&v),
        Action::Revoke { .. } | Action::Destroy { .. } => style::red(&v),
        Action::Publish { .. } => style::cyan(&v),
        _ => v,
    }
}

/// The human plan, as printed on stdout.
/// The human plan, written family by family (a plan of thousands of families
/// is never held as one string).
pub fn write_human(plan: &Plan, to: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut out = String::new();
    out.push_str(&style::bold(&plan.summary_line()));
    out.push('\n');
    for f in &plan.families {
        to.write_all(out.as_bytes())?;
        out.clear();
        out.push('\n');
        let active = f
            .active
            .as_ref()
            .map(|a| format!(" → active {a}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}{active}\n",
            style::bold(&format!("secret.{}", f.family))
        ));
        if let Some(b) = &f.blocked {
            out.push_str(&format!("  {} {b}\n", style::red("blocked:")));
        }
        for n in &f.notes {
            out.push_str(&format!("  {} {n}\n", style::dim("note:")));
        }
        if f.steps.is_empty() {
            continue;
        }
        out.push_str(&style::dim(&format!(
            "  overlap {} (floor {}: {}); accept window {} ({})\n",
            f.overlap,
            f.overlap_floor.length,
            f.overlap_floor.set_by,
            f.accept_window.length,
            f.accept_window.set_by
        )));
        for s in &f.steps {
            out.push_str(&step_line(s));
        }
        let changes = changes(f);
        if !changes.is_empty() {
            out.push_str("  changes:\n");
            for (mark, line) in changes {
                let text = format!("{mark} {line}");
                let text = match mark {
                    '+' => style::green(&text),
                    '-' => style::red(&text),
                    _ => style::yellow(&text),
                };
                out.push_str(&format!("    {text}\n"));
            }
        }
    }
    if plan.summary.revoke > 0 {
        out.push_str(&format!(
            "\n{} revokes run only after the successor is accepted by every verifier, emitted, and held for the overlap; the safety checker runs again before each one.\n",
            style::yellow("note:")
        ));
    }
    to.write_all(out.as_bytes())
}

/// The human plan, printed on stdout.
pub fn print_human(plan: &Plan) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A closed pipe (`rotor plan | head`) is not an error worth reporting.
    let _ = write_human(plan, &mut out).and_then(|_| std::io::Write::flush(&mut out));
}

fn step_line(s: &Step) -> String {
    let mut out = String::new();
    let after = if s.after.is_empty() {
        String::new()
    } else {
        style::dim(&format!(
            "  after {}",
            s.after
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ))
    };
    out.push_str(&format!(
        "  {:>2}. {} {}{after}\n",
        s.id,
        verb(&s.action),
        describe(&s.action)
    ));
    for g in &s.gates {
        let mark = match g.status {
            GateStatus::Open => style::green("✓"),
            GateStatus::Pending => style::yellow("⧗"),
        };
        let when = match (g.status, g.opens_at) {
            (GateStatus::Pending, Some(t)) => format!(", opens {}", t.human()),
            _ => String::new(),
        };
        out.push_str(&format!("        {mark} {}: {}{when}\n", g.name, g.detail));
    }
    out
}

/// What the plan changes in the family's key set, its primary and each
/// published document, as diff lines (`+` added, `-` removed, `!` changed).
/// Ids and kids only: never material.
pub fn changes(f: &rotor_engine::plan::FamilyPlan) -> Vec<(char, String)> {
    let mut out = Vec::new();
    for s in &f.steps {
        match &s.action {
            Action::Create {
                version, stores, ..
            } => {
                out.push(('+', format!("key set ({}): {version}", stores.join(", "))));
            }
            Action::Restore { version } => {
                out.push(('+', format!("key set: {version} (restored)")))
            }
            Action::Promote { version, from, .. } => out.push((
                '!',
                format!(
                    "primary: {} → {version}",
                    from.as_ref().map_or("none", VersionId::as_str)
                ),
            )),
            Action::Revoke { version } => {
                out.push(('-', format!("key set: {version} (disabled, restorable)")))
            }
            Action::Destroy { version } => {
                out.push(('-', format!("material: {version} destroyed")))
            }
            Action::Publish {
                publisher,
                add,
                remove,
                ..
            } => {
                out.extend(add.iter().map(|k| ('+', format!("{publisher}: kid {k}"))));
                out.extend(
                    remove
                        .iter()
                        .map(|k| ('-', format!("{publisher}: kid {k}"))),
                );
            }
            _ => {}
        }
    }
    out
}

/// The JSON plan: the plan's own fields plus the summary line.
pub fn json(plan: &Plan) -> serde_json::Value {
    let mut v = serde_json::to_value(plan).expect("plan serialises");
    v["summary_line"] = json!(plan.summary_line());
    v
}

/// Prints apply progress on stderr, one line per step that changed.
pub struct Progress {
    pub last: std::sync::Mutex<std::collections::BTreeMap<(String, String), String>>,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            last: Default::default(),
        }
    }
}

impl Hook for Progress {
    fn step(&self, family: &FamilyName, step: &Step, outcome: &StepOutcome) {
        let text = match outcome {
            StepOutcome::Done(what) => format!("{} {what}", style::green("done:")),
            StepOutcome::AlreadyDone | StepOutcome::Blocked => return,
            StepOutcome::Waiting {
                gate,
                until,
                detail,
            } => {
                let when = until
                    .map(|t: Timestamp| format!(" until {}", t.human()))
                    .unwrap_or_default();
                format!("{} {gate}{when}: {detail}", style::yellow("waiting:"))
            }
            StepOutcome::Failed { error, hint } => {
                format!(
                    "{} {error}\n      {} {hint}",
                    style::red("failed:"),
                    style::cyan("hint:")
                )
            }
        };
        let mut last = self.last.lock().expect("progress lock");
        // Keyed by what the step does: `--wait` re-plans each round, which renumbers steps.
        let key = (
            family.to_string(),
            format!("{} {}", step.action.verb(), step.action.target()),
        );
        if last.get(&key) == Some(&text) {
            return;
        }
        last.insert(key, text.clone());
        eprintln!(
            "secret.{family} {} {} — {text}",
            step.action.verb(),
            step.action.target()
        );
    }
}

/// The closing line of an apply pass.
pub fn apply_summary(report: &ApplyReport, ran_total: usize) -> String {
    if report.failed() {
        format!(
            "Apply failed after {ran_total} step{} ran; state is saved up to the last completed step.",
            plural(ran_total)
        )
    } else if report.is_complete() {
        format!("Apply complete: {ran_total} step{} ran.", plural(ran_total))
    } else {
        let next = report
            .next_window()
            .map(|t| format!(" The next window opens {}.", t.human()))
            .unwrap_or_default();
        format!(
            "Apply stopped at gates that are not open yet: {ran_total} step{} ran.{next} Run `rotor apply` again to resume (or `rotor apply --wait`).",
            plural(ran_total)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
