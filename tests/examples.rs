//! Builds the C demos of `examples-c/` with their Makefile against this
//! package's libpvm3 and runs them: hello (greeting from the spawned
//! hello_other), master/slave (the sums), spmd (the token ring completes),
//! timing (its table).  Also compiles PVM 3.4.6's own hello.c/hello_other.c,
//! unchanged, from the installed examples tarball against libpvm3.a, runs
//! hello with no daemon started by hand, kills the daemon with SIGKILL and
//! runs hello again.

mod common;

use common::{loud_skip, repo_root, run_build, Link, Sandbox, RUN_TIMEOUT};
use std::fs;
use std::path::Path;
use std::process::Command;

const DIST_TARBALL: &str = "/usr/share/doc/pvm-examples/examples.tar.gz";

#[test]
fn hello() {
    let sb = Sandbox::new("ex-hello");
    sb.build_examples();
    let out = sb.run(&sb.bin.join("hello"), &[], RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has("i'm t4000");
    out.assert_stdout_has("from t4000");
    out.assert_stdout_has(": hello, world from ");
}

#[test]
fn master_slave() {
    let sb = Sandbox::new("ex-master");
    sb.build_examples();
    for (workers, lines) in [("", 3), ("5", 5)] {
        let args: Vec<&str> = if workers.is_empty() {
            vec![]
        } else {
            vec![workers]
        };
        let out = sb.run(&sb.bin.join("master"), &args, RUN_TIMEOUT);
        out.assert_success();
        out.assert_stdout_has(&format!("master: starting {lines} workers"));
        let partial: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" sum ")).collect();
        assert_eq!(partial.len(), lines, "one line per worker\n{}", out.dump());
        out.assert_stdout_has("master: total 500500 (expected 500500) OK");
    }
}

#[test]
fn spmd_token_ring() {
    let sb = Sandbox::new("ex-spmd");
    sb.build_examples();
    let out = sb.run(&sb.bin.join("spmd"), &[], RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has("spmd: ring of 4 tasks: t40001 -> t4000");
    out.assert_stdout_has("spmd: token ring done, token 4 (expected 4)");
}

#[test]
fn timing() {
    let sb = Sandbox::new("ex-timing");
    sb.build_examples();
    let out = sb.run(&sb.bin.join("timing"), &[], RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has("timing: slave is t4000");
    out.assert_stdout_has("bytes    trips    usec/trip");
    for size in [0, 100, 1000, 10000, 100000, 1000000] {
        let row = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&size.to_string()))
            .unwrap_or_else(|| panic!("no table row for {size} bytes\n{}", out.dump()));
        assert_eq!(
            row.split_whitespace().count(),
            4,
            "row {row:?}\n{}",
            out.dump()
        );
    }
    out.assert_stdout_has("timing: done");
}

#[test]
fn static_examples_link() {
    let sb = Sandbox::new("ex-static");
    let build = sb.dir.join("build");
    fs::create_dir_all(&build).expect("build dir");
    for name in ["hello.c", "hello_other.c", "Makefile"] {
        fs::copy(repo_root().join("examples-c").join(name), build.join(name)).expect("copy");
    }
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(&build)
        .arg(format!("PVM_INC={}", common::include_dir().display()))
        .arg(format!("PVM_LIB={}", sb.lib.display()))
        .args(["hello_static", "hello_other_static"]);
    run_build(make, "make static hello");
    fs::copy(build.join("hello_other_static"), sb.bin.join("hello_other")).expect("install");
    let out = sb.run(&build.join("hello_static"), &[], RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has(": hello, world from ");
}

/// Extracts the distribution's hello.c and hello_other.c and compiles them
/// unchanged against libpvm3.a.
fn build_dist_hello(sb: &Sandbox) -> bool {
    if !Path::new(DIST_TARBALL).is_file() {
        loud_skip(
            "dist_hello",
            &format!("{DIST_TARBALL} is absent (apt-get install pvm-examples)"),
        );
        return false;
    }
    let dist = sb.dir.join("dist");
    fs::create_dir_all(&dist).expect("dist dir");
    let mut tar = Command::new("tar");
    tar.arg("xzf")
        .arg(DIST_TARBALL)
        .arg("-C")
        .arg(&dist)
        .args(["examples/hello.c", "examples/hello_other.c"]);
    run_build(tar, "extract hello.c from the examples tarball");
    for prog in ["hello", "hello_other"] {
        // 1990s C (implicit int, implicit declarations): gcc only warns
        let mut gcc = Command::new("gcc");
        gcc.arg("-I")
            .arg(common::include_dir())
            .arg("-o")
            .arg(sb.bin.join(prog))
            .arg(dist.join("examples").join(format!("{prog}.c")));
        sb.add_link_args(&mut gcc, Link::Static);
        run_build(gcc, &format!("compile the distribution's {prog}.c"));
    }
    true
}

#[test]
fn dist_hello_autostart_and_restart_after_crash() {
    let sb = Sandbox::new("ex-dist");
    if !build_dist_hello(&sb) {
        return;
    }
    let out = sb.run(&sb.bin.join("hello"), &[], RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has("i'm t4000");
    out.assert_stdout_has(": hello, world from ");

    let pid = sb.crash_daemon();
    let again = sb.run(&sb.bin.join("hello"), &[], RUN_TIMEOUT);
    again.assert_success();
    again.assert_stdout_has("i'm t4000");
    again.assert_stdout_has(": hello, world from ");
    let new_pid = sb.daemon_pid().expect("a new daemon wrote its pid file");
    assert_ne!(new_pid, pid, "a new daemon was started after the crash");
}
