//! Dynamic groups beyond c-tests/t_groups.c: the thin libgpvm3 (SONAME,
//! DT_NEEDED, the `-lgpvm3 -lpvm3` link line, shared and static), the PVM
//! 3.4.6 distribution's group programs (gexamples and examples/gexample.c)
//! compiled unchanged against include/, and Debian's prebuilt group
//! programs run with our libraries in front (LD_LIBRARY_PATH). The
//! distribution parts skip loudly when the packages are absent.

mod common;

use common::{gpvm3_dir, include_dir, loud_skip, RunOutput, Sandbox, NATIVE_LIBS, RUN_TIMEOUT};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

const GEXAMPLES: &str = "/usr/share/doc/pvm-examples/gexamples.tar.gz";
const EXAMPLES: &str = "/usr/share/doc/pvm-examples/examples.tar.gz";

/// A sandbox whose lib/ also has libgpvm3.so and libgpvm3.a (Sandbox::new
/// links libgpvm3.so.3).
fn gsandbox(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    let dir = gpvm3_dir();
    assert!(
        sb.lib.join("libgpvm3.so.3").exists(),
        "libgpvm3.so.3 not built"
    );
    for (link, target) in [
        ("libgpvm3.so", "libgpvm3.so.3"),
        ("libgpvm3.a", "libgpvm3.a"),
    ] {
        symlink(dir.join(target), sb.lib.join(link)).expect("symlink libgpvm3");
    }
    sb
}

