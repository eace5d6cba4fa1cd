//! Debian's PVM 3.4.6 libraries and tools on pvm6's libpvm3.so.3 (a user
//! who replaces only libpvm3.so.3 keeps them):
//!
//! - a program built against Debian's pvm3.h and linked with Debian's
//!   libgpvm3.so.3 in front of ours: its group calls go to Debian's group
//!   server pvmgs (spawned from PVM_ROOT/bin/LINUX64, as PVM 3.4 finds it)
//!   over pvm6's daemons, with the right answers;
//! - Debian's console /usr/bin/pvm: conf, spawn -> with output, ps, halt;
//! - Debian's pvm_gstat and pvmgroups with pvm6's thin libgpvm3: the list
//!   of pvm6's (daemon-served) groups, and the dump in the daemon log;
//! - the distribution's ptest.c, unchanged (it writes `pvmdebmask`);
//! - across three namespace hosts: Debian's libgpvm3 and pvmgs with the
//!   group members spread over the hosts, and pvm_gstat on a slave host.
//!
//! Each test skips loudly when Debian's packages are missing, and fails
//! under CI=true.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use common::{include_dir, repo_root, run_build, Sandbox, RUN_TIMEOUT};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DEBIAN_GPVM: &str = "/usr/lib/x86_64-linux-gnu/libgpvm3.so.3";
const EXAMPLES: &str = "/usr/share/doc/pvm-examples/examples.tar.gz";

/// True when every path exists; otherwise a loud skip (a failure under CI).
fn installed(test: &str, paths: &[&str]) -> bool {
    let missing: Vec<&&str> = paths.iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{missing:?} absent (apt-get install pvm pvm-dev libpvm3 pvm-examples)");
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"));
    assert!(!ci, "{test}: {why}");
    common::loud_skip(test, &why);
    false
}

/// A directory with only our libpvm3 (as libpvm3.so and libpvm3.so.3), so
/// the loader takes Debian's libgpvm3.so.3 from the system.
fn ours_only(sb: &Sandbox) -> PathBuf {
    let d = sb.dir.join("lib-pvm3-only");
    fs::create_dir_all(&d).unwrap();
    for name in ["libpvm3.so", "libpvm3.so.3"] {
        symlink(sb.lib.join("libpvm3.so"), d.join(name)).unwrap();
    }
    d
}

fn c_source(name: &str) -> PathBuf {
    repo_root().join("c-tests/debian").join(name)
}

/// Waits (bounded) until `path` holds `text`.
fn wait_for_text(path: &Path, text: &str) -> bool {
    for _ in 0..200 {
        if fs::read_to_string(path).unwrap_or_default().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn debian_libgpvm3_and_pvmgs_serve_groups_on_pvm6() {
    if !installed(
        "debian_libgpvm3_and_pvmgs_serve_groups_on_pvm6",
        &[DEBIAN_GPVM, "/usr/bin/pvmgs", "/usr/include/pvm3.h"],
    ) {
        return;
    }
    let sb = Sandbox::new("deb-gpvm");
    let lib = ours_only(&sb);
    let prog = sb.bin.join("deb_groups");
    // Debian's header; -L finds our libpvm3.so first, Debian's libgpvm3.so
    // in the system directory.
    let mut gcc = Command::new("gcc");
    gcc.args(["-Wall", "-Wextra", "-Werror", "-I/usr/include", "-o"])
        .arg(&prog)
        .arg(c_source("deb_groups.c"))
        .arg("-L")
        .arg(&lib)
        .args(["-lgpvm3", "-lpvm3"]);
    run_build(gcc, "compile deb_groups.c against Debian's libgpvm3");
    // PVM 3.4 spawns its group server from the search path.
    symlink("/usr/bin/pvmgs", sb.bin.join("pvmgs")).unwrap();
    let mut cmd = sb.command(&prog);
    cmd.env("LD_LIBRARY_PATH", &lib);
    let out = sb.run_command(cmd, RUN_TIMEOUT);
    out.assert_success();
    out.assert_stdout_has("sum at instance 0: 10\n");
    for inst in 0..4 {
        out.assert_stdout_has(&format!(
            "member: inst {inst} size 4 bcast 4242 lookup ok\n"
        ));
    }
    out.assert_stdout_has("served by pvmgs: yes\n");
}

#[test]
fn debian_console_on_pvm6() {
    if !installed("debian_console_on_pvm6", &["/usr/bin/pvm"]) {
        return;
    }
    let sb = Sandbox::new("deb-console");
    let say = sb.dir.join("say.c");
    fs::write(
        &say,
        "#include <stdio.h>\n#include \"pvm3.h\"\nint main(void)\n{\n\tprintf(\"say from t%x\\n\", pvm_mytid());\n\tpvm_exit();\n\treturn 0;\n}\n",
    )
    .unwrap();
    sb.compile(&say, &sb.bin.join("say"), common::Link::Shared);
    // Commands paced as a person types them: the console reads ahead.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(
        "(echo conf; sleep 1; echo 'spawn -> say'; sleep 2; echo ps; sleep 1; echo halt; sleep 1) \
         | /usr/bin/pvm",
    );
    for (k, v) in sb.command(Path::new("true")).get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("LD_LIBRARY_PATH", &sb.lib).current_dir(&sb.dir);
    let out = sb.run_command(cmd, RUN_TIMEOUT);
    out.assert_success();
    // It starts the daemon itself (nothing ran before), as with PVM 3.4.6.
    assert!(
        !out.stdout.contains("pvmd already running"),
        "the console's option calls must not start the daemon\n{}",
        out.dump()
    );
    out.assert_stdout_has("1 host, 1 data format\n");
    out.assert_stdout_has("LINUX64");
    out.assert_stdout_has("1 successful\n");
    out.assert_stdout_has("] say from t4000");
    out.assert_stdout_has("] finished\n");
    assert!(
        !out.stderr.contains("Bad parameter"),
        "the console's pvm_setopt calls are accepted\n{}",
        out.dump()
    );
    // halt stopped the daemon
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sb.daemon_pid()
            .is_none_or(|p| !Path::new(&format!("/proc/{p}")).exists()),
        "halt left the daemon running\n{}",
        out.dump()
    );
}

