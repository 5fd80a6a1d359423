//! A session: refresh → plan → check → apply → re-plan, the loop `rotor
//! apply` (with or without `--wait`) runs. It lives here, not in the CLI, so
//! that the property and state-machine tests drive the very loop that ships,
//! over fakes and a fake clock.
//!
//! Each round plans afresh from the state as it is now: what ran drops out,
//! and a gate that depended on a step outside the approved plan cannot wait
//! forever on a stale copy. A fresh plan may only ask for what was approved;
//! a round in which nothing ran and whose re-plan asks for the same steps
//! again is reported as a bug rather than repeated forever.

use crate::apply::{ApplyOptions, ApplyReport, Hook, Recorder, StepOutcome};
use crate::names::FamilyName;
use crate::plan::Plan;
use crate::provider::Providers;
use crate::safety::{CheckedPlan, Violation};
use crate::spec::Resolved;
use crate::state::State;
use crate::time::{Duration, Timestamp};
use async_trait::async_trait;
use std::collections::BTreeSet;

/// How often `--wait` polls probes while no window is due.
pub const POLL: Duration = Duration(1000);
/// The longest pause between polls: while nothing moves, each round waits
/// twice as long as the last (probes retry with backoff), up to this.
pub const MAX_POLL: Duration = Duration(16_000);

/// How a waiting session passes the time, and what it tells the user.
#[async_trait]
pub trait Waiter: Send + Sync {
    /// Returns at `until` (or when it is time to poll again). `Err` with a
    /// message stops the session cleanly: the clock jumped, or the user
    /// interrupted it.
    async fn sleep_until(&self, until: Timestamp) -> Result<(), String>;
    /// Called once per round that ends with closed gates, before sleeping.
    fn waiting(&self, report: &ApplyReport, started: Timestamp) {
        let _ = (report, started);
    }
    /// Why the session must stop after the round that is running (the user
    /// pressed Ctrl-C), if it must: checked between rounds, so no step is
    /// cut in half.
    fn interrupted(&self) -> Option<String> {
        None
    }
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// Every step done and a fresh plan has nothing left.
    Complete {
        /// The last round's report.
        report: ApplyReport,
        /// Steps that ran in the whole session.
        ran: usize,
    },
    /// Gates still closed, and the session does not wait.
    Pending {
        /// The last round's report.
        report: ApplyReport,
        /// Steps that ran.
        ran: usize,
    },
    /// A step failed; the family stopped there.
    Failed {
        /// The round's report.
        report: ApplyReport,
        /// Steps that ran.
        ran: usize,
    },
    /// A fresh plan found families it cannot go on with: (family, why).
    Blocked(Vec<(FamilyName, String)>),
    /// A fresh plan asks for steps that were not approved.
    Unapproved(Vec<String>),
    /// A step counted itself done, and a fresh plan asks for it again.
    NoProgress(String),
    /// The waiter stopped the session.
    Stopped(String),
    /// A fresh plan failed the safety checker (a bug in the planner).
    Unsafe(Vec<Violation>),
}

/// Refreshes, plans and checks: the plan `rotor plan` shows and `rotor
/// apply` runs.
pub async fn checked_plan(
    resolved: &Resolved,
    providers: &Providers,
    state: &State,
    parallelism: usize,
) -> Result<CheckedPlan, Vec<Violation>> {
    checked_plan_in(resolved, providers, state, parallelism, None).await
}

/// [`checked_plan`] of the families in `scope` only, when one is given: an
/// apply plans for the families it leased, and leaves the others to
/// whoever holds them.
pub async fn checked_plan_in(
    resolved: &Resolved,
    providers: &Providers,
    state: &State,
    parallelism: usize,
    scope: Option<&BTreeSet<FamilyName>>,
) -> Result<CheckedPlan, Vec<Violation>> {
    let live = crate::refresh::refresh_in(resolved, providers, parallelism, scope).await;
    let mut plan = crate::plan::plan(resolved, state, &live, providers.clock.now());
    if let Some(scope) = scope {
        plan.restrict(resolved, scope);
    }
    CheckedPlan::check(resolved, state, plan)
}

