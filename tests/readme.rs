//! README.md is a user's page: it starts with the two commands, says how to
//! use pvm6 (C, Fortran, groups, the console, hosts and hostfiles), how to
//! install it, a short performance summary with the plot and the command
//! that reproduces it, the dependencies with a reason each, and links to
//! docs/; the benchmark's record lives in docs/PERFORMANCE.md. Every local
//! link and image it names exists.

mod common;

use common::repo_root;
use std::fs;

fn readme() -> String {
    fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The `## ` and `### ` headings, in order.
fn headings(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && (line.starts_with("## ") || line.starts_with("### ")) {
            out.push(line.to_string());
        }
    }
    out
}

/// The targets of `[text](target)` and `![alt](target)` links.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        if let Some(j) = after.find(')') {
            out.push(after[..j].to_string());
        }
        rest = after;
    }
    out
}

#[test]
fn readme_starts_with_the_two_commands() {
    let text = readme();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("# pvm6"));
    assert_eq!(lines.next(), Some(""));
    assert_eq!(lines.next(), Some("```sh"));
    let first = lines.next().unwrap_or("");
    let second = lines.next().unwrap_or("");
    assert!(first.starts_with("make demo "), "{first}");
    assert!(second.starts_with("make check "), "{second}");
    assert_eq!(lines.next(), Some("```"), "exactly two commands");
}

#[test]
fn readme_is_a_users_page() {
    let text = readme();
    let n = text.lines().count();
    assert!(
        n <= 300,
        "README.md has {n} lines: the measurement record belongs in docs/PERFORMANCE.md"
    );
    let h = headings(&text);
    let want = [
        "## Using it",
        "### C",
        "### Fortran",
        "### Groups",
        "### The console",
        "### Hosts and hostfiles",
        "## Installing",
        "## Tests",
        "## Performance",
        "## Dependencies",
        "## Documents",
    ];
    let mut at = 0;
    for w in want {
        let found = h[at..].iter().position(|x| x == w);
        assert!(found.is_some(), "README lacks `{w}` (in this order): {h:?}");
        at += found.unwrap() + 1;
    }
    for needle in [
        "docs/HOSTFILE.md",
        "docs/CONSOLE.md",
        "docs/FORTRAN.md",
        "docs/PERFORMANCE.md",
        "-lfpvm3 -lgpvm3 -lpvm3",
        "-lgpvm3 -lpvm3",
        "make install PVM_ROOT=",
        "make install PREFIX=",
        "make bench",
        "![",
        "PVM_ROOT",
        "libpvm [t40001]: ",
    ] {
        assert!(text.contains(needle), "README lacks {needle:?}");
    }
    // the diary stays out: run times of day and tried-and-dropped notes
    for diary in ["Tried and left out", "A/B runs", "UTC, on a 2-core"] {
        assert!(
            !text.contains(diary),
            "README still has the diary: {diary:?}"
        );
    }
}

#[test]
fn readme_performance_has_a_short_table_the_plot_and_the_command() {
    let text = readme();
    let perf = text
        .split("\n## Performance\n")
        .nth(1)
        .expect("a Performance section")
        .split("\n## ")
        .next()
        .unwrap();
    let rows = perf.lines().filter(|l| l.starts_with("| ")).count();
    assert!(
        (4..=14).contains(&rows),
        "a short table of headline figures ({rows} rows)"
    );
    assert!(perf.contains("PVM 3.4.6"), "compared with the original");
    assert!(perf.contains("![") && perf.contains("docs/bench-bandwidth.png"));
    assert!(perf.contains("make bench"));
    assert!(perf.contains("docs/PERFORMANCE.md"));

    // the record moved, with its figures
    let doc = fs::read_to_string(repo_root().join("docs/PERFORMANCE.md")).unwrap();
    for needle in [
        "# Performance",
        "| issue 9 target | measured | |",
        "2026-12-06 06:53 to 07:05 UTC",
        "2026-12-04 21:49 to 22:03 UTC",
        "2026-11-25",
        "memprobe",
        "tcprelay",
        "## Not reached yet",
    ] {
        assert!(doc.contains(needle), "docs/PERFORMANCE.md lacks {needle:?}");
    }
}

#[test]
fn every_local_link_and_image_exists() {
    let root = repo_root();
    for doc in ["README.md", "docs/PERFORMANCE.md"] {
        let text = fs::read_to_string(root.join(doc)).unwrap();
        let base = root.join(doc).parent().unwrap().to_path_buf();
        for target in link_targets(&text) {
            if target.starts_with('#') || target.contains("://") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            assert!(
                base.join(path).exists(),
                "{doc} links {target}, which does not exist"
            );
        }
    }
}

/// Every crate pvm6 depends on (Cargo.toml's [dependencies] and
/// [build-dependencies]) is named, with its reason, in the README's list.
#[test]
fn readme_justifies_every_dependency() {
    let text = readme();
    let deps = text
        .split("\n## Dependencies\n")
        .nth(1)
        .expect("a Dependencies section")
        .split("\n## ")
        .next()
        .unwrap()
        .to_string();
    let cargo = fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut crates = Vec::new();
    for line in cargo.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section != "[dependencies]" && section != "[build-dependencies]" {
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            crates.push(name.trim().to_string());
        }
    }
    assert!(crates.contains(&"libc".to_string()), "{crates:?}");
    for c in crates {
        assert!(
            deps.contains(&format!("`{c}`")),
            "README's dependency list does not name `{c}`"
        );
    }
}
