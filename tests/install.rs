//! `make install` / `tools/install.sh`: installs pvm6 into temporary trees in
//! both layouts (the classic `PVM_ROOT` tree and the FHS `PREFIX`), checks
//! the files, builds programs from the installed trees with the classic link
//! lines (and the PVM 3.4.6 distribution's examples, unchanged, with aimk and
//! `-lgpvm3 -lpvm3`), runs them, uninstalls and checks that the trees are
//! back to what they held before (the user's files and the files of an older
//! PVM that the install had moved aside).  With `CI=true` (root there) it
//! also installs to /usr/local, builds `gcc hello.c -lpvm3`, runs it and
//! uninstalls.
//!
//! The files other parts of the project add (the console `pvm`, libgpvm3,
//! libfpvm3, include/fpvm3.h) are checked when they were built; when they are
//! missing the checks are skipped with a loud note.

mod common;

use common::{lib_dir, loud_skip, repo_root, run_build, RunOutput, Sandbox, NATIVE_LIBS};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DIST_TARBALL: &str = "/usr/share/doc/pvm-examples/examples.tar.gz";
const RUN: Duration = Duration::from_secs(60);

/// Whether the parts other branches add (console, libgpvm3, libfpvm3,
/// fpvm3.h) must be installed: false skips their checks with a loud note
/// while they are absent; set to true once they are merged.
const STRICT: bool = false;

/// The console, when the package has a `pvm` binary target.
const CONSOLE: Option<&str> = option_env!("CARGO_BIN_EXE_pvm");
/// The group server, when the package has a `pvmgs` binary target.
const GROUP_SERVER: Option<&str> = option_env!("CARGO_BIN_EXE_pvmgs");

// ------------------------------------------------------------------ helpers

/// A directory laid out like `target/release` for install.sh, made of
/// symlinks to what this cargo invocation built: libpvm3.so/.a, pvmd3 and,
/// when built, pvm, pvmgs, libgpvm3.a, libgpvm3.so.3, libfpvm3.a.
fn stage_build(sb: &Sandbox) -> PathBuf {
    let dir = sb.dir.join("build");
    fs::create_dir_all(&dir).expect("build dir");
    let libs = lib_dir();
    symlink(libs.join("libpvm3.so"), dir.join("libpvm3.so")).expect("link .so");
    symlink(libs.join("libpvm3.a"), dir.join("libpvm3.a")).expect("link .a");
    symlink(env!("CARGO_BIN_EXE_pvmd3"), dir.join("pvmd3")).expect("link pvmd3");
    for (name, exe) in [("pvm", CONSOLE), ("pvmgs", GROUP_SERVER)] {
        if let Some(exe) = exe {
            symlink(exe, dir.join(name)).expect("link binary");
        }
    }
    let profile = libs.parent().map(Path::to_path_buf).unwrap_or(libs.clone());
    for name in ["libgpvm3.a", "libgpvm3.so.3", "libfpvm3.a"] {
        if let Some(found) = [&libs, &profile]
            .iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            symlink(found, dir.join(name)).expect("link extra library");
        }
    }
    dir
}

/// Runs `sh tools/install.sh ARGS`, asserting success; returns its stdout.
fn install_sh(args: &[String]) -> String {
    let out = Command::new("sh")
        .arg(repo_root().join("tools/install.sh"))
        .args(args)
        .output()
        .expect("run install.sh");
    assert!(
        out.status.success(),
        "install.sh {args:?} failed\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `make -s -C <repo> ARGS` (the Makefile's install/uninstall targets),
/// asserting success; returns its stdout.
fn make(args: &[String]) -> String {
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo_root())
        .args(args)
        .env_remove("PVM_ROOT")
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make {args:?} failed\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn arg(name: &str, value: &Path) -> String {
    format!("{name}={}", value.display())
}

/// Everything under `dir`: relative path -> "dir", "link -> target" or
/// "file <mode> <content>".
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&p).expect("lstat");
            if meta.file_type().is_symlink() {
                let t = fs::read_link(&p).expect("readlink");
                map.insert(rel, format!("link -> {}", t.display()));
            } else if meta.is_dir() {
                map.insert(rel, "dir".into());
                walk(root, &p, map);
            } else {
                let content = fs::read(&p).expect("read file");
                map.insert(
                    rel,
                    format!(
                        "file {:o} {}",
                        meta.permissions().mode() & 0o7777,
                        String::from_utf8_lossy(&content)
                    ),
                );
            }
        }
    }
    let mut map = BTreeMap::new();
    walk(dir, dir, &mut map);
    map
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{} missing: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_file(path: &Path, want_mode: u32) {
    let meta = fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{} was not installed: {e}", path.display()));
    assert!(meta.is_file(), "{} is not a regular file", path.display());
    assert_eq!(mode(path), want_mode, "mode of {}", path.display());
}

