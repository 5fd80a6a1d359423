//! `rotor apply --json`: one JSON object per line on stdout, as the apply
//! goes, in the spirit of Terraform's machine-readable UI. Versioned by
//! `format_version` like every JSON rotor prints, never carrying material
//! (steps name versions by id; details are the texts the human output
//! shows, which are redacted where they quote anything from outside).
//! Documented in docs/json.md.

use rotor_engine::apply::{Hook, StepOutcome};
use rotor_engine::plan::Step;
use rotor_engine::{FamilyName, Timestamp};
use serde_json::{Value, json};
use std::io::Write;

/// The event stream's version: a new minor version only adds keys or types.
pub const FORMAT_VERSION: &str = "1.0";

/// Prints one event: `{"format_version", "type", "at", …fields}`.
pub fn emit(kind: &str, at: Timestamp, fields: Value) {
    let mut event = json!({ "format_version": FORMAT_VERSION, "type": kind, "at": at.rfc3339() });
    if let (Some(e), Value::Object(f)) = (event.as_object_mut(), fields) {
        e.extend(f);
    }
    let line = serde_json::to_string(&event).expect("an event serialises");
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) must not panic the apply: the state is what counts.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The apply's steps as events. A `--wait` apply re-plans every round; an
/// outcome a step had last round already (a gate still closed) is not
/// repeated.
pub struct Events {
    clock: std::sync::Arc<dyn rotor_engine::Clock>,
    started: std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
    last: std::sync::Mutex<std::collections::BTreeMap<(String, String), String>>,
}

/// A step by what it does: re-plans renumber steps.
fn key(family: &FamilyName, step: &Step) -> (String, String) {
    (
        family.to_string(),
        format!("{} {}", step.action.verb(), step.action.target()),
    )
}

impl Events {
    pub fn new(clock: std::sync::Arc<dyn rotor_engine::Clock>) -> Events {
        Events {
            clock,
            started: Default::default(),
            last: Default::default(),
        }
    }

    /// Whether this outcome is news for the step.
    fn news(&self, family: &FamilyName, step: &Step, outcome: &Value) -> bool {
        let text = outcome.to_string();
        let mut last = self.last.lock().expect("events lock");
        let key = key(family, step);
        if last.get(&key) == Some(&text) {
            return false;
        }
        last.insert(key, text);
        true
    }
}

fn step_fields(family: &FamilyName, step: &Step) -> Value {
    json!({
        "family": family,
        "step": step.id,
        "action": step.action.verb(),
        "target": step.action.target(),
    })
}

impl Hook for Events {
    fn started(&self, family: &FamilyName, step: &Step) {
        if self
            .started
            .lock()
            .expect("events lock")
            .insert(key(family, step))
        {
            emit("step_started", self.clock.now(), step_fields(family, step));
        }
    }

    fn step(&self, family: &FamilyName, step: &Step, outcome: &StepOutcome) {
        let mut fields = step_fields(family, step);
        let (kind, more) = match outcome {
            StepOutcome::Done(detail) => ("step_done", json!({ "detail": detail })),
            StepOutcome::AlreadyDone => ("step_done", json!({ "detail": null, "already": true })),
            StepOutcome::Blocked => ("step_blocked", json!({})),
            StepOutcome::Waiting {
                gate,
                until,
                detail,
            } => (
                "step_waiting",
                json!({ "gate": gate, "opens_at": until.map(|t| t.rfc3339()), "detail": detail }),
            ),
            StepOutcome::Failed { error, hint } => {
                ("step_failed", json!({ "error": error, "hint": hint }))
            }
        };
        if !self.news(family, step, &json!([kind, more])) {
            return;
        }
        if let (Some(f), Value::Object(m)) = (fields.as_object_mut(), more) {
            f.extend(m);
        }
        emit(kind, self.clock.now(), fields);
    }
}