fn readelf_dynamic(path: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(path)
        .output()
        .expect("run readelf");
    assert!(out.status.success(), "readelf -d {}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn libgpvm3_so_names_libpvm3() {
    let so = gpvm3_dir().join("libgpvm3.so.3");
    assert!(so.is_file(), "{} was not built", so.display());
    let d = readelf_dynamic(&so);
    assert!(d.contains("Library soname: [libgpvm3.so.3]"), "{d}");
    assert!(d.contains("Shared library: [libpvm3.so.3]"), "{d}");
    let link = std::fs::read_link(gpvm3_dir().join("libgpvm3.so")).expect("libgpvm3.so link");
    assert_eq!(link, PathBuf::from("libgpvm3.so.3"));
    assert!(gpvm3_dir().join("libgpvm3.a").is_file());
}

/// Uses every group function (the reduce functions as pointers) and checks
/// a few single-task answers.
const EVERY_SYMBOL: &str = r#"
#include <stdio.h>
#include "pvm3.h"
typedef void (*redfn)(int *, void *, void *, int *, int *);
int main(void)
{
	redfn f[4] = { PvmMax, PvmMin, PvmSum, PvmProduct };
	int d[2] = { 3, 4 }, r[2] = { 0, 0 }, bad = 0, i;
	pvm_setopt(PvmAutoErr, 0);
	bad += pvm_joingroup("sym") != 0;
	bad += pvm_gsize("sym") != 1;
	bad += pvm_gettid("sym", 0) != pvm_mytid();
	bad += pvm_getinst("sym", pvm_mytid()) != 0;
	bad += pvm_barrier("sym", 1) != 0;
	pvm_initsend(PvmDataDefault);
	bad += pvm_bcast("sym", 1) != PvmNoInst;
	for (i = 0; i < 4; i++)
		bad += pvm_reduce(f[i], d, 2, PVM_INT, 1, "sym", 0) != 0;
	bad += pvm_gather(r, d, 2, PVM_INT, 2, "sym", 0) != 0 || r[1] != 4;
	bad += pvm_scatter(r, d, 1, PVM_INT, 3, "sym", 0) != 0;
	bad += pvm_freezegroup("sym", -1) != 1;
	bad += pvm_lvgroup("sym") != 0;
	printf("group calls %s\n", bad ? "FAILED" : "ok");
	pvm_exit();
	return bad;
}
"#;

fn link_and_run(static_link: bool) {
    let sb = gsandbox(if static_link { "gstatic" } else { "gshared" });
    let src = sb.dir.join("every.c");
    std::fs::write(&src, EVERY_SYMBOL).expect("write source");
    let exe = sb.bin.join("every");
    let mut cmd = Command::new("gcc");
    cmd.args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(include_dir())
        .arg("-o")
        .arg(&exe)
        .arg(&src);
    if static_link {
        cmd.arg(sb.lib.join("libgpvm3.a"))
            .arg(sb.lib.join("libpvm3.a"))
            .args(NATIVE_LIBS);
    } else {
        cmd.arg("-L")
            .arg(&sb.lib)
            .arg(format!("-Wl,-rpath,{}", sb.lib.display()))
            .args(["-lgpvm3", "-lpvm3"]);
    }
    common::run_build(cmd, "link with -lgpvm3 -lpvm3");
    // (gcc's default --as-needed may drop libgpvm3.so from DT_NEEDED: it
    // defines none of the symbols; the link line is what must work.)
    let out = sb.run(&exe, &[], RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has("group calls ok");
}

#[test]
fn link_line_gpvm3_pvm3_shared() {
    link_and_run(false);
}

#[test]
fn link_line_gpvm3_pvm3_static() {
    link_and_run(true);
}

// ---- the distribution's group programs -------------------------------------

/// Extracts the distribution's sources into the sandbox; None (after a loud
/// skip) when pvm-examples is not installed.
fn sources(sb: &Sandbox, test: &str) -> Option<PathBuf> {
    for t in [GEXAMPLES, EXAMPLES] {
        if !Path::new(t).is_file() {
            loud_skip(
                test,
                &format!("{t} is absent (apt-get install pvm-examples)"),
            );
            return None;
        }
        let st = Command::new("tar")
            .arg("xzf")
            .arg(t)
            .arg("-C")
            .arg(&sb.dir)
            .status()
            .expect("run tar");
        assert!(st.success(), "tar xzf {t}");
    }
    Some(sb.dir.clone())
}

/// Compiles a distribution program unchanged (old-style C: warnings off)
/// with `-lgpvm3 -lpvm3` into bin/.
fn build_unchanged(sb: &Sandbox, src: &Path, name: &str) {
    let mut cmd = Command::new("gcc");
    cmd.args(["-w", "-DHASSTDLIB", "-I"])
        .arg(include_dir())
        .arg("-o")
        .arg(sb.bin.join(name))
        .arg(src)
        .arg("-L")
        .arg(&sb.lib)
        .arg(format!("-Wl,-rpath,{}", sb.lib.display()))
        .args(["-lgpvm3", "-lpvm3"]);
    common::run_build(cmd, &format!("compile {}", src.display()));
}

/// Runs `program args` with `input` on stdin (through sh).
fn run_with_input(
    sb: &Sandbox,
    program: &Path,
    args: &[&str],
    input: &str,
    debian: bool,
) -> RunOutput {
    let mut cmd = sb.command(Path::new("/bin/sh"));
    cmd.arg("-c")
        .arg(format!("echo '{input}' | exec \"$0\" \"$@\""))
        .arg(program)
        .args(args);
    if debian {
        cmd.env("LD_LIBRARY_PATH", &sb.lib);
    }
    sb.run_command(cmd, RUN_TIMEOUT)
}

/// The answers PVM 3.4.6 with pvmgs gives (measured), checked on `run`.
fn check_programs(sb: &Sandbox, prog: &dyn Fn(&str) -> PathBuf, debian: bool) {
    let run = |name: &str, args: &[&str], input: &str| {
        let mut out = run_with_input(sb, &prog(name), args, input, debian);
        assert!(!out.timed_out, "{name} hung:\n{}", out.dump());
        // The programs write to both; check them as one text.
        out.stdout.push_str(&out.stderr);
        out
    };
    let out = run("tst", &[], "");
    out.assert_stdout_has("joined prognosis 0, negative 0");
    out.assert_stdout_has("left prognosis 0, negative 0");
    for name in ["tjf", "tjl"] {
        let out = run(name, &[], "");
        out.assert_success();
        for i in 0..32 {
            out.assert_stdout_has(&format!("joined group{i}\n"));
        }
        assert!(!out.stderr.contains("I'm not myself"), "{}", out.dump());
    }
    let out = run("joinleave", &["300"], "");
    out.assert_success();
    out.assert_stdout_has("Joined 300 times");
    let out = run("gexamp", &["4"], "");
    out.assert_success();
    assert!(out.stderr.contains(" 0: sync"), "{}", out.dump());
    let log = sb.daemon_log();
    for i in 1..4 {
        assert!(log.contains(&format!(" {i}: sync")), "gexamp {i}:\n{log}");
    }
    assert!(!log.contains("doesn't match"), "{log}");
    let out = run("thb", &["4"], "");
    out.assert_success();
    out.assert_stdout_has("barrier on group0");
    out.assert_stdout_has("leaving all the groups");
    out.assert_stdout_has("done.");
    let out = run("trsg", &[], "4 5");
    out.assert_stdout_has("INPUT values: nprocs = 4, count = 5");
    out.assert_stdout_has("Test OK: Sum of Squares of first 20 integers is 2870");
    out.assert_stdout_has("Test Ok: Received (5.000000, 2.000000)");
    let out = run("gexample", &[], "8 4");
    out.assert_success();
    out.assert_stdout_has("--> Using 4 processors <--");
    out.assert_stdout_has("The 1-Norm is 36");
    out.assert_stdout_has("The product of column 1 is 40320");
    assert!(!sb.daemon_log().contains("libpvm ["), "{}", sb.daemon_log());
}

#[test]
fn distribution_group_programs_compiled_unchanged() {
    let sb = gsandbox("gexamples");
    let Some(dir) = sources(&sb, "distribution_group_programs_compiled_unchanged") else {
        return;
    };
    for name in [
        "tst",
        "tjf",
        "tjl",
        "joinleave",
        "gexamp",
        "thb",
        "tnb",
        "trsg",
    ] {
        build_unchanged(&sb, &dir.join("gexamples").join(format!("{name}.c")), name);
    }
    build_unchanged(&sb, &dir.join("examples").join("gexample.c"), "gexample");
    let bin = sb.bin.clone();
    check_programs(&sb, &|n| bin.join(n), false);
}

#[test]
fn debian_prebuilt_group_programs() {
    if !Path::new("/usr/bin/gexample").is_file() {
        loud_skip(
            "debian_prebuilt_group_programs",
            "/usr/bin/gexample is absent (apt-get install pvm-examples)",
        );
        return;
    }
    let sb = gsandbox("gdebian");
    // Spawned by name (gexamp and trsg spawn themselves, thb spawns tnb).
    for name in [
        "tst",
        "tjf",
        "tjl",
        "joinleave",
        "gexamp",
        "thb",
        "tnb",
        "trsg",
        "gexample",
    ] {
        symlink(Path::new("/usr/bin").join(name), sb.bin.join(name)).expect("symlink");
    }
    let bin = sb.bin.clone();
    check_programs(&sb, &|n| bin.join(n), true);
}
