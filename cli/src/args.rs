//! Command-line arguments.

use crate::render::graph::{GraphFormat, GraphKind};
use clap::{Args, Parser, Subcommand};
use rotor_engine::{FamilyName, VersionId};
use std::path::PathBuf;

/// rotor plans and applies secret rotations that never revoke a version
/// before its successor is accepted, emitted and held for the overlap.
#[derive(Debug, Parser)]
#[command(name = "rotor", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory holding the spec's .hcl files (default: the current directory).
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the state is, overriding the spec's `state` block: a database
    /// file (default: DIR/.rotor/state.db) or a PostgreSQL connection
    /// string (`postgres://…`). A relative file is taken from DIR, as
    /// Terraform's -chdir does.
    #[arg(long, global = true, value_name = "FILE|URL")]
    pub state: Option<String>,
    /// Plain output without colour (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter spec into an empty directory.
    Init,
    /// Check the spec: references, windows, rules from the field.
    Validate {
        /// Machine-readable diagnostics.
        #[arg(long)]
        json: bool,
        /// Treat every warning (inventory included) as an error: exit 1.
        #[arg(long)]
        strict: bool,
        /// Policy: warn when a family's `cadence` is longer than DURATION (e.g. 90d).
        #[arg(long, value_name = "DURATION", value_parser = rotor_engine::Duration::parse)]
        max_cadence: Option<rotor_engine::Duration>,
    },
    /// Show what apply would do, in order, with its gates.
    Plan {
        /// Machine-readable plan (same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Output format: `markdown` is a pull-request comment body.
        #[arg(long, value_enum, default_value_t)]
        format: crate::render::plan::PlanFormat,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Also save the plan to FILE, for `rotor apply FILE` (also `-out FILE`).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only these families (`secret.NAME` or `NAME`; repeatable), as
        /// Terraform's -target.
        #[arg(long = "target", value_name = "secret.NAME")]
        targets: Vec<String>,
    },
    /// Carry out the plan; stop cleanly at gates that are not open yet.
    Apply {
        /// A plan saved by `rotor plan -out FILE`: applied as saved, without a prompt, or refused if stale.
        #[arg(value_name = "FILE")]
        plan_file: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Keep running until every gate has opened, with progress.
        #[arg(long)]
        wait: bool,
        /// Families applied at once (at least 1).
        #[arg(long, default_value_t = 10, value_name = "N", value_parser = at_least_one)]
        parallelism: usize,
        /// Only these families (`secret.NAME` or `NAME`; repeatable), as
        /// Terraform's -target: for repairs, not for routine applies.
        #[arg(long = "target", value_name = "secret.NAME")]
        targets: Vec<String>,
        /// Fail instead of prompting (for CI).
        #[arg(long)]
        no_input: bool,
        /// Exit 2 when steps remain behind gates, 0 when everything is done.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Events on stdout, one JSON object per line (needs --auto-approve
        /// or a saved plan); see docs/json.md.
        #[arg(long)]
        json: bool,
        /// Take over families a store marks as another state's (after a lost
        /// state): every live version is held as in use for a full overlap.
        #[arg(long)]
        adopt: bool,
    },
    /// Show the state: each family, its versions, phases and evidence.
    Show {
        /// Only these families.
        families: Vec<FamilyName>,
        /// Machine-readable state.
        #[arg(long)]
        json: bool,
        /// The history instead: every step, approval and state command,
        /// oldest first (with --json, one JSON object per line).
        #[arg(long)]
        events: bool,
    },
    /// Look at and repair the state: list, show, rm, mv, pull, push, unlock, init.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Every family: active version and age, rotation in flight, next due, owner, review date, flags.
    Status {
        /// Machine-readable status.
        #[arg(long)]
        json: bool,
        /// Exit 2 when any family is due or overdue for rotation (for scheduled CI jobs).
        #[arg(long)]
        due: bool,
    },
    /// Open a manual gate: `rotor approve FAMILY VERSION GATE` (GATE is e.g. accept.api_gateway).
    Approve {
        /// Secret family.
        family: FamilyName,
        /// Version id.
        version: VersionId,
        /// Gate id, as the plan shows it (`accept.CONSUMER` or `emit.CONSUMER`).
        gate: String,
        /// Who approves (default: the CI actor, `GITHUB_ACTOR` or
        /// `GITLAB_USER_LOGIN`, else user@host).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
    /// Bring an existing secret under rotor as the family's active version:
    /// in place (the store's current value; readers see no change) or from a
    /// file. The next plan adopts it.
    Import {
        /// Secret family (declared in the spec, with the `active` version the value becomes).
        family: FamilyName,
        /// Also take the store's previous value (AWSPREVIOUS, or the vault
        /// store's `previous_field`) as this version id.
        #[arg(long, value_name = "ID")]
        previous: Option<VersionId>,
        /// Take the value from this file (a PKCS#8 PEM key or a text secret)
        /// and write it to every store of the family.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Start a rotation: declare a new version in the spec and make it active.
    Rotate {
        /// Secret family.
        family: FamilyName,
        /// The new version id (default: this month, `YYYY-MM`, made unique).
        #[arg(long, value_name = "ID")]
        version: Option<VersionId>,
        /// Also print what was declared as one JSON object on stdout
        /// (`family`, `version`, `previous`, `file`), for scripts that open the pull request.
        #[arg(long)]
        json: bool,
    },
    /// Finish a rotation: remove a version's block, so that the plan revokes it safely.
    Retire {
        /// Secret family.
        family: FamilyName,
        /// Version id to remove.
        version: VersionId,
    },
    /// Point `active` back at the version that was active before.
    Rollback {
        /// Secret family.
        family: FamilyName,
        /// Re-declare the previous version if its block was removed (restorable until destroyed).
        #[arg(long)]
        restore: bool,
    },
    /// Write each family's one-page rotation runbook (Markdown, or one printable HTML page).
    Runbook {
        /// Only these families.
        families: Vec<FamilyName>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = RunbookFormat::Markdown)]
        format: RunbookFormat,
    },
    /// Print the resource graph or the plan's step graph, as DOT or Mermaid.
    Graph {
        /// Which graph.
        #[arg(long = "type", value_enum, default_value_t = GraphKind::Resources)]
        kind: GraphKind,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Rewrite the spec's .hcl files in the canonical style, comments kept.
    Fmt {
        /// Change nothing: list the files that are not formatted, exit 3 if any.
        #[arg(long)]
        check: bool,
        /// Print a unified diff of each change (with --check, only print it).
        #[arg(long)]
        diff: bool,
    },
    /// Print a shell completion script (e.g. `rotor completions bash > /etc/bash_completion.d/rotor`).
    #[command(hide = false, display_order = 1000)]
    Completions {
        /// Shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (`rotor man | man -l -`).
    #[command(hide = false, display_order = 1001)]
    Man,
}

/// `rotor state …`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// One line per family: active version and live versions.
    List,
    /// One family's versions, phases and evidence (as `rotor show FAMILY`).
    Show {
        /// Secret family.
        family: FamilyName,
        /// Machine-readable.
        #[arg(long)]
        json: bool,
    },
    /// Forget a family; its material stays in the stores (asks first).
    Rm {
        /// Secret family.
        family: FamilyName,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Rename a family in the state, without a rotation.
    Mv {
        /// The family's old name.
        old: FamilyName,
        /// Its new name.
        new: FamilyName,
    },
    /// Break a family's lease (a crashed apply on another machine).
    Unlock {
        /// Secret family.
        family: FamilyName,
        /// Required: breaking the lease of an apply that still runs lets two
        /// applies change one family.
        #[arg(long)]
        force: bool,
    },
    /// Create the state's tables now (PostgreSQL: the schema).
    Init {
        /// Print the SQL instead, for a DBA to run (PostgreSQL).
        #[arg(long)]
        print_sql: bool,
    },
    /// Print the whole state as JSON (the format `show --json` reads).
    Pull,
    /// Replace the state with one `state pull` printed; refused for another
    /// lineage or an older serial unless --force.
    Push {
        /// The state file to push.
        file: PathBuf,
        /// Push it anyway.
        #[arg(long)]
        force: bool,
    },
}

/// `--parallelism`: a whole number, 1 or more (0 would apply nothing, forever).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// How `rotor runbook` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunbookFormat {
    /// Markdown, for a repository or a wiki.
    Markdown,
    /// One self-contained HTML page with a printable layout.
    Html,
}