fn assert_link(path: &Path, target: &str) {
    let t = fs::read_link(path).unwrap_or_else(|e| panic!("{} is no link: {e}", path.display()));
    assert_eq!(t, Path::new(target), "target of {}", path.display());
}

/// The `NAME = value` assignments of a make fragment (conf/LINUX64.def).
fn make_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Compiles C (or Fortran) with `cc` and the given arguments.
fn cc(args: &[String], what: &str) {
    let mut cmd = Command::new("cc");
    cmd.args(args);
    run_build(cmd, what);
}

/// The pid of the daemon's process and the executable it runs.
fn daemon_exe(sb: &Sandbox) -> PathBuf {
    let pid = sb.daemon_pid().expect("the daemon wrote its pid file");
    fs::read_link(format!("/proc/{pid}/exe")).expect("daemon's /proc/<pid>/exe")
}

/// hello's output: "i'm t4000N" then "from t4000M: hello, world from HOST".
fn assert_hello(out: &RunOutput) {
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.len() >= 2 && lines[0].starts_with("i'm t4000"),
        "hello's first line\n{}",
        out.dump()
    );
    assert!(
        lines[1].starts_with("from t4000") && lines[1].contains(": hello, world from "),
        "hello's second line\n{}",
        out.dump()
    );
}

/// master1's output: 3 workers, each sum right.
fn assert_master1(out: &RunOutput) {
    out.assert_success();
    out.assert_stdout_has("Spawning 3 worker tasks ... SUCCESSFUL");
    let mut seen = Vec::new();
    for line in out.stdout.lines().filter(|l| l.starts_with("I got ")) {
        let rest = &line["I got ".len()..];
        let (got, rest) = rest.split_once(" from ").expect("from");
        let (who, expecting) = rest.split_once("; (expecting ").expect("expecting");
        assert_eq!(got, expecting.trim_end_matches(')'), "{}", out.dump());
        seen.push(who.parse::<u32>().expect("worker number"));
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2], "one result per worker\n{}", out.dump());
}

/// Notes a part of the install that another branch provides and is absent.
fn pending(what: &str) {
    if STRICT {
        panic!("{what} was not built, but the install test is strict");
    }
    loud_skip(
        "install",
        &format!("{what} was not built: its install checks are skipped (strict after merge)"),
    );
}

// ------------------------------------------------------------------ PVM_ROOT

