//! Runbooks: the field's one-page rotation runbook per family, filled from
//! the spec, the state and the planner.
//!
//! Scope, storage and distribution, consumers and blast radius, format and
//! identification, rollout order (the exact steps and gates of the next
//! rotation, from the real planner), overlap, verification, rollback,
//! schedule and owner. Where a field cannot be filled the runbook says so,
//! because that is where the risk hides. This module builds a small document
//! model; the CLI renders it as Markdown or HTML.
//!
//! About 600 lines: `runbook()` builds the page's sections in the page's
//! order, numbered as they print, so that a reader follows the page down
//! the file.

use crate::names::{FamilyName, VersionId};
use crate::plan::{GateStatus, Plan};
use crate::refresh::Live;
use crate::spec::{Family, Located, ProbePhase, Resolved, Value, VerifySpec, VersionSpec};
use crate::state::State;
use crate::time::Timestamp;
use serde::Serialize;

/// A piece of a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A paragraph.
    Para {
        /// Text.
        text: String,
    },
    /// A bulleted list.
    List {
        /// Items.
        items: Vec<String>,
    },
    /// An ordered list.
    Steps {
        /// Items.
        items: Vec<String>,
    },
    /// A table.
    Table {
        /// Column titles.
        head: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
    /// A gap or a risk: rendered as a warning.
    Warn {
        /// Text.
        text: String,
    },
    /// A command to run.
    Command {
        /// The command line.
        text: String,
    },
}

/// A titled section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Title.
    pub title: String,
    /// Content.
    pub blocks: Vec<Block>,
}

/// One family's runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runbook {
    /// Family name.
    pub family: FamilyName,
    /// Sections in the field's order.
    pub sections: Vec<Section>,
    /// Every field that could not be filled, also shown in its section.
    pub gaps: Vec<String>,
}

fn para(text: impl Into<String>) -> Block {
    Block::Para { text: text.into() }
}

fn warn(text: impl Into<String>, gaps: &mut Vec<String>) -> Block {
    let text = text.into();
    gaps.push(text.clone());
    Block::Warn { text }
}

/// An argument as a POSIX shell would need it written.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn or_none(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "—".into())
}

/// The runbook of every family named (all when `only` is empty), in spec order.
/// `plan` is the plan for the spec as it is; `next` makes the plan of the
/// next routine rotation (see [`next_rotation`]).
pub fn runbooks(
    r: &Resolved,
    state: &State,
    live: &Live,
    plan: &Plan,
    now: Timestamp,
    only: &[FamilyName],
) -> Vec<Runbook> {
    r.families
        .iter()
        .filter(|f| only.is_empty() || only.contains(&r.spec.secrets[f.secret].name))
        .map(|f| runbook(r, f, state, live, plan, now))
        .collect()
}

/// The spec with the routine rotation of one family applied: a new version
/// declared and made active, the current active version's block removed.
/// Returns the new version id too.
pub fn next_rotation(r: &Resolved, family: &Family, state: &State) -> (Resolved, VersionId) {
    let mut next = r.clone();
    let secret = &mut next.spec.secrets[family.secret];
    let fstate = state.family(&secret.name);
    let taken =
        |id: &VersionId| secret.declares(id) || fstate.is_some_and(|f| f.versions.contains_key(id));
    let id = (1..)
        .map(|n| {
            VersionId::from(if n == 1 {
                "next".to_string()
            } else {
                format!("next-{n}")
            })
        })
        .find(|id| !taken(id))
        .expect("an unused id");
    let old = secret.active.as_ref().map(|a| a.value.clone());
    secret.versions.retain(|v| Some(&v.id) != old.as_ref());
    secret.versions.push(VersionSpec {
        id: id.clone(),
        span: secret.span.clone(),
    });
    secret.active = Some(Located {
        value: id.clone(),
        span: secret.span.clone(),
    });
    (next, id)
}

