//! `rotor completions SHELL` and `rotor man`, generated from the clap
//! definitions: they must know every subcommand.

use crate::harness::Test;

const SUBCOMMANDS: [&str; 9] = [
    "init",
    "validate",
    "plan",
    "apply",
    "show",
    "approve",
    "graph",
    "completions",
    "man",
];

#[test]
fn bash_completions_name_every_subcommand() {
    let out = Test::new().run(["completions", "bash"]).success();
    assert!(out.stdout.contains("_rotor()"), "{out}");
    assert!(out.stdout.contains("complete -F _rotor"), "{out}");
    for sub in SUBCOMMANDS {
        assert!(
            out.stdout.contains(&format!("rotor,{sub})")),
            "no completion for {sub}\n{out}"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    let t = Test::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = t.run(["completions", shell]).success();
        assert!(out.stdout.contains("graph"), "{shell}\n{out}");
    }
    t.run(["completions", "tcsh"])
        .failure()
        .stderr_has("invalid value 'tcsh'");
}

#[test]
fn man_page_is_roff() {
    let out = Test::new().run(["man"]).success();
    // The header, after clap_mangen's two-line quote-character preamble.
    let header: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| l.starts_with(".ie ") || l.starts_with(".el "))
        .take(2)
        .collect();
    assert!(header[0].starts_with(".TH rotor 1 "), "{out}");
    assert_eq!(header[1], ".SH NAME", "{out}");
    for sub in SUBCOMMANDS {
        assert!(out.stdout.contains(sub), "man page lacks {sub}\n{out}");
    }
}

#[test]
fn help_lists_completions_and_man_last() {
    let out = Test::new().run(["--help"]).success();
    let pos = |name: &str| {
        out.stdout
            .find(&format!("\n  {name} "))
            .unwrap_or_else(|| panic!("--help lacks {name}\n{out}"))
    };
    for sub in &SUBCOMMANDS[..7] {
        assert!(
            pos(sub) < pos("completions"),
            "{sub} after completions\n{out}"
        );
    }
    assert!(pos("completions") < pos("man"));
}