/// Install over an existing PVM 3.4 tree, run from it, uninstall: the tree
/// is then exactly what it was.
#[test]
fn classic_tree_over_old_pvm() {
    let sb = Sandbox::new("inst-root");
    let build = stage_build(&sb);
    let root = sb.pvm_root.clone();
    // an older PVM's files, and the user's own
    write(&root.join("include/pvm3.h"), "/* PVM 3.4.6 header */\n");
    write(&root.join("lib/LINUX64/libpvm3.a"), "old archive\n");
    write(&root.join("lib/LINUX64/pvmd3"), "old daemon\n");
    write(&root.join("lib/pvmd"), "#!/bin/sh\necho old pvmd\n");
    write(&root.join("conf/LINUX64.def"), "ARCHLIB =\n");
    write(&root.join("bin/LINUX64/myprog"), "user program\n");
    write(&root.join("lib/LINUX64/libmine.a"), "user library\n");
    write(&root.join("notes.txt"), "user notes\n");
    let before = snapshot(&root);

    let out = make(&[
        "install".into(),
        arg("PVM_ROOT", &root),
        arg("BUILDDIR", &build),
    ]);
    assert!(out.contains("moved the existing"), "{out}");

    // the layout
    assert_file(&root.join("include/pvm3.h"), 0o644);
    assert_eq!(
        fs::read(root.join("include/pvm3.h")).unwrap(),
        fs::read(repo_root().join("include/pvm3.h")).unwrap()
    );
    assert_file(&root.join("include/pvmproto.h"), 0o644);
    assert_file(&root.join("include/pvmtev.h"), 0o644);
    assert_file(&root.join("lib/LINUX64/libpvm3.a"), 0o644);
    assert_file(&root.join("lib/LINUX64/pvmd3"), 0o755);
    for script in ["pvmd", "pvmgetarch", "aimk"] {
        assert_file(&root.join("lib").join(script), 0o755);
    }
    assert_file(&root.join("conf/LINUX64.def"), 0o644);
    assert_file(&root.join("man/man1/pvmd3.1"), 0o644);
    assert!(root.join("bin/LINUX64").is_dir());
    let shared: Vec<_> = fs::read_dir(root.join("lib/LINUX64"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".so"))
        .collect();
    assert!(shared.is_empty(), "lib/LINUX64 is static only: {shared:?}");
    let arch = Command::new(root.join("lib/pvmgetarch"))
        .output()
        .expect("pvmgetarch");
    assert_eq!(String::from_utf8_lossy(&arch.stdout), "LINUX64\n");

    // conf/LINUX64.def: what aimk Makefiles read
    let def = make_vars(&fs::read_to_string(root.join("conf/LINUX64.def")).unwrap());
    assert_eq!(def["PVM_ARCH"], "LINUX64");
    assert_eq!(def["ARCHLIB"], NATIVE_LIBS.join(" "));
    assert_eq!(def["MAKE"], "make");
    assert_eq!(def["AR"], "ar");
    for var in ["ARCHCFLAGS", "ARCHDLIB", "HASRANLIB", "SHAREDLDFLAGS"] {
        assert!(def.contains_key(var), "{var} missing from LINUX64.def");
    }

    // the older PVM's files were kept aside, the user's left alone
    let kept = root.join("pvm6/replaced");
    assert_eq!(
        fs::read_to_string(kept.join("lib/pvmd")).unwrap(),
        "#!/bin/sh\necho old pvmd\n"
    );
    assert_eq!(
        fs::read_to_string(kept.join("include/pvm3.h")).unwrap(),
        "/* PVM 3.4.6 header */\n"
    );
    for user in ["bin/LINUX64/myprog", "lib/LINUX64/libmine.a", "notes.txt"] {
        assert_eq!(
            snapshot(&root).get(user),
            before.get(user),
            "user file {user} changed"
        );
    }

    // optional parts from other branches
    match CONSOLE {
        Some(_) => {
            assert_file(&root.join("console/LINUX64/pvm"), 0o755);
            assert_file(&root.join("lib/pvm"), 0o755);
            assert_file(&root.join("man/man1/pvm.1"), 0o644);
        }
        None => pending("the console (src/bin/pvm.rs)"),
    }
    for (file, what) in [
        ("lib/LINUX64/libgpvm3.a", "libgpvm3.a"),
        ("lib/LINUX64/libfpvm3.a", "libfpvm3.a"),
    ] {
        if build.join(what).exists() {
            assert_file(&root.join(file), 0o644);
        } else {
            pending(what);
        }
    }
    if repo_root().join("include/fpvm3.h").is_file() {
        assert_file(&root.join("include/fpvm3.h"), 0o644);
    } else {
        pending("include/fpvm3.h");
    }

    // a second install over our own replaces our files and keeps the
    // older PVM's copies
    make(&[
        "install".into(),
        arg("PVM_ROOT", &root),
        arg("BUILDDIR", &build),
    ]);
    assert_eq!(
        fs::read_to_string(kept.join("lib/pvmd")).unwrap(),
        "#!/bin/sh\necho old pvmd\n"
    );

    // the classic link line; the programs need no library path at run time
    let inc = format!("-I{}", root.join("include").display());
    let libdir = format!("-L{}", root.join("lib/LINUX64").display());
    for prog in ["hello", "hello_other"] {
        let mut args = vec![
            "-Wall".to_string(),
            "-Wextra".into(),
            "-Werror".into(),
            inc.clone(),
            repo_root()
                .join(format!("examples-c/{prog}.c"))
                .display()
                .to_string(),
            "-o".into(),
            root.join("bin/LINUX64").join(prog).display().to_string(),
            libdir.clone(),
            "-lpvm3".into(),
        ];
        args.extend(def["ARCHLIB"].split_whitespace().map(String::from));
        cc(&args, &format!("build {prog} from the PVM_ROOT tree"));
    }
    let out = sb.run(&root.join("bin/LINUX64/hello"), &[], RUN);
    assert_hello(&out);
    assert_eq!(
        daemon_exe(&sb),
        root.join("lib/LINUX64/pvmd3"),
        "the library starts the tree's pvmd3"
    );
    sb.stop_daemon();

    // lib/pvmd starts the daemon after reading ~/.pvmprofile
    write(
        &sb.home.join(".pvmprofile"),
        "PVM6_PROFILE_MARK=read\nexport PVM6_PROFILE_MARK\n",
    );
    let out = sb.run(&root.join("lib/pvmd"), &[], RUN);
    out.assert_success();
    let pid = sb.daemon_pid().expect("lib/pvmd started a daemon");
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("daemon environ");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"PVM6_PROFILE_MARK=read"),
        "the daemon did not get ~/.pvmprofile's variables"
    );
    assert_eq!(daemon_exe(&sb), root.join("lib/LINUX64/pvmd3"));
    sb.stop_daemon();
    fs::remove_file(sb.home.join(".pvmprofile")).unwrap();
    for prog in ["hello", "hello_other"] {
        fs::remove_file(root.join("bin/LINUX64").join(prog)).unwrap();
    }

    install_sh(&["uninstall".into(), arg("PVM_ROOT", &root)]);
    assert_eq!(snapshot(&root), before, "uninstall restores the tree");
}