/// What each step does, without its numbering: `secret.F verb target`.
pub fn action_keys(plan: &Plan) -> BTreeSet<String> {
    plan.families
        .iter()
        .flat_map(|f| {
            f.steps.iter().map(move |s| {
                format!(
                    "secret.{} {} {}",
                    f.family,
                    s.action.verb(),
                    s.action.target()
                )
            })
        })
        .collect()
}

/// One apply session.
pub struct Session<'a> {
    /// The spec.
    pub resolved: &'a Resolved,
    /// Stores, publishers, probes, generator, clock.
    pub providers: &'a Providers,
    /// The state, saved after every change.
    pub recorder: &'a Recorder<'a>,
    /// Progress of each step.
    pub hook: &'a dyn Hook,
    /// Parallelism, `--wait` deadlines, the ground checked before irreversible steps.
    pub options: ApplyOptions,
    /// `Some` for `--wait`: how to pass the time until gates open.
    pub wait: Option<&'a dyn Waiter>,
}

impl Session<'_> {
    /// Runs an approved plan to the end, or (without a waiter) to its closed gates.
    pub async fn run(&self, plan: CheckedPlan) -> End {
        let approved = action_keys(&plan);
        let started = self.providers.clock.now();
        let mut plan = plan;
        let mut ran = 0;
        let mut poll = POLL;
        loop {
            // Approvals given while this session waits count from now on;
            // one that cannot be read is not fatal here (the gate waits).
            let _ = self.recorder.take_approvals();
            let report = crate::apply::apply(
                self.resolved,
                &plan,
                self.providers,
                self.recorder,
                self.hook,
                &self.options,
            )
            .await;
            ran += report.ran();
            poll = if report.ran() > 0 {
                POLL
            } else {
                Duration(poll.0 * 2).min(MAX_POLL)
            };
            if report.failed() {
                return End::Failed { report, ran };
            }
            if let Some(why) = self.wait.and_then(|w| w.interrupted()) {
                return End::Stopped(why);
            }
            let complete = report.is_complete();
            if !complete {
                let Some(waiter) = self.wait else {
                    return End::Pending { report, ran };
                };
                waiter.waiting(&report, started);
                let now = self.providers.clock.now();
                let wake = report
                    .next_window()
                    .map_or(now + poll, |t| t.min(now + poll))
                    .max(now + Duration(100));
                if let Err(why) = waiter.sleep_until(wake).await {
                    return End::Stopped(why);
                }
            }
            let done = action_keys(&plan);
            let fresh = match checked_plan_in(
                self.resolved,
                self.providers,
                &self.recorder.snapshot(),
                self.options.parallelism,
                self.options.scope.as_ref(),
            )
            .await
            {
                Ok(p) => p,
                Err(v) => return End::Unsafe(v),
            };
            let blocked: Vec<(FamilyName, String)> = fresh
                .families
                .iter()
                .filter_map(|f| f.blocked.clone().map(|b| (f.family.clone(), b)))
                .collect();
            if !blocked.is_empty() {
                return End::Blocked(blocked);
            }
            if complete {
                if fresh.step_count() == 0 {
                    return End::Complete { report, ran };
                }
                // A round in which nothing ran, and a plan asking for the same
                // steps again, would repeat forever: a step counted itself done
                // without its effect sticking.
                if report.ran() == 0
                    && let Some(again) = action_keys(&fresh).intersection(&done).next()
                {
                    return End::NoProgress(again.clone());
                }
            }
            let new: Vec<String> = action_keys(&fresh).difference(&approved).cloned().collect();
            if !new.is_empty() {
                return End::Unapproved(new);
            }
            plan = fresh;
        }
    }
}

/// Steps that wait, for status lines.
pub fn waiting_steps(report: &ApplyReport) -> usize {
    report
        .families
        .iter()
        .flat_map(|f| &f.outcomes)
        .filter(|(_, o)| matches!(o, StepOutcome::Waiting { .. }))
        .count()
}