#[test]
fn pvm_gstat_and_pvmgroups_report_pvm6_groups() {
    if !installed(
        "pvm_gstat_and_pvmgroups_report_pvm6_groups",
        &["/usr/bin/pvm_gstat", "/usr/bin/pvmgroups"],
    ) {
        return;
    }
    let sb = Sandbox::new("deb-gstat");
    let hold = sb.dir.join("hold");
    let mut gcc = Command::new("gcc");
    gcc.args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(include_dir())
        .arg("-o")
        .arg(&hold)
        .arg(c_source("hold.c"))
        .arg("-L")
        .arg(&sb.lib)
        .arg(format!("-Wl,-rpath,{}", sb.lib.display()))
        .args(["-lgpvm3", "-lpvm3"]);
    run_build(gcc, "compile hold.c");
    let start = |args: &[&str], log: &str| {
        let mut c = sb.command(&hold);
        c.args(args)
            .stdout(fs::File::create(sb.dir.join(log)).unwrap())
            .stderr(Stdio::null());
        c.spawn().expect("start hold")
    };
    let mut a = start(&["alpha", "beta", "-b", "beta", "3"], "a.out");
    assert!(
        wait_for_text(&sb.dir.join("a.out"), "joined"),
        "first holder"
    );
    let mut b = start(&["alpha"], "b.out");
    assert!(
        wait_for_text(&sb.dir.join("b.out"), "joined"),
        "second holder"
    );
    let mut gstat = sb.command(Path::new("/usr/bin/pvm_gstat"));
    gstat.env("LD_LIBRARY_PATH", &sb.lib);
    let out = sb.run_command(gstat, RUN_TIMEOUT);
    let mut groups = sb.command(Path::new("/usr/bin/pvmgroups"));
    groups.env("LD_LIBRARY_PATH", &sb.lib);
    let dumped = sb.run_command(groups, RUN_TIMEOUT);
    let logged = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        sb.daemon_log().contains("group: beta  size: 1")
    });
    let log = sb.daemon_log();
    for p in [&mut a, &mut b] {
        let _ = p.kill();
        let _ = p.wait();
    }
    out.assert_success();
    // The first holder is t40001 (instance 0 of both), the second t40002.
    out.assert_stdout_has("group: alpha, size: 2,  barrier_count 0, barrier_reached 0\n");
    out.assert_stdout_has("0 0x40001\t1 0x40002\t\n");
    out.assert_stdout_has("group: beta, size: 1,  barrier_count 3, barrier_reached 1\n");
    out.assert_stdout_has("tids waiting on barrier:\n0x40001\t\n");
    dumped.assert_success();
    assert!(logged, "no DUMP in the daemon log:\n{log}");
    assert!(log.contains("group: alpha  size: 2"), "{log}");
}

