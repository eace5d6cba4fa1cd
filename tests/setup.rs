//! tools/setup.sh, the set-up step that `make check` and .ci/run share: it
//! reports what is missing, installs only that (as root, through apt-get;
//! here a stand-in that records its calls), is silent and installs nothing
//! the second time, and says loudly what is missing when it cannot install.
//! Also: every program the tests start is named in tools/debian-packages
//! (or comes with every Debian system), and the README's test command and CI
//! both run the set-up first.

mod common;

use common::{loud_skip, repo_root};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

/// A scratch directory with a package list of two packages, `here-pkg`
/// (whose proof exists) and `gone-pkg` (whose proof does not), and a
/// stand-in apt-get that logs its arguments and, for `install`, creates
/// the proof `proof-<package>` of each package named.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pvm6-setup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("proof-here-pkg"), "").unwrap();
        fs::write(
            dir.join("list"),
            format!(
                "# test list\n\n\
                 here-pkg   {d}/proof-here-pkg   tests/here.rs\n\
                 gone-pkg   {d}/proof-gone-pkg,sh   tests/gone.rs: the gone part\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let apt = dir.join("apt-get");
        fs::write(
            &apt,
            format!(
                "#!/bin/sh\n\
                 echo \"$*\" >>{d}/apt.log\n\
                 [ \"$1\" = install ] || exit 0\n\
                 for a; do case $a in -*|install) ;; *) : >{d}/proof-$a ;; esac; done\n\
                 echo 'lots of apt output'\n",
                d = dir.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&apt, fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir }
    }

    /// Runs tools/setup.sh ARGS on the scratch list with the stand-in apt-get.
    fn setup(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg(repo_root().join("tools/setup.sh"))
            .args(args)
            .env("PVM6_PACKAGES", self.dir.join("list"))
            .env("APT_GET", self.dir.join("apt-get"))
            .env_remove("CI")
            .env_remove("PVM6_SETUP_INSTALL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run tools/setup.sh")
    }

    fn apt_log(&self) -> String {
        fs::read_to_string(self.dir.join("apt.log")).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn rust_components_present() -> bool {
    ["fmt", "clippy"].iter().all(|c| {
        Command::new("cargo")
            .args([c, "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn report_names_only_what_is_missing() {
    let s = Scratch::new("report");
    let out = s.setup(&["--report"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "something is missing: {stdout}");
    assert!(
        stdout.contains("  gone-pkg: tests/gone.rs: the gone part\n"),
        "the missing package and what needs it: {stdout}"
    );
    assert!(!stdout.contains("here-pkg"), "{stdout}");
    assert_eq!(s.apt_log(), "", "--report never installs");

    // once the proof is there, nothing is missing
    fs::write(s.dir.join("proof-gone-pkg"), "").unwrap();
    let out = s.setup(&["--report"], &[]);
    if rust_components_present() {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        assert_eq!(
            text(&out.stdout),
            "setup.sh: everything make check needs is installed\n"
        );
    }
    assert!(!text(&out.stdout).contains("gone-pkg"));

    let out = s.setup(&["--frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("usage: "));
}

/// As root: the first run updates and installs the missing package alone,
/// quietly (one line, apt's output hidden); the second run installs nothing
/// and prints nothing: `make check` can run it every time.
#[test]
fn setup_installs_only_what_is_missing_and_is_idempotent() {
    if !is_root() {
        loud_skip(
            "setup_installs_only_what_is_missing_and_is_idempotent",
            "not root: setup.sh installs nothing (its report path is tested without root)",
        );
        return;
    }
    let s = Scratch::new("idem");
    let first = s.setup(&[], &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(
        text(&first.stdout),
        "setup.sh: installing gone-pkg (apt-get)\n",
        "one line, apt's own output hidden"
    );
    assert_eq!(text(&first.stderr), "");
    assert_eq!(
        s.apt_log(),
        "update -qq\ninstall -y -qq --no-install-recommends gone-pkg\n"
    );
    assert!(s.dir.join("proof-gone-pkg").exists());

    for _ in 0..2 {
        let again = s.setup(&[], &[("CI", "true")]);
        assert!(again.status.success());
        assert_eq!(text(&again.stdout), "", "silent when nothing is missing");
        if rust_components_present() {
            assert_eq!(text(&again.stderr), "");
        }
        assert_eq!(
            s.apt_log().lines().count(),
            2,
            "nothing installed again: {}",
            s.apt_log()
        );
    }
}

/// When it may not install (not root, or PVM6_SETUP_INSTALL=0), it names
/// what is missing in a banner with the command to run and goes on (the
/// tests that need it skip loudly), except under CI, where it fails.
#[test]
fn setup_that_cannot_install_says_so_loudly() {
    let s = Scratch::new("loud");
    let out = s.setup(&[], &[("PVM6_SETUP_INSTALL", "0")]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "outside CI it goes on: {err}");
    assert_eq!(s.apt_log(), "", "nothing installed");
    assert!(err.contains("\n## setup.sh: "), "a banner: {err}");
    assert!(
        err.contains("##   gone-pkg: tests/gone.rs: the gone part"),
        "{err}"
    );
    assert!(err.contains("apt-get install gone-pkg\n"), "{err}");
    assert!(err.contains("sh tools/setup.sh"), "{err}");
    assert!(err.contains("SKIP"), "says the tests skip: {err}");
    assert!(!err.contains("here-pkg"), "{err}");

    let ci = s.setup(&[], &[("PVM6_SETUP_INSTALL", "0"), ("CI", "true")]);
    assert_eq!(
        ci.status.code(),
        Some(1),
        "under CI a missing package fails"
    );
    assert!(text(&ci.stderr).contains("under CI=true every test must run"));

    // apt-get that fails: its output is shown, the banner follows
    if is_root() {
        fs::write(
            s.dir.join("apt-get"),
            "#!/bin/sh\necho 'E: no such package' >&2\nexit 100\n",
        )
        .unwrap();
        let out = s.setup(&[], &[]);
        let err = text(&out.stderr);
        assert!(out.status.success());
        assert!(
            err.contains("setup.sh: apt-get failed:\nE: no such package"),
            "{err}"
        );
        assert!(err.contains("##   gone-pkg: "), "{err}");
    }
}

/// The real list on this machine: the step `make check` runs first is
/// quiet and installs nothing once everything is there (CI's second run of
/// it, inside `make check`, right after .ci/run's).
#[test]
fn make_check_setup_step_is_quiet_once_set_up() {
    let report = Command::new("sh")
        .arg(repo_root().join("tools/setup.sh"))
        .arg("--report")
        .output()
        .unwrap();
    if !report.status.success() {
        if in_ci() {
            panic!(
                "under CI tools/setup.sh ran before the tests, yet: {}",
                text(&report.stdout)
            );
        }
        loud_skip(
            "make_check_setup_step_is_quiet_once_set_up",
            &format!("this machine is not set up:\n{}", text(&report.stdout)),
        );
        return;
    }
    let s = Scratch::new("real");
    for _ in 0..2 {
        let out = Command::new("sh")
            .arg(repo_root().join("tools/setup.sh"))
            .env("APT_GET", s.dir.join("apt-get"))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(text(&out.stdout), "");
        assert_eq!(text(&out.stderr), "");
    }
    assert_eq!(s.apt_log(), "", "apt-get not run when nothing is missing");
}

/// `make check` runs tools/setup.sh before anything else, and .ci/run runs
/// it and then `make check`.
#[test]
fn make_check_and_ci_run_the_setup_first() {
    let out = Command::new("make")
        .args(["-n", "-s", "-C"])
        .arg(repo_root())
        .arg("check")
        .output()
        .expect("make -n check");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).lines().next().unwrap_or("").to_string();
    assert_eq!(first, "sh tools/setup.sh", "make check's first step");

    let ci = fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    let steps: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| *l == "sh tools/setup.sh" || *l == "make check")
        .collect();
    assert_eq!(steps, ["sh tools/setup.sh", "make check"], ".ci/run:\n{ci}");
}

/// The programs the tests start by name (`Command::new` of a string literal
/// in tests/),
/// each named by a line of tools/debian-packages or part of every Debian
/// system (essential packages: coreutils, tar, libc-bin, dash).
#[test]
fn every_program_the_tests_start_is_listed() {
    const ESSENTIAL: &[&str] = &[
        "sh", "tar", "chmod", "stat", "timeout", "stdbuf", "ldd", "ldconfig",
        "cat", // the toolchain that runs the tests
        "cargo",
    ];
    let list = fs::read_to_string(repo_root().join("tools/debian-packages")).unwrap();
    let mut listed = BTreeSet::new();
    for line in list.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(_pkg), Some(proof)) = (words.next(), words.next()) else {
            continue;
        };
        for item in proof.split(',') {
            let name = Path::new(item).file_name().unwrap().to_string_lossy();
            listed.insert(name.into_owned());
        }
    }
    for needed in ["ping", "sshd", "gfortran", "pkg-config", "ip", "nsenter"] {
        assert!(listed.contains(needed), "{needed} is not in the list");
    }

    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["tests", "tests/common"] {
        for e in fs::read_dir(repo_root().join(dir)).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "rs") {
                files.push(e.path());
            }
        }
    }
    let mut unlisted = BTreeSet::new();
    let needle = "Command::new(\"";
    for f in &files {
        let src = fs::read_to_string(f).unwrap();
        for (i, _) in src.match_indices(needle) {
            let rest = &src[i + needle.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            if name.is_empty() || name.contains(['{', '/']) {
                continue;
            }
            if !listed.contains(name) && !ESSENTIAL.contains(&name) {
                unlisted.insert(format!("{name} ({})", f.display()));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "programs the tests start that tools/debian-packages does not name: {unlisted:?}"
    );
}
