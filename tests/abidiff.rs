//! abidiff (abigail-tools) between Debian's libpvm3.so.3 (PVM 3.4.6) and
//! pvm6's libpvm3.so, with every difference it reports listed and explained
//! in tests/abi/abidiff.expected.
//!
//! Debian's library has no debug information and the DWARF of pvm6's is
//! Rust's, so abidiff cannot compare C types here (tests/prototypes.rs does,
//! from the Rust code). What it compares meaningfully is the two exported
//! symbol tables: pvm6's copy is stripped of its debug information first so
//! that both sides are read the same way. The sizes of the data symbols both
//! export (pvm_errno, pvm_errlist, pvmtevinfo ...) are compared with nm.
//! Skips loudly when abidiff or Debian's PVM is missing; fails under CI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/libpvm3.so.3";

fn ours() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().parent().unwrap().join("libpvm3.so");
    assert!(
        so.exists(),
        "{} not built (cargo build --release)",
        so.display()
    );
    so
}

/// False (after a loud line) when a tool or Debian's library is missing;
/// under CI=true that is a failure.
fn available(test: &str) -> bool {
    let mut missing = Vec::new();
    if !Path::new(DEBIAN_LIB).exists() {
        missing.push(format!("{DEBIAN_LIB} (apt-get install libpvm3)"));
    }
    for tool in ["abidiff", "objcopy", "nm"] {
        if Command::new(tool).arg("--version").output().is_err() {
            missing.push(format!("{tool} (apt-get install abigail-tools binutils)"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"));
    assert!(!ci, "{test}: missing {missing:?}");
    eprintln!("\n*****************************************************************");
    eprintln!("SKIP {test}: missing {missing:?}");
    eprintln!("*****************************************************************\n");
    false
}

/// The groups of tests/abi/abidiff.expected: (kind, reason, names).
fn expected() -> Vec<(String, String, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/abi/abidiff.expected");
    let text = std::fs::read_to_string(&path).expect("read tests/abi/abidiff.expected");
    let mut groups: Vec<(String, String, Vec<String>)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        if line.starts_with(char::is_whitespace) {
            let group = groups.last_mut().expect("names before any group");
            group.2.extend(line.split_whitespace().map(String::from));
        } else {
            let (kind, why) = line
                .split_once(':')
                .expect("`removed: REASON` or `added: REASON`");
            assert!(matches!(kind, "removed" | "added"), "unknown kind {kind}");
            assert!(!why.trim().is_empty(), "a {kind} group without a reason");
            groups.push((kind.into(), why.trim().into(), Vec::new()));
        }
    }
    groups
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
        None => pattern == name,
    }
}

#[test]
fn abidiff_reports_only_the_explained_differences() {
    if !available("abidiff_reports_only_the_explained_differences") {
        return;
    }
    let stripped = ours().with_file_name("libpvm3-abidiff-nodebug.so");
    let st = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(ours())
        .arg(&stripped)
        .status()
        .expect("run objcopy");
    assert!(st.success(), "objcopy --strip-debug failed");
    let out = Command::new("abidiff")
        .args(["--no-show-locs", DEBIAN_LIB])
        .arg(&stripped)
        .output()
        .expect("run abidiff");
    let _ = std::fs::remove_file(&stripped);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    // abidiff's status is a bit set: 1 error, 2 usage error, 4 ABI change,
    // 8 incompatible change (a removed symbol). Only the first two fail here.
    let code = out.status.code().expect("abidiff exited");
    assert_eq!(
        code & 3,
        0,
        "abidiff failed ({code}):\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reported: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for line in report.lines() {
        let mut w = line.split_whitespace();
        let kind = match w.next() {
            Some("[D]") => "removed",
            Some("[A]") => "added",
            Some("[C]") => "changed",
            _ => continue,
        };
        // A symbol the linker folded with identical ones is reported as
        // `NAME, aliases OTHER[, ...]`; which of them comes first depends
        // on the build, so every one of them counts.
        let Some(name) = w.next() else { continue };
        let set = reported.entry(kind).or_default();
        set.insert(name.trim_end_matches(',').to_string());
        if name.ends_with(',') && w.next() == Some("aliases") {
            for alias in w {
                set.insert(alias.trim_end_matches(',').to_string());
            }
        }
    }
    assert!(
        !reported.get("removed").is_none_or(BTreeSet::is_empty),
        "abidiff reported no removed symbol: did it read the libraries?\n{report}"
    );
    assert!(
        !reported.contains_key("changed"),
        "abidiff reports changes:\n{report}"
    );
    let groups = expected();
    let mut wrong = Vec::new();
    for (kind, names) in &reported {
        for name in names {
            let listed = groups
                .iter()
                .any(|(k, _, ns)| k == kind && ns.iter().any(|p| matches_pattern(p, name)));
            if !listed {
                wrong.push(format!(
                    "{kind} {name}: reported by abidiff, not in tests/abi/abidiff.expected"
                ));
            }
        }
    }
    for (kind, _, names) in &groups {
        let seen = reported.get(kind.as_str()).cloned().unwrap_or_default();
        for p in names {
            if !seen.iter().any(|n| matches_pattern(p, n)) {
                wrong.push(format!(
                    "{kind} {p}: listed in tests/abi/abidiff.expected, not reported"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "abidiff and tests/abi/abidiff.expected disagree:\n  {}",
        wrong.join("\n  ")
    );
}

/// `nm -D -S` data symbols (B, D, R) of `lib`: name -> size.
fn data_sizes(lib: &Path) -> BTreeMap<String, u64> {
    let out = Command::new("nm")
        .args(["-D", "-S", "--defined-only"])
        .arg(lib)
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm {}: {out:?}", lib.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [_, size, kind, name] if matches!(*kind, "B" | "D" | "R") => Some((
                    name.split('@').next().unwrap().to_string(),
                    u64::from_str_radix(size, 16).ok()?,
                )),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn shared_data_symbols_have_debians_sizes() {
    if !available("shared_data_symbols_have_debians_sizes") {
        return;
    }
    let theirs = data_sizes(Path::new(DEBIAN_LIB));
    let ours = data_sizes(&ours());
    let shared: Vec<&String> = theirs.keys().filter(|n| ours.contains_key(*n)).collect();
    assert!(
        shared.iter().any(|n| *n == "pvm_errlist") && shared.len() >= 5,
        "too few data symbols in common: {shared:?}"
    );
    let differ: Vec<String> = shared
        .iter()
        .filter(|n| theirs[**n] != ours[**n])
        .map(|n| format!("{n}: Debian {} bytes, pvm6 {} bytes", theirs[*n], ours[*n]))
        .collect();
    assert!(
        differ.is_empty(),
        "data symbols of another size than PVM 3.4.6's: {differ:?}"
    );
}