/// The done-when of issue 8: the distribution's examples, unchanged, built
/// in `$PVM_ROOT/examples` with the tree's aimk (Makefile.aimk and
/// conf/LINUX64.def) and with `-lgpvm3 -lpvm3`, and run.
#[test]
fn classic_tree_builds_distribution_examples() {
    if !Path::new(DIST_TARBALL).is_file() {
        loud_skip(
            "classic_tree_builds_distribution_examples",
            &format!("{DIST_TARBALL} is absent (apt-get install pvm-examples)"),
        );
        return;
    }
    let sb = Sandbox::new("inst-dist");
    let build = stage_build(&sb);
    let root = sb.pvm_root.clone();
    let before = snapshot(&root);
    install_sh(&[
        "install".into(),
        arg("PVM_ROOT", &root),
        arg("BUILDDIR", &build),
    ]);
    let mut tar = Command::new("tar");
    tar.arg("xzf").arg(DIST_TARBALL).arg("-C").arg(&root);
    run_build(tar, "extract the examples into PVM_ROOT");
    let examples = root.join("examples");
    // the tarball carries an object file built elsewhere; aimk builds here
    let _ = fs::remove_dir_all(examples.join("LINUX64"));

    // aimk, the way PVM 3.4 users build them: binaries land in bin/LINUX64.
    // c-all is every C program of the examples' Makefile.aimk (25, the
    // group, context, mailbox and message-handler ones included).
    let mut aimk = Command::new(root.join("lib/aimk"));
    aimk.current_dir(&examples)
        .env_remove("PVM_ROOT")
        .env_remove("PVM_ARCH")
        .arg("c-all");
    run_build(aimk, "aimk c-all: the distribution's C examples");
    let bin = root.join("bin/LINUX64");
    for prog in [
        "gexample",
        "timing",
        "inheritb",
        "lmbi",
        "task_end",
        "rme",
        "mhf_tickle",
    ] {
        assert!(bin.join(prog).is_file(), "aimk c-all built no {prog}");
    }
    assert_hello(&sb.run(&bin.join("hello"), &[], RUN));
    assert_master1(&sb.run(&bin.join("master1"), &[], RUN));
    sb.stop_daemon();

    // the done-when link line: -L$PVM_ROOT/lib/LINUX64 -lgpvm3 -lpvm3
    let have_gpvm = root.join("lib/LINUX64/libgpvm3.a").is_file();
    if !have_gpvm {
        pending("libgpvm3.a (linking without -lgpvm3 meanwhile)");
    }
    let def = make_vars(&fs::read_to_string(root.join("conf/LINUX64.def")).unwrap());
    let direct = sb.dir.join("direct");
    fs::create_dir_all(&direct).unwrap();
    // ptest (it writes libpvm's `pvmdebmask`) and mbox have no aimk
    // target: cc alone. (starter.c builds with no current C compiler, PVM's
    // own headers or not: it calls exit() without an argument.)
    for prog in ["hello", "hello_other", "master1", "slave1", "ptest", "mbox"] {
        let mut args = vec![
            format!("-I{}", root.join("include").display()),
            examples.join(format!("{prog}.c")).display().to_string(),
            "-o".into(),
            direct.join(prog).display().to_string(),
            format!("-L{}", root.join("lib/LINUX64").display()),
        ];
        if have_gpvm {
            args.push("-lgpvm3".into());
        }
        args.push("-lpvm3".into());
        args.extend(def["ARCHLIB"].split_whitespace().map(String::from));
        cc(&args, &format!("cc the distribution's {prog}.c"));
    }
    // the spawned programs come from ~/pvm3/bin/LINUX64 this time
    let home_bin = sb.home.join("pvm3/bin/LINUX64");
    fs::create_dir_all(&home_bin).unwrap();
    for prog in ["hello_other", "slave1"] {
        fs::rename(direct.join(prog), home_bin.join(prog)).unwrap();
        fs::remove_file(bin.join(prog)).unwrap();
    }
    assert_hello(&sb.run(&direct.join("hello"), &[], RUN));
    assert_master1(&sb.run(&direct.join("master1"), &[], RUN));
    // two copies of ptest, started by hand as it expects, two iterations
    let ptest = direct.join("ptest");
    let second = {
        let mut c = sb.command(&ptest);
        c.args(["2", "0", "2", "1"])
            .stdout(fs::File::create(sb.dir.join("ptest2.out")).unwrap())
            .stderr(std::process::Stdio::null());
        c.spawn().expect("start ptest")
    };
    let out = sb.run(&ptest, &["2", "0", "2", "1"], RUN);
    let mut second = second;
    let _ = second.wait();
    let both = out.stdout.clone() + &fs::read_to_string(sb.dir.join("ptest2.out")).unwrap();
    assert_eq!(
        both.matches("Data validated from all tasks!").count(),
        2,
        "node 0 validates both iterations\n{both}\n{}",
        out.dump()
    );
    assert_eq!(both.matches("understands 2 processes").count(), 2, "{both}");
    sb.stop_daemon();

    // Fortran, when libfpvm3 is there and a compiler is
    let have_fpvm =
        root.join("lib/LINUX64/libfpvm3.a").is_file() && root.join("include/fpvm3.h").is_file();
    let fc = ["gfortran", "f77"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    match (have_fpvm, fc) {
        (true, Some(fc)) => {
            let mut aimk = Command::new(root.join("lib/aimk"));
            aimk.current_dir(&examples)
                .env_remove("PVM_ROOT")
                .arg(format!("FC={fc}"))
                .args(["fmaster1", "fslave1"]);
            run_build(aimk, "aimk the distribution's Fortran examples");
            fs::rename(bin.join("fslave1"), home_bin.join("fslave1")).unwrap();
            let out = sb.run(&bin.join("fmaster1"), &[], RUN);
            out.assert_success();
            // " I got  <sum> from   N (expected  <sum> )"
            let sums: Vec<Vec<&str>> = out
                .stdout
                .lines()
                .filter(|l| l.trim_start().starts_with("I got"))
                .map(|l| l.split_whitespace().collect())
                .collect();
            assert!(!sums.is_empty(), "no results\n{}", out.dump());
            for words in &sums {
                assert_eq!(words[2], words[6], "wrong sum\n{}", out.dump());
            }
            sb.stop_daemon();
        }
        (false, _) => pending("libfpvm3.a / include/fpvm3.h (Fortran examples)"),
        (true, None) => loud_skip("fortran examples", "no Fortran compiler (gfortran, f77)"),
    }

    // the user's programs stay; everything else goes
    fs::remove_dir_all(&examples).unwrap();
    install_sh(&["uninstall".into(), arg("PVM_ROOT", &root)]);
    let after = snapshot(&root);
    let left: Vec<_> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    for k in &left {
        assert!(
            k.starts_with("bin/LINUX64/"),
            "uninstall left {k}, which is not a user program"
        );
    }
    assert!(
        left.contains(&"bin/LINUX64/hello".to_string()),
        "the user's programs built by aimk are kept: {left:?}"
    );
}

// ------------------------------------------------------------------ PREFIX

/// FHS install into a temporary prefix next to the user's files, pkg-config,
/// run, uninstall; then the same with DESTDIR.
#[test]
fn prefix_install() {
    let sb = Sandbox::new("inst-prefix");
    let build = stage_build(&sb);
    let prefix = sb.dir.join("prefix");
    write(&prefix.join("lib/libother.so.1"), "another library\n");
    write(&prefix.join("bin/mytool"), "a tool\n");
    write(&prefix.join("share/man/man1/mytool.1"), ".TH MYTOOL 1\n");
    let before = snapshot(&prefix);
    let marker = sb.dir.join("ldconfig-ran");
    let ldconfig = format!("LDCONFIG=touch {}", marker.display());

    install_sh(&[
        "install".into(),
        arg("PREFIX", &prefix),
        arg("BUILDDIR", &build),
        ldconfig.clone(),
    ]);
    let lib = prefix.join("lib");
    assert_file(&lib.join("libpvm3.so.3.4.6"), 0o755);
    assert_link(&lib.join("libpvm3.so.3"), "libpvm3.so.3.4.6");
    assert_link(&lib.join("libpvm3.so"), "libpvm3.so.3");
    assert_file(&lib.join("libpvm3.a"), 0o644);
    assert_file(&prefix.join("include/pvm3.h"), 0o644);
    assert_file(&prefix.join("include/pvmproto.h"), 0o644);
    assert_file(&prefix.join("include/pvmtev.h"), 0o644);
    assert_file(&prefix.join("bin/pvmd3"), 0o755);
    assert_file(&lib.join("pkgconfig/pvm3.pc"), 0o644);
    assert_file(&prefix.join("share/man/man1/pvmd3.1"), 0o644);
    assert_file(&prefix.join("share/pvm6/install-manifest"), 0o644);
    match CONSOLE {
        Some(_) => {
            assert_file(&prefix.join("bin/pvm"), 0o755);
            assert_file(&prefix.join("share/man/man1/pvm.1"), 0o644);
        }
        None => pending("the console (src/bin/pvm.rs)"),
    }
    for name in ["libgpvm3.a", "libfpvm3.a"] {
        if build.join(name).exists() {
            assert_file(&lib.join(name), 0o644);
        } else {
            pending(name);
        }
    }
    if build.join("libgpvm3.so.3").exists() {
        assert_link(&lib.join("libgpvm3.so.3"), "libgpvm3.so.3.4.6");
    }
    // ldconfig runs for root installs without DESTDIR only
    let root_user = sb.uid() == 0;
    assert_eq!(marker.exists(), root_user, "ldconfig run iff root");
    let _ = fs::remove_file(&marker);

    // pkg-config
    let pc = |args: &[&str]| -> Vec<String> {
        let out = Command::new("pkg-config")
            .args(args)
            .arg("pvm3")
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
            .output()
            .expect("run pkg-config");
        assert!(out.status.success(), "pkg-config {args:?} failed");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let flags = pc(&["--cflags", "--libs"]);
    assert_eq!(
        flags,
        [
            format!("-I{}", prefix.join("include").display()),
            format!("-L{}", lib.display()),
            "-lpvm3".to_string()
        ]
    );
    let static_libs = pc(&["--static", "--libs"]);
    for l in NATIVE_LIBS {
        assert!(static_libs.iter().any(|f| f == l), "Libs.private lacks {l}");
    }
    assert_eq!(pc(&["--modversion"]), ["3.4.6"]);

    // cc x.c $(pkg-config --cflags --libs pvm3); hello_other in ~/pvm3/bin/LINUX64
    let home_bin = sb.home.join("pvm3/bin/LINUX64");
    fs::create_dir_all(&home_bin).unwrap();
    for (prog, dir) in [("hello", &sb.dir), ("hello_other", &home_bin)] {
        let mut args = vec![
            "-Wall".to_string(),
            "-Wextra".into(),
            "-Werror".into(),
            repo_root()
                .join(format!("examples-c/{prog}.c"))
                .display()
                .to_string(),
            "-o".into(),
            dir.join(prog).display().to_string(),
        ];
        args.extend(flags.iter().cloned());
        cc(&args, &format!("build {prog} with pkg-config"));
    }
    let mut cmd = sb.command(&sb.dir.join("hello"));
    cmd.env_remove("PVM_ROOT").env("LD_LIBRARY_PATH", &lib);
    let out = sb.run_command(cmd, RUN);
    assert_hello(&out);
    sb.stop_daemon();

    make(&[
        "uninstall".into(),
        arg("PREFIX", &prefix),
        format!("LDCONFIG=touch {}", marker.display()),
    ]);
    assert_eq!(snapshot(&prefix), before, "uninstall restores the prefix");
    assert_eq!(
        marker.exists(),
        root_user,
        "ldconfig after uninstall iff root"
    );

    // DESTDIR: staged under it, paths inside name the real prefix, no ldconfig
    let stage = sb.dir.join("stage");
    fs::create_dir_all(&stage).unwrap();
    let _ = fs::remove_file(&marker);
    let destdir = arg("DESTDIR", &stage);
    make(&[
        "install".into(),
        "PREFIX=/usr/local".into(),
        destdir.clone(),
        arg("BUILDDIR", &build),
        ldconfig.clone(),
    ]);
    assert!(!marker.exists(), "no ldconfig with DESTDIR");
    let staged = stage.join("usr/local");
    assert_file(&staged.join("lib/libpvm3.so.3.4.6"), 0o755);
    let pc_text = fs::read_to_string(staged.join("lib/pkgconfig/pvm3.pc")).unwrap();
    assert!(pc_text.contains("prefix=/usr/local\n"), "{pc_text}");
    assert!(staged.join("share/pvm6/install-manifest").is_file());
    make(&[
        "uninstall".into(),
        "PREFIX=/usr/local".into(),
        destdir,
        ldconfig,
    ]);
    assert!(!marker.exists(), "no ldconfig with DESTDIR");
    assert_eq!(
        snapshot(&stage).keys().cloned().collect::<Vec<_>>(),
        ["usr", "usr/local"],
        "uninstall with DESTDIR leaves only the directories above the prefix"
    );
}

/// Giving both layouts, neither, or a relative directory is refused.
#[test]
fn install_sh_refuses_bad_arguments() {
    let script = repo_root().join("tools/install.sh");
    for args in [
        vec!["install"],
        vec!["install", "PVM_ROOT=/tmp/a", "PREFIX=/tmp/b"],
        vec!["install", "PREFIX=relative/dir"],
        vec!["frobnicate", "PREFIX=/tmp/b"],
        vec!["uninstall", "PREFIX=/nonexistent/pvm6-test-prefix"],
    ] {
        let out = Command::new("sh")
            .arg(&script)
            .args(&args)
            .output()
            .expect("run install.sh");
        assert_eq!(out.status.code(), Some(1), "{args:?} must fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("install.sh: "),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ------------------------------------------------------------------ /usr/local

/// Uninstalls from /usr/local when dropped, so that a failing test does not
/// leave pvm6 in front of the system's libpvm3.
struct UsrLocal {
    installed: bool,
}

impl Drop for UsrLocal {
    fn drop(&mut self) {
        if self.installed {
            let _ = Command::new("sh")
                .arg(repo_root().join("tools/install.sh"))
                .args(["uninstall", "PREFIX=/usr/local"])
                .status();
        }
    }
}

/// Names in the directories a /usr/local install touches.
fn usr_local_listing() -> BTreeMap<String, Vec<String>> {
    [
        "/usr/local/bin",
        "/usr/local/include",
        "/usr/local/lib",
        "/usr/local/lib/pkgconfig",
        "/usr/local/share",
        "/usr/local/share/man/man1",
    ]
    .iter()
    .map(|d| {
        let mut names: Vec<String> = fs::read_dir(d)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        (d.to_string(), names)
    })
    .collect()
}

fn ldconfig_has_ours() -> bool {
    let out = Command::new("ldconfig")
        .arg("-p")
        .output()
        .expect("ldconfig -p");
    String::from_utf8_lossy(&out.stdout).contains("/usr/local/lib/libpvm3.so.3")
}

/// `make install PREFIX=/usr/local` (ldconfig run), `gcc hello.c -lpvm3`,
/// run, `make uninstall PREFIX=/usr/local`: only where CI=true (root there).
#[test]
fn usr_local_install_when_ci() {
    if std::env::var("CI").as_deref() != Ok("true") {
        loud_skip(
            "usr_local_install_when_ci",
            "installs into /usr/local: runs only with CI=true",
        );
        return;
    }
    let sb = Sandbox::new("inst-usr-local");
    assert_eq!(sb.uid(), 0, "CI runs as root");
    assert!(
        !Path::new("/usr/local/share/pvm6/install-manifest").exists(),
        "pvm6 is already installed in /usr/local"
    );
    let build = stage_build(&sb);
    let before = usr_local_listing();
    let mut guard = UsrLocal { installed: true };
    make(&[
        "install".into(),
        "PREFIX=/usr/local".into(),
        arg("BUILDDIR", &build),
    ]);
    assert!(
        ldconfig_has_ours(),
        "ldconfig ran: the cache knows our library"
    );

    for (prog, dir) in [("hello", &sb.dir), ("hello_other", &sb.bin)] {
        let mut gcc = Command::new("gcc");
        gcc.arg(repo_root().join(format!("examples-c/{prog}.c")))
            .arg("-o")
            .arg(dir.join(prog))
            .arg("-lpvm3");
        run_build(gcc, &format!("gcc {prog}.c -lpvm3"));
    }
    // cargo test puts target/<profile> on LD_LIBRARY_PATH: ask as a user's shell would.
    let ldd = Command::new("ldd")
        .arg(sb.dir.join("hello"))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    assert!(
        ldd.contains("libpvm3.so.3 => /usr/local/lib/libpvm3.so.3"),
        "hello loads /usr/local's libpvm3\n{ldd}"
    );
    let out = sb.run(&sb.dir.join("hello"), &[], RUN);
    assert_hello(&out);
    assert!(
        sb.daemon_dir().join("pvmd.sock").exists(),
        "pvm6's daemon ran (the original library would not autostart)"
    );
    sb.stop_daemon();

    make(&["uninstall".into(), "PREFIX=/usr/local".into()]);
    guard.installed = false;
    assert_eq!(
        usr_local_listing(),
        before,
        "uninstall leaves /usr/local clean"
    );
    assert!(!ldconfig_has_ours(), "ldconfig ran after uninstall");
}

// ------------------------------------------------------------------ plain cargo build

/// A build directory as a plain `cargo build --release` leaves it: the
/// libraries and the daemon, no libgpvm3.a / libfpvm3.a (`make build` makes
/// those).
fn stage_cargo_only_build(sb: &Sandbox) -> PathBuf {
    let dir = sb.dir.join("cargo-build");
    fs::create_dir_all(&dir).expect("build dir");
    let libs = lib_dir();
    symlink(libs.join("libpvm3.so"), dir.join("libpvm3.so")).expect("link .so");
    symlink(libs.join("libpvm3.a"), dir.join("libpvm3.a")).expect("link .a");
    symlink(env!("CARGO_BIN_EXE_pvmd3"), dir.join("pvmd3")).expect("link pvmd3");
    dir
}

/// Issue "Fidelity" 7: `make install PVM_ROOT=...` from a build directory
/// without libfpvm3.a and libgpvm3.a installs them anyway (made as `make
/// build` makes them), so `gfortran ... -lfpvm3 -lgpvm3 -lpvm3` against the
/// tree links pvm6 alone (not the system's libfpvm3.a, which gave multiple
/// definitions) and the program runs.
#[test]
fn install_after_plain_cargo_build_links_fortran() {
    let sb = Sandbox::new("inst-cargo");
    let build = stage_cargo_only_build(&sb);
    let root = sb.dir.join("pvm3");
    let out = make(&[
        "install".into(),
        arg("PVM_ROOT", &root),
        arg("BUILDDIR", &build),
    ]);
    assert!(
        out.contains("made what") && out.contains("libfpvm3.a"),
        "install says it made the thin libraries: {out}"
    );
    let lib = root.join("lib/LINUX64");
    for name in ["libfpvm3.a", "libgpvm3.a"] {
        assert_file(&lib.join(name), 0o644);
        assert_eq!(
            fs::read(lib.join(name)).unwrap(),
            b"!<arch>\n",
            "{name}: the thin archive (the code is in libpvm3.a)"
        );
    }
    assert_file(&root.join("include/fpvm3.h"), 0o644);
    assert!(
        !build.join("libfpvm3.a").exists(),
        "install does not write into the build directory"
    );
    let manifest = fs::read_to_string(root.join("pvm6/install-manifest")).unwrap();
    assert!(
        manifest.contains("file lib/LINUX64/libfpvm3.a\n"),
        "{manifest}"
    );

    let fc_ok = Command::new("gfortran")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !fc_ok {
        if matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1")) {
            panic!("gfortran is required under CI (sh tools/setup.sh installs it)");
        }
        loud_skip(
            "install_after_plain_cargo_build_links_fortran",
            "gfortran is not installed (sh tools/setup.sh): the Fortran link is not checked",
        );
    } else {
        // the classic link line, static, against the installed tree only
        let ftests = repo_root().join("f-tests");
        let exe = sb.out.join("t_fbasic");
        let mut fc = Command::new("gfortran");
        fc.args(["-fallow-argument-mismatch", "-w"])
            .arg(format!("-I{}", root.join("include").display()))
            .arg(format!("-I{}", ftests.display()))
            .arg(ftests.join("t_fbasic.f"))
            .arg(ftests.join("tap.f"))
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib.display()))
            .args(["-lfpvm3", "-lgpvm3", "-lpvm3"])
            .args(NATIVE_LIBS);
        run_build(
            fc,
            "gfortran t_fbasic.f -lfpvm3 -lgpvm3 -lpvm3 against the tree",
        );
        sb.run(&exe, &[], RUN).assert_tap_ok();
        sb.stop_daemon();
    }

    make(&["uninstall".into(), arg("PVM_ROOT", &root)]);
    assert_eq!(
        snapshot(&root),
        BTreeMap::new(),
        "uninstall removes everything install put there"
    );
}

/// Without libpvm3.a (nothing built yet) install refuses, naming `make build`,
/// and installs nothing.
#[test]
fn install_without_a_build_names_make_build() {
    let sb = Sandbox::new("inst-nobuild");
    let build = sb.dir.join("empty-build");
    fs::create_dir_all(&build).unwrap();
    let root = sb.dir.join("pvm3");
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo_root())
        .args(["install", &arg("PVM_ROOT", &root), &arg("BUILDDIR", &build)])
        .env_remove("PVM_ROOT")
        .output()
        .expect("run make");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "install without a build must fail");
    assert!(
        err.contains("libpvm3.a is missing: run 'make build'"),
        "the refusal names the command to run: {err}"
    );
    assert!(!root.exists(), "nothing installed");
}