fn runbook(
    r: &Resolved,
    f: &Family,
    state: &State,
    live: &Live,
    plan: &Plan,
    now: Timestamp,
) -> Runbook {
    let spec = &r.spec;
    let s = &spec.secrets[f.secret];
    let fstate = state.family(&s.name);
    let active = fstate.and_then(|fs| fs.active.clone());
    let active_state = active
        .as_ref()
        .and_then(|a| fstate.and_then(|fs| fs.versions.get(a)));
    let mut gaps = Vec::new();
    let mut sections = Vec::new();

    // 1. Scope.
    let mut blocks = vec![para(format!(
        "{} ({}).",
        s.description
            .clone()
            .unwrap_or_else(|| "No description".into()),
        s.address()
    ))];
    if s.description.is_none() {
        blocks.push(warn(
            "no `description`: say what the secret protects",
            &mut gaps,
        ));
    }
    blocks.push(Block::List {
        items: vec![
            format!(
                "Declared versions: {}",
                s.versions
                    .iter()
                    .map(|v| v.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "Active in the spec: {}",
                s.active.as_ref().map_or("—", |a| a.value.as_str())
            ),
            format!(
                "Active in the stores (last promoted by rotor): {}",
                active.as_ref().map_or("none yet", VersionId::as_str)
            ),
        ],
    });
    sections.push(Section {
        title: "Scope".into(),
        blocks,
    });

    // 2. Storage and distribution.
    let mut rows = Vec::new();
    for &i in &f.stores {
        let st = &spec.stores[i];
        let path = match st.settings.get("path").map(|v| &v.value) {
            Some(Value::String(p)) => p.clone(),
            _ => String::new(),
        };
        rows.push(vec![st.address(), "store".into(), path]);
    }
    for &i in &f.publishers {
        let p = &spec.publishers[i];
        let path = match p.settings.get("path").map(|v| &v.value) {
            Some(Value::String(p)) => p.clone(),
            _ => String::new(),
        };
        rows.push(vec![p.address(), format!("publishes {}", p.kind), path]);
    }
    sections.push(Section {
        title: "Storage and distribution".into(),
        blocks: vec![Block::Table {
            head: vec!["where".into(), "role".into(), "path".into()],
            rows,
        }],
    });

    // 3. Consumers and blast radius.
    let mut rows = Vec::new();
    let mut blocks = Vec::new();
    let mut consumers: Vec<(usize, &str)> = f.verifiers.iter().map(|&c| (c, "verifier")).collect();
    for &c in &f.emitters {
        match consumers.iter_mut().find(|(i, _)| *i == c) {
            Some(entry) => entry.1 = "verifier, emitter",
            None => consumers.push((c, "emitter")),
        }
    }
    for (c, role) in &consumers {
        let c = &spec.consumers[*c];
        let hold = c
            .hold_until
            .as_ref()
            .map(|h| {
                format!(
                    "until {}: {}",
                    h.value.date(),
                    c.hold_reason.as_ref().map_or("", |r| r.value.as_str())
                )
            })
            .unwrap_or_else(|| "—".into());
        rows.push(vec![
            c.address(),
            role.to_string(),
            c.cache().to_string(),
            c.token_ttl
                .as_ref()
                .map_or("—".into(), |t| t.value.to_string()),
            c.via.as_ref().map_or("the store".into(), |v| v.to_string()),
            or_none(&c.blast_radius),
            or_none(&c.third_party),
            hold,
        ]);
        if c.blast_radius.is_none() {
            gaps.push(format!(
                "no `blast_radius` for {}: who breaks if it rejects a version?",
                c.address()
            ));
        }
    }
    if consumers.is_empty() {
        blocks.push(warn(
            "no consumers declared: rotor cannot hold windows for services it does not know",
            &mut gaps,
        ));
    } else {
        blocks.push(Block::Table {
            head: [
                "consumer",
                "role",
                "cache_ttl",
                "token_ttl",
                "reads from",
                "blast radius",
                "third party",
                "holds old versions",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
        let missing: Vec<String> = consumers
            .iter()
            .map(|(c, _)| &spec.consumers[*c])
            .filter(|c| c.blast_radius.is_none())
            .map(|c| c.address())
            .collect();
        if !missing.is_empty() {
            blocks.push(Block::Warn {
                text: format!(
                    "no `blast_radius` for {}: who breaks if it rejects a version?",
                    missing.join(", ")
                ),
            });
        }
    }
    sections.push(Section {
        title: "Consumers and blast radius".into(),
        blocks,
    });

    // 4. Format and identification.
    let generate = s.generate.as_ref().map(|g| g.value.clone());
    let mut items = vec![
        format!(
            "Material: {}",
            generate.as_ref().map_or("—".into(), |g| g.to_string())
        ),
        format!(
            "Algorithm: {}",
            generate.as_ref().map_or("—", |g| g.algorithm())
        ),
        "Key identifier: the version id is the `kid` (JWT header, JWKS, keyset.json)".into(),
    ];
    if let Some(v) = active_state {
        items.push(format!(
            "Active fingerprint: {} (a hash of the public key or material, never the material)",
            v.fingerprint
        ));
    }
    sections.push(Section {
        title: "Format and identification".into(),
        blocks: vec![Block::List { items }],
    });

    // 5. Rollout order: the real planner's steps.
    let mut blocks = Vec::new();
    let in_flight = plan.families.iter().find(|fp| fp.family == s.name);
    let (steps_plan, label) = match in_flight {
        Some(fp) if !fp.steps.is_empty() => (
            Some(fp.clone()),
            if active.is_none() {
                "Not yet bootstrapped: `rotor apply` runs these steps to create and promote the first version:"
            } else {
                "A rotation is in flight. Its remaining steps, as `rotor plan` shows them:"
            }
            .to_string(),
        ),
        _ if active.is_some() => {
            let (next, id) = next_rotation(r, f, state);
            let next_plan = crate::plan::plan(&next, state, live, now);
            (
                next_plan
                    .families
                    .into_iter()
                    .find(|fp| fp.family == s.name),
                format!(
                    "The next routine rotation (a pull request adds `version \"NEW\" {{}}`, points `active` at it and removes `version \"{}\"`), as the planner would order it (NEW is shown as `{id}`):",
                    active.as_ref().map_or("", VersionId::as_str)
                ),
            )
        }
        _ => (None, String::new()),
    };
    match steps_plan {
        Some(fp) => {
            blocks.push(para(label));
            let items = fp
                .steps
                .iter()
                .map(|st| {
                    let gates: Vec<String> = st
                        .gates
                        .iter()
                        .map(|g| {
                            let mark = if g.status == GateStatus::Open {
                                "open"
                            } else {
                                "waits"
                            };
                            format!("{} ({mark}): {}", g.name, g.detail)
                        })
                        .collect();
                    let gates = if gates.is_empty() {
                        String::new()
                    } else {
                        format!(" — gates: {}", gates.join("; "))
                    };
                    format!("{} {}{gates}", st.action.verb(), st.action.target())
                })
                .collect();
            blocks.push(Block::Steps { items });
        }
        None => blocks.push(para(
            "Not yet bootstrapped: `rotor apply` creates and promotes the first version.",
        )),
    }
    sections.push(Section {
        title: "Rollout order".into(),
        blocks,
    });

    // 6. Overlap window.
    let floor = r.overlap_floor(f);
    let accept = r.accept_window(f);
    let mut items = vec![
        format!(
            "Overlap: {}{}",
            r.overlap(f),
            if s.overlap.is_none() {
                " (not set: the floor is used)"
            } else {
                ""
            }
        ),
        format!("Floor: {}, set by {}", floor.length, floor.set_by),
        format!("Accept window: {} ({})", accept.length, accept.set_by),
        format!(
            "Revoked versions stay restorable for {} (destroy_after)",
            s.destroy_after.value
        ),
    ];
    if let Some((h, c)) = r.hold_until(f) {
        items.push(format!(
            "Old versions are held until {} for {}: {}",
            h.human(),
            c.address(),
            c.hold_reason.as_ref().map_or("", |r| r.value.as_str())
        ));
    }
    sections.push(Section {
        title: "Overlap window".into(),
        blocks: vec![Block::List { items }],
    });

    // 7. Verification.
    let mut rows = Vec::new();
    let mut blocks = Vec::new();
    for (c, _) in &consumers {
        let c = &spec.consumers[*c];
        for phase in [
            ProbePhase::Accept,
            ProbePhase::Emit,
            ProbePhase::Drain,
            ProbePhase::Guard,
        ] {
            let plays = match phase {
                ProbePhase::Accept => f.verifiers.contains(&r.consumer_index[&c.name]),
                ProbePhase::Emit => f.emitters.contains(&r.consumer_index[&c.name]),
                ProbePhase::Drain | ProbePhase::Guard => c.probes(phase).next().is_some(),
            };
            if !plays {
                continue;
            }
            let mut any = false;
            for (_, v) in c.probes(phase) {
                any = true;
                let what = match (v.kind.as_str(), v.settings.get("command").map(|c| &c.value)) {
                    (VerifySpec::MANUAL, _) => "a person runs `rotor approve`".to_string(),
                    (_, Some(Value::List(items))) => items
                        .iter()
                        .filter_map(|i| match &i.value {
                            Value::String(s) => Some(shell_quote(s)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    (_, Some(Value::String(cmd))) => cmd.clone(),
                    _ => String::new(),
                };
                rows.push(vec![
                    c.address(),
                    phase.as_str().into(),
                    v.kind.clone(),
                    what,
                ]);
            }
            if !any {
                blocks.push(warn(
                    format!(
                        "no verification probe for {} ({}): {} would be assumed after its {} cache window",
                        c.address(),
                        phase.as_str(),
                        if phase == ProbePhase::Accept { "acceptance" } else { "emission" },
                        c.cache()
                    ),
                    &mut gaps,
                ));
            }
        }
    }
    if !rows.is_empty() {
        blocks.insert(
            0,
            Block::Table {
                head: ["consumer", "proves", "probe", "what it checks"]
                    .map(String::from)
                    .to_vec(),
                rows,
            },
        );
    }
    sections.push(Section {
        title: "Verification".into(),
        blocks,
    });

    // 8. Rollback.
    let name = &s.name;
    let old = active.clone().unwrap_or_else(|| "OLD".into());
    let mut blocks = vec![Block::Steps {
        items: vec![
            format!(
                "Before the new version is promoted: remove its `version` block (keep `active = \"{old}\"`) and run `rotor apply`; nothing emitted it, it is revoked."
            ),
            format!(
                "After the promote, before the revoke: `rotor rollback {name}` (or set `active = \"{old}\"`), then `rotor apply`: a promote with no new gates, because {old} is still accepted everywhere."
            ),
            format!(
                "After the revoke, within {} of it: declare `version \"{old}\" {{}}` again and point `active` at it; rotor restores it, verifies acceptance again, then promotes it.",
                s.destroy_after.value
            ),
            "After the destroy: the material is gone; roll forward with `rotor rotate` instead."
                .into(),
        ],
    }];
    blocks.push(Block::Command {
        text: format!("rotor rollback {name} && rotor plan"),
    });
    match &s.rollback {
        Some(notes) => blocks.push(para(format!("Notes: {notes}"))),
        None => blocks.push(warn(
            "no `rollback` notes: what else must be undone by hand (caches, config, tickets)?",
            &mut gaps,
        )),
    }
    sections.push(Section {
        title: "Rollback".into(),
        blocks,
    });

    // 9. Schedule and owner.
    let mut items = Vec::new();
    let mut blocks = Vec::new();
    match &s.owner {
        Some(o) => items.push(format!("Owner: {o}")),
        None => blocks.push(warn(
            "no `owner`: nobody answers when the rotation stalls",
            &mut gaps,
        )),
    }
    let last = active_state.and_then(|v| v.promoted_at);
    items.push(format!(
        "Last rotation: {}",
        last.map_or("never".into(), |t| t.human())
    ));
    match &s.cadence {
        Some(c) => {
            items.push(format!("Cadence: {}", c.value));
            if let Some(t) = last {
                let due = t + c.value;
                let overdue = if due < now { " (overdue)" } else { "" };
                items.push(format!("Next due: {}{overdue}", due.human()));
            }
        }
        None => blocks.push(warn(
            "no `cadence`: nothing says when the next rotation is due",
            &mut gaps,
        )),
    }
    match &s.review_by {
        Some(rv) => items.push(format!(
            "Review by: {}{}",
            rv.value.date(),
            if rv.value < now { " (passed)" } else { "" }
        )),
        None => blocks.push(warn(
            "no `review_by`: nobody is asked to re-check this runbook",
            &mut gaps,
        )),
    }
    blocks.insert(0, Block::List { items });
    sections.push(Section {
        title: "Schedule and owner".into(),
        blocks,
    });

    Runbook {
        family: name.clone(),
        sections,
        gaps,
    }
}