/// The distribution's ptest.c, unchanged, against pvm6's header and
/// libraries: four copies started by hand form a group, node 0 checks the
/// data of every iteration; with a debug mask node 0 sets `pvmdebmask`
/// and the library prints its message lines.
#[test]
fn ptest_builds_unchanged_and_runs() {
    if !installed("ptest_builds_unchanged_and_runs", &[EXAMPLES]) {
        return;
    }
    let sb = Sandbox::new("deb-ptest");
    let mut tar = Command::new("tar");
    tar.arg("xzf")
        .arg(EXAMPLES)
        .arg("-C")
        .arg(&sb.dir)
        .arg("examples/ptest.c");
    run_build(tar, "extract ptest.c");
    let ptest = sb.dir.join("ptest");
    // 1990s C: gcc only warns (implicit int and declarations).
    let mut gcc = Command::new("gcc");
    gcc.arg("-I")
        .arg(include_dir())
        .arg("-o")
        .arg(&ptest)
        .arg(sb.dir.join("examples/ptest.c"))
        .arg("-L")
        .arg(&sb.lib)
        .arg(format!("-Wl,-rpath,{}", sb.lib.display()))
        .args(["-lgpvm3", "-lpvm3"]);
    run_build(gcc, "compile the distribution's ptest.c");
    for (args, debug) in [(["4", "0", "4", "1"], false), (["4", "2", "4", "1"], true)] {
        let kids: Vec<_> = (0..4)
            .map(|k| {
                let mut c = sb.command(&ptest);
                c.args(args)
                    .stdout(fs::File::create(sb.dir.join(format!("p{k}.out"))).unwrap())
                    .stderr(fs::File::create(sb.dir.join(format!("p{k}.err"))).unwrap());
                c.spawn().expect("start ptest")
            })
            .collect();
        for mut k in kids {
            let mut done = false;
            for _ in 0..600 {
                if k.try_wait().ok().flatten().is_some() {
                    done = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !done {
                let _ = k.kill();
            }
            let _ = k.wait();
            assert!(done, "a ptest did not finish");
        }
        let read = |ext: &str| -> String {
            (0..4)
                .map(|k| fs::read_to_string(sb.dir.join(format!("p{k}.{ext}"))).unwrap_or_default())
                .collect()
        };
        let (out, err) = (read("out"), read("err"));
        let iters: usize = args[2].parse().unwrap();
        assert_eq!(
            out.matches("understands 4 processes").count(),
            4,
            "{out}\n{err}"
        );
        assert_eq!(
            out.matches("Data validated from all tasks!").count(),
            iters,
            "{out}\n{err}"
        );
        assert!(
            !out.contains("failed") && !out.contains("instead of"),
            "{out}"
        );
        let sends = err.matches("pvm_send() dst t4000").count();
        let receives = err.matches("pvm_recv() got message src t4000").count();
        if debug {
            // node 0 sends the iteration count to 3 nodes each iteration and
            // receives with pvm_recv in the iterations after niter/2.
            assert_eq!(sends, 3 * iters, "pvmdebmask 2 prints message lines\n{err}");
            assert!(receives >= 3, "pvm_recv lines\n{err}");
        } else {
            assert_eq!(sends + receives, 0, "no debug lines without a mask\n{err}");
        }
    }
}

/// Debian's libgpvm3 and pvmgs on a three-host pvm6 machine: deb_groups
/// spawns its members by default placement (over the hosts), pvmgs starts
/// wherever the spawn puts it (through a wrapper in the spawn path that
/// gives it pvm6's libpvm3, as a system with only libpvm3.so.3 replaced
/// would); then pvm_gstat on a slave host lists a group of pvm6's.
#[test]
fn debian_group_programs_across_hosts() {
    if !installed(
        "debian_group_programs_across_hosts",
        &[
            DEBIAN_GPVM,
            "/usr/bin/pvmgs",
            "/usr/bin/pvm_gstat",
            "/usr/include/pvm3.h",
        ],
    ) {
        return;
    }
    let specs = [
        netns::HostSpec::v6("node1"),
        netns::HostSpec::v6("node2"),
        netns::HostSpec::v6("node3"),
    ];
    let halt = repo_root().join("c-tests/multihost/mh_halt.c");
    let Some(m) = machine::Machine::new("deb-gs", &specs, &[halt]) else {
        return;
    };
    let lib = m.work.join("lib"); // ours only (Machine::new)
    let mut gcc = Command::new("gcc");
    gcc.args(["-Wall", "-Wextra", "-Werror", "-I/usr/include", "-o"])
        .arg(m.bin.join("deb_groups"))
        .arg(c_source("deb_groups.c"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lgpvm3", "-lpvm3"]);
    run_build(gcc, "compile deb_groups.c against Debian's libgpvm3");
    let wrapper = m.bin.join("pvmgs");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nLD_LIBRARY_PATH={} exec /usr/bin/pvmgs \"$@\"\n",
            lib.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    // pvm6's thin libgpvm3 beside ours, for hold and pvm_gstat
    let lib2 = m.work.join("lib2");
    fs::create_dir_all(&lib2).unwrap();
    symlink(
        common::lib_dir().join("libpvm3.so"),
        lib2.join("libpvm3.so.3"),
    )
    .unwrap();
    symlink(
        common::gpvm3_dir().join("libgpvm3.so.3"),
        lib2.join("libgpvm3.so.3"),
    )
    .unwrap();
    symlink(lib2.join("libpvm3.so.3"), lib2.join("libpvm3.so")).unwrap();
    symlink(lib2.join("libgpvm3.so.3"), lib2.join("libgpvm3.so")).unwrap();
    let mut gcc = Command::new("gcc");
    gcc.args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(include_dir())
        .arg("-o")
        .arg(m.bin.join("hold"))
        .arg(c_source("hold.c"))
        .arg("-L")
        .arg(&lib2)
        .arg(format!("-Wl,-rpath,{}", lib2.display()))
        .args(["-lgpvm3", "-lpvm3"]);
    run_build(gcc, "compile hold.c");

    let hf = m.hostfile(&["node1", "node2", "node3"]);
    // The daemon (whose environment spawned tasks get) and deb_groups
    // without cargo's LD_LIBRARY_PATH: target/release has pvm6's thin
    // libgpvm3.so.3, which would take the place of Debian's.
    let started = m.c.exec_timeout(
        "node1",
        &format!(
            "env -u LD_LIBRARY_PATH {} -d1 {} </dev/null >/dev/null 2>&1",
            machine::PVMD3,
            hf.display()
        ),
        Duration::from_secs(30),
    );
    assert!(started.status.success(), "pvmd3 on node1: {started:?}");
    let out = m.c.exec_timeout(
        "node1",
        &format!("env -u LD_LIBRARY_PATH {}/deb_groups 2>&1", m.bin.display()),
        Duration::from_secs(90),
    );
    let t = machine::text(&out);
    let log = format!(
        "{}\n--- node2 ---\n{}\n--- node3 ---\n{}",
        m.log("node1"),
        m.log("node2"),
        m.log("node3")
    );
    assert!(
        out.status.success(),
        "deb_groups failed ({}):\n{t}\n{log}",
        out.status
    );
    assert!(t.contains("sum at instance 0: 10\n"), "{t}\n{log}");
    for inst in 0..4 {
        let want = format!("member: inst {inst} size 4 bcast 4242 lookup ok\n");
        assert!(t.contains(&want), "lacks {want:?}\n{t}\n{log}");
    }
    assert!(t.contains("served by pvmgs: yes\n"), "{t}\n{log}");

    let gstat = m.c.exec_timeout(
        "node2",
        &format!(
            "{bin}/hold gstat-group > /tmp/hold.out 2>&1 & \
             for i in 1 2 3 4 5 6 7 8 9 10; do grep -q joined /tmp/hold.out && break; sleep 0.5; done; \
             LD_LIBRARY_PATH={lib2} /usr/bin/pvm_gstat; rc=$?; kill $!; exit $rc",
            bin = m.bin.display(),
            lib2 = lib2.display()
        ),
        Duration::from_secs(60),
    );
    let g = machine::text(&gstat);
    assert!(gstat.status.success(), "pvm_gstat on node2:\n{g}\n{log}");
    assert!(
        g.contains("group: gstat-group, size: 1,  barrier_count 0, barrier_reached 0\n"),
        "{g}"
    );
    // its one member is a task of node2 (host part 0x80000)
    assert!(g.contains("0 0x8000"), "{g}");

    let out = m.run("node1", "mh_halt", "", Duration::from_secs(30));
    assert!(out.status.success(), "halt: {}", machine::text(&out));
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}
